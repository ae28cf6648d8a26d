#!/usr/bin/env bats
# oys-fetch: code by id from a store directory, a storage server that wants an attestation
# document, or a transaction on a real local chain (anvil); always verified, never partial.

load test_helper/common-setup
load test_helper/chain
setup() { common_setup; }
teardown() { common_teardown; }

sha() { sha256sum "$1" | cut -d' ' -f1; }
ZERO_ID=$(printf '0%.0s' {1..64})

# ---- a store directory ----

@test "from a store directory: byte-exact to stdout, and to -o atomically with mode 0600" {
	head -c 30000 /dev/urandom >blob
	printf '\0\0\0\0' >>blob
	id=$(oys-store put blob)
	oys-fetch "$id" >out
	cmp blob out
	mkdir -p d
	oys-fetch "$id" --store "$OYS_STORE" -o d/code.wasm
	cmp blob d/code.wasm
	[ "$(stat -c %a d/code.wasm)" = 600 ]
	[ "$(ls -A d)" = code.wasm ]
}

@test "an unknown id is 66, a missing store too; nothing is written" {
	mkdir -p "$OYS_STORE"
	run -66 --separate-stderr oys-fetch "$ZERO_ID" -o out
	[ "$stderr" = "oys-fetch: code $ZERO_ID not found in $OYS_STORE" ]
	[ -z "$output" ]
	[ ! -e out ]
	run -66 --separate-stderr oys-fetch "$ZERO_ID" --store "$T/nowhere"
	[ "$stderr" = "oys-fetch: code $ZERO_ID not found: store $T/nowhere does not exist" ]
}

@test "code damaged in the store is refused (65) and nothing is written" {
	id=$(oys-store put "$EXAMPLES/factors.js")
	chmod u+w "$OYS_STORE/$id"
	echo 'steal();' >>"$OYS_STORE/$id"
	run -65 --separate-stderr oys-fetch "$id" -o out.js
	[ "$stderr" = "oys-fetch: code $id in $OYS_STORE is damaged: its SHA-256 is $(sha "$OYS_STORE/$id")" ]
	[ -z "$output" ]
	[ ! -e out.js ]
}

@test "hostile ids are refused (64) before any path or URL is built" {
	start_sink
	mkdir -p "$OYS_STORE"
	echo precious >victim
	for bad in ../victim ../../etc/passwd "$(printf 'a%.0s' {1..65})" "$(printf 'g%.0s' {1..64})" \
		"$(printf 'A%.0s' {1..64})" "0x$(printf 'a%.0s' {1..63})" "0x$(printf 'z%.0s' {1..64})" \
		"$ZERO_ID/../x" "$ZERO_ID?x=1" '' $'0\n1'; do
		for store in "$OYS_STORE" "http://127.0.0.1:$SINK_PORT"; do
			run -64 --separate-stderr oys-fetch --store "$store" --rpc "http://127.0.0.1:$SINK_PORT" \
				--contract 0x0000000000000000000000000000000000000001 -- "$bad"
			[ -z "$output" ]
			[[ $stderr == "oys-fetch: '"*"' is not a code id (64 lowercase hex digits, or 0x and 64 hex digits)" ]] ||
				{ echo "'$bad': $stderr"; return 1; }
		done
	done
	run -64 --separate-stderr oys-fetch ../victim
	[ "$stderr" = "oys-fetch: '../victim' is not a code id (64 lowercase hex digits, or 0x and 64 hex digits)" ]
	sink_untouched
	[ "$(cat victim)" = precious ]
}

# ---- a storage server (oys-store serve behind socat) and attestation ----

# start_store ARGS...: oys-store serve ARGS behind socat; URL is its address.
start_store() {
	local port
	port=$(oys-port)
	{
		echo '#!/bin/sh'
		printf 'exec oys-store serve'
		for a in "$@"; do printf ' %q' "$a"; done
		echo
	} >"$T/serve.$port.sh"
	chmod +x "$T/serve.$port.sh"
	start_bg "$T/store.log" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/serve.$port.sh"
	STORE_PID=$BG_PID
	wait_port "$port"
	URL=http://127.0.0.1:$port
}

# A development attestation server on $ATT_URL, its root certificate, the PCR0 of its
# documents, and one document in $T/doc; the storage server trusts exactly those.
start_attested_store() {
	local aport
	aport=$(oys-port)
	start_bg "$T/attest.log" oys-attest serve --dev --listen "127.0.0.1:$aport"
	wait_port "$aport"
	ATT_URL=http://127.0.0.1:$aport
	curl -sS --max-time 10 -o "$T/doc" "$ATT_URL/attestation/raw"
	ROOT_PEM=$OYS_RUNTIME_DIR/attest-dev/root.pem
	PCR0=$(oys-attest verify --root "$ROOT_PEM" <"$T/doc" | jq -r '.pcrs["0"]')
	start_store --open-uploads --root "$ROOT_PEM" --pcr "0=$PCR0"
}

@test "from a storage server: a challenge, a document with its nonce and our key, the code sealed to it" {
	start_attested_store
	head -c 20000 /dev/urandom >blob
	printf '\0\0' >>blob
	id=$(oys-store put blob)
	oys-fetch "$id" --store "$URL" --attestation-url "$ATT_URL" --no-cache -o out1
	cmp blob out1
	OYS_STORE=$URL OYS_ATTESTATION_URL=$ATT_URL oys-fetch "$id" --no-cache >out2
	cmp blob out2
	# each fetch: one challenge, one document asked for with its nonce and a fresh 32-byte key,
	# one load answered 200
	# (each server logs a request after its answer)
	wait_for 10 count_is 2 '"path":"/challenge","status":201' "$T/store.log"
	wait_for 10 count_is 2 '"path":"/load","status":200' "$T/store.log"
	wait_for 10 grep -q '"event":"attestation"' "$T/attest.log"
	[ -z "$(ls "$OYS_STORE/.nonces" | grep -v '\.used$')" ] # both nonces used up
	[ "$(ls "$OYS_STORE/.nonces" | grep -c '\.used$')" = 2 ]
}

@test "a storage server refusing the document is 77, an unknown id 66, a server down 69" {
	start_attested_store
	id=$(oys-store put "$EXAMPLES/factors.js")
	# an attestation server of another enclave image (same CA): PCR0 differs
	echo other image >image
	aport=$(oys-port)
	start_bg "$T/attest-other.log" oys-attest serve --dev --image image --listen "127.0.0.1:$aport"
	wait_port "$aport"
	run -77 --separate-stderr oys-fetch "$id" --store "$URL" --attestation-url "http://127.0.0.1:$aport" -o out
	[ "$stderr" = "oys-fetch: storage server $URL refused the attestation: attestation refused: pcr 0 mismatch" ]
	[ ! -e out ]
	run -66 --separate-stderr oys-fetch "$ZERO_ID" --store "$URL" --attestation-url "$ATT_URL"
	[ "$stderr" = "oys-fetch: code $ZERO_ID not found on $URL" ]
	port=$(oys-port)
	run -69 --separate-stderr oys-fetch "$id" --store "http://127.0.0.1:$port" --attestation-url "$ATT_URL"
	[[ $stderr == "oys-fetch: storage server: http://127.0.0.1:$port/challenge: "* ]]
	# no attestation server to get a document from
	run -69 --separate-stderr oys-fetch "$id" --store "$URL" --attestation-url "http://127.0.0.1:$port"
	[[ $stderr == "oys-fetch: attestation: "* ]]
	[ -z "$output" ]
}

@test "a document carrying another key than the fetcher's: the answer does not open (65)" {
	start_attested_store
	id=$(oys-store put "$EXAMPLES/factors.js")
	# an attestation server in the middle that swaps the public_key asked for for another
	other=$(node "$ROOT/tests/sealed-code.mjs" keygen "$T/other.key")
	port=$(oys-port)
	cat >"$T/swap.sh" <<-'EOF'
		#!/bin/bash
		read -r method target version
		target=$(sed -E "s/public_key=[0-9a-f]+/public_key=$OTHER/" <<<"$target")
		curl -sS --max-time 10 -o "$TMPDOC.$$" "$UPSTREAM$target"
		printf 'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' \
			"$(stat -c %s "$TMPDOC.$$")"
		cat "$TMPDOC.$$"
		rm -f "$TMPDOC.$$"
		sleep 0.2
	EOF
	chmod +x "$T/swap.sh"
	start_bg "$T/swap.log" env OTHER="$other" UPSTREAM="$ATT_URL" TMPDOC="$T/swapped" \
		socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/swap.sh"
	wait_port "$port"
	run -65 --separate-stderr oys-fetch "$id" --store "$URL" --attestation-url "http://127.0.0.1:$port" -o out.js
	[ "$stderr" = "oys-fetch: storage server $URL: the sealed code does not open with this fetcher's key (sealed to another key, for another code id or challenge, or altered)" ]
	[ -z "$output" ]
	[ ! -e out.js ]
	[ -z "$(find "$OYS_RUNTIME_DIR" -type f -path '*cache*' ! -path '*attest-dev*')" ]
	wait_for 10 grep -q '"path":"/load","status":200' "$T/store.log" # the server did seal it: to the other key
}

@test "a second fetch is served from the cache: the storage server may be gone" {
	start_attested_store
	id=$(oys-store put "$EXAMPLES/factors.js")
	oys-fetch "$id" --store "$URL" --attestation-url "$ATT_URL" >first
	cmp "$EXAMPLES/factors.js" first
	kill -TERM -- "-$STORE_PID"
	run -0 oys-fetch "$id" --store "$URL" --attestation-url "$ATT_URL"
	[ "$output" = "$(cat "$EXAMPLES/factors.js")" ]
	[ -f "$OYS_RUNTIME_DIR/cache/code/$id" ]
	run -69 oys-fetch "$id" --store "$URL" --attestation-url "$ATT_URL" --no-cache
	# a damaged cache entry is dropped, not served
	chmod u+w "$OYS_RUNTIME_DIR/cache/code/$id"
	echo 'evil();' >>"$OYS_RUNTIME_DIR/cache/code/$id"
	run -69 oys-fetch "$id" --store "$URL" --attestation-url "$ATT_URL"
	[ ! -e "$OYS_RUNTIME_DIR/cache/code/$id" ]
	# --cache DIR puts it elsewhere
	start_store --open-uploads --root "$ROOT_PEM" --pcr "0=$PCR0"
	oys-fetch "$id" --store "$URL" --attestation-url "$ATT_URL" --cache "$T/mycache" >/dev/null
	[ -f "$T/mycache/$id" ]
}

@test "a storage server that seals other code than the id names: refused (65), nothing written or cached" {
	start_attested_store
	id=$(sha "$EXAMPLES/factors.js")
	port=$(oys-port)
	# A lying server that speaks the protocol: a challenge, then other code, properly sealed to
	# the fetcher's key (by tests/sealed-code.mjs, not by lib/) for the id asked for.
	printf 'steal(process.env); //' >evil.js
	cat >"$T/liar.sh" <<-'EOF'
		#!/bin/bash
		read -r method target version
		att=
		while IFS= read -r line; do
			line=${line%$'\r'}
			[ -z "$line" ] && break
			case ${line,,} in attestation:*) att=${line#*: } ;; esac
		done
		if [ "$target" = /challenge ]; then
			body='{"nonce":"'$NONCE'","expires_in":60}'
			printf 'HTTP/1.1 201 Created\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "${#body}" "$body"
		else
			p=$(base64 -d <<<"$att" | oys-attest verify --root "$ROOT_PEM")
			node "$SEALER" seal "$(jq -r .public_key <<<"$p")" "$(jq -r .nonce <<<"$p")" "$ID" <"$EVIL" >"$EVIL.sealed.$$"
			printf 'HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' "$(stat -c %s "$EVIL.sealed.$$")"
			cat "$EVIL.sealed.$$"
			rm -f "$EVIL.sealed.$$"
		fi
		sleep 0.2
	EOF
	chmod +x "$T/liar.sh"
	start_bg "$T/liar.log" env NONCE="$(printf 'ab%.0s' {1..32})" ROOT_PEM="$ROOT_PEM" SEALER="$ROOT/tests/sealed-code.mjs" \
		ID="$id" EVIL="$T/evil.js" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/liar.sh"
	wait_port "$port"
	bad=$(sha evil.js)
	run -65 --separate-stderr oys-fetch "$id" --store "http://127.0.0.1:$port" --attestation-url "$ATT_URL" -o out.js
	[ "$stderr" = "oys-fetch: storage server http://127.0.0.1:$port sent code whose SHA-256 is $bad, not $id: refused" ]
	[ -z "$output" ]
	[ ! -e out.js ]
	run -65 --separate-stderr oys-fetch "$id" --store "http://127.0.0.1:$port" --attestation-url "$ATT_URL"
	[ -z "$output" ]
	[ -z "$(find "$OYS_RUNTIME_DIR" -type f -path '*cache*' ! -path '*attest-dev*')" ]
	# the same liar sealing the real code: opened (so the refusal above is the hash, not the seal)
	cp "$EXAMPLES/factors.js" evil.js
	oys-fetch "$id" --store "http://127.0.0.1:$port" --attestation-url "$ATT_URL" --no-cache | cmp - "$EXAMPLES/factors.js"
}

# serve_raw RESPONSE: a server on $RAW_URL that answers every request with RESPONSE (printf format).
serve_raw() {
	local port
	port=$(oys-port)
	reply_script "$T/raw.$port.sh" "$1"
	start_bg "$T/raw.log" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/raw.$port.sh"
	wait_port "$port"
	RAW_URL=http://127.0.0.1:$port
}

@test "odd answers from a storage server or an RPC are clean errors, never a crash" {
	serve_raw 'HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\n[1]'
	run -77 --separate-stderr oys-fetch "$ZERO_ID" --store "$RAW_URL"
	[ "$stderr" = "oys-fetch: storage server $RAW_URL refused a challenge: HTTP 403" ]
	serve_raw 'HTTP/1.1 503 Unavailable\r\nContent-Length: 8\r\n\r\nnot json'
	run -69 --separate-stderr oys-fetch "$ZERO_ID" --store "$RAW_URL"
	[ "$stderr" = "oys-fetch: storage server $RAW_URL: HTTP 503" ]
	for body in '[1]' '{"nonce": 7}' '{"nonce": "abcd"}'; do
		serve_raw "HTTP/1.1 201 Created\r\nContent-Length: ${#body}\r\n\r\n$body"
		run -65 --separate-stderr oys-fetch "$ZERO_ID" --store "$RAW_URL"
		[ "$stderr" = "oys-fetch: storage server $RAW_URL answered a challenge without a 32-byte nonce" ]
	done
	serve_raw 'HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}'
	run -69 --separate-stderr oys-fetch "$ZERO_ID" --store "$RAW_URL"
	[ "$stderr" = "oys-fetch: storage server $RAW_URL has no POST /challenge (HTTP 404): it cannot release code to this fetcher" ]
	for body in '[1]' '{"result": 7}' '{"result": {"hash": 1}}' 'null' '{"jsonrpc":"2.0"'; do
		serve_raw "HTTP/1.1 200 OK\r\nContent-Length: ${#body}\r\n\r\n$body"
		run -69 --separate-stderr oys-fetch "0x$ZERO_ID" --rpc "$RAW_URL" --contract "$CONTRACT"
		[ -z "$output" ]
		[[ $stderr == "oys-fetch: RPC $RAW_URL answered "* ]] || { echo "$body: $stderr"; return 1; }
	done
	body='{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"boom"}}'
	serve_raw "HTTP/1.1 200 OK\r\nContent-Length: ${#body}\r\n\r\n$body"
	run -69 --separate-stderr oys-fetch "0x$ZERO_ID" --rpc "$RAW_URL" --contract "$CONTRACT"
	[ "$stderr" = "oys-fetch: RPC $RAW_URL: error -32000: boom" ]
}

# ---- a chain: real anvil, code sent with cast (test_helper/chain.bash) ----

@test "chain: JS code and a binary with trailing zeros come back byte-exact from calldata" {
	start_anvil
	tx=$(send_code "$EXAMPLES/factors.js")
	[[ $tx == 0x* ]]
	oys-fetch "$tx" >got.js
	cmp "$EXAMPLES/factors.js" got.js
	{ printf '\0asm\1\0\0\0'; head -c 3000 /dev/urandom; printf '\0%.0s' {1..37}; } >blob.wasm
	tx2=$(send_code blob.wasm)
	oys-fetch "$tx2" --rpc "$RPC" --contract "$CONTRACT" -o got.wasm
	cmp blob.wasm got.wasm
	# the contract is compared case-insensitively, the hash is accepted in either case
	oys-fetch "$(tr a-f A-F <<<"${tx2#0x}" | sed 's/^/0x/')" --contract "${CONTRACT,,}" | cmp - blob.wasm
}

@test "chain: wrong contract 77, unknown hash 66, contract creation 77, chain off 78" {
	start_anvil
	tx=$(send_code "$EXAMPLES/factors.js" 0x0000000000000000000000000000000000000bad)
	run -77 --separate-stderr oys-fetch "$tx" -o out
	[ "$stderr" = "oys-fetch: transaction $tx is sent to 0x0000000000000000000000000000000000000bad, not to the code contract $CONTRACT" ]
	[ -z "$output" ]
	[ ! -e out ]
	unknown=0x$(printf 'ab%.0s' {1..32})
	run -66 --separate-stderr oys-fetch "$unknown"
	[ "$stderr" = "oys-fetch: transaction $unknown not found on $RPC" ]
	created=$("$CAST" send --rpc-url "$RPC" --private-key "$KEY" --json --create 0x00 | jq -r .transactionHash)
	run -77 --separate-stderr oys-fetch "$created"
	[ "$stderr" = "oys-fetch: transaction $created creates a contract, it is not sent to the code contract $CONTRACT" ]
	unset OYS_RPC_URL
	run -78 --separate-stderr oys-fetch "$tx"
	[ "$stderr" = "oys-fetch: transaction $tx: the chain source is off (set --rpc or OYS_RPC_URL)" ]
	run -64 --separate-stderr oys-fetch "$tx" --rpc "$RPC" --contract 0xnot-an-address
	[ "$stderr" = "oys-fetch: --contract: '0xnot-an-address' is not an address (0x and 40 hex digits) (see oys-fetch --help)" ]
}

@test "chain: calldata that is not ABI-encoded bytes is refused (65)" {
	start_anvil
	short=$("$CAST" send --rpc-url "$RPC" --private-key "$KEY" --json "$CONTRACT" --data 0xdeadbeef | jq -r .transactionHash)
	run -65 --separate-stderr oys-fetch "$short"
	[ "$stderr" = "oys-fetch: transaction $short: calldata of 4 bytes is too short for a selector and ABI-encoded bytes" ]
	# a length word claiming more bytes than there are
	lie=0xb374012b$(printf '%064x' 32)$(printf '%064x' 1000)$(printf 'aa%.0s' {1..32})
	tx=$("$CAST" send --rpc-url "$RPC" --private-key "$KEY" --json "$CONTRACT" --data "$lie" | jq -r .transactionHash)
	run -65 --separate-stderr oys-fetch "$tx"
	[ "$stderr" = "oys-fetch: transaction $tx: calldata: length of the bytes argument is larger than the calldata (100 bytes)" ]
	# an offset pointing outside
	off=0xb374012b$(printf '%064x' 4096)$(printf '%064x' 1)
	tx=$("$CAST" send --rpc-url "$RPC" --private-key "$KEY" --json "$CONTRACT" --data "$off" | jq -r .transactionHash)
	run -65 --separate-stderr oys-fetch "$tx"
	[ "$stderr" = "oys-fetch: transaction $tx: calldata: offset of the bytes argument is out of range" ]
	[ -z "$output" ]
}

@test "chain: a pending transaction is a temporary failure (75) until it is mined" {
	start_anvil
	"$CAST" rpc --rpc-url "$RPC" evm_setAutomine false >/dev/null
	tx=$("$CAST" send --rpc-url "$RPC" --private-key "$KEY" --async "$CONTRACT" \
		--data "$("$CAST" calldata 'store(bytes)' "0x$(hex "$EXAMPLES/factors.js")")")
	run -75 --separate-stderr oys-fetch "$tx"
	[ "$stderr" = "oys-fetch: transaction $tx is still pending (not in a block yet)" ]
	"$CAST" rpc --rpc-url "$RPC" evm_mine >/dev/null
	oys-fetch "$tx" | cmp - "$EXAMPLES/factors.js"
}

@test "chain: a second fetch comes from the cache, verified, and only for the same contract" {
	start_anvil
	tx=$(send_code "$EXAMPLES/factors.js")
	oys-fetch "$tx" >/dev/null
	kill -TERM -- "-$ANVIL_PID"
	oys-fetch "$tx" | cmp - "$EXAMPLES/factors.js"
	# checked against another contract, the cached answer does not count
	run -69 oys-fetch "$tx" --contract 0x0000000000000000000000000000000000000bad
	# a damaged cache entry is not served
	id=$(sha "$EXAMPLES/factors.js")
	chmod u+w "$OYS_RUNTIME_DIR/cache/code/$id"
	echo 'x' >>"$OYS_RUNTIME_DIR/cache/code/$id"
	run -69 --separate-stderr oys-fetch "$tx"
	[ -z "$output" ]
}

@test "chain: legacy (EIP-155), EIP-2930 and EIP-1559 transactions all verify by their recomputed hash" {
	start_anvil
	al='[{"address":"'$CONTRACT'","storageKeys":["0x'$(printf '0%.0s' {1..63})'1"]},{"address":"0x0000000000000000000000000000000000000001","storageKeys":[]}]'
	tx0=$(send_code "$EXAMPLES/factors.js" "$CONTRACT" --legacy)
	tx1=$(send_code "$EXAMPLES/factors.js" "$CONTRACT" --legacy --access-list "$al")
	tx2=$(send_code "$EXAMPLES/factors.js" "$CONTRACT")
	tx3=$(send_code "$EXAMPLES/factors-sw.js" "$CONTRACT" --access-list "$al" --value 12345)
	for t in "$tx0:0x0" "$tx1:0x1" "$tx2:0x2" "$tx3:0x2"; do
		[ "$("$CAST" tx --rpc-url "$RPC" "${t%:*}" --json | jq -r .type)" = "${t#*:}" ]
	done
	for t in "$tx0" "$tx1" "$tx2"; do
		oys-fetch "$t" --no-cache | cmp - "$EXAMPLES/factors.js"
	done
	oys-fetch "$tx3" --no-cache | cmp - "$EXAMPLES/factors-sw.js"
}

@test "chain: a reverted transaction's calldata is refused (77), and nothing is cached" {
	start_anvil
	reverter=0x000000000000000000000000000000000000dEaD # code: PUSH1 0 PUSH1 0 REVERT
	"$CAST" rpc --rpc-url "$RPC" anvil_setCode "$reverter" 0x60006000fd >/dev/null
	tx=$(send_code "$EXAMPLES/factors.js" "$reverter" --gas-limit 1000000 || true)
	[ "$("$CAST" receipt --rpc-url "$RPC" "$tx" --json | jq -r .status)" = 0x0 ]
	run -77 --separate-stderr oys-fetch "$tx" --contract "$reverter" -o out.js
	[ "$stderr" = "oys-fetch: transaction $tx reverted (receipt status 0x0): its calldata is not stored code" ]
	[ -z "$output" ]
	[ ! -e out.js ]
	[ -z "$(find "$OYS_RUNTIME_DIR" -path '*cache*' -type f)" ]
}

@test "chain: the confirmations are honoured (75 until enough blocks are on top), 12 by default" {
	start_anvil
	tx=$(send_code "$EXAMPLES/factors.js")
	run -75 --separate-stderr env OYS_CHAIN_CONFIRMATIONS=3 oys-fetch "$tx"
	[ "$stderr" = "oys-fetch: transaction $tx has 1 confirmation of the 3 required: try again later" ]
	[ -z "$output" ]
	"$CAST" rpc --rpc-url "$RPC" anvil_mine 1 >/dev/null
	run -75 --separate-stderr env OYS_CHAIN_CONFIRMATIONS=3 oys-fetch "$tx"
	[ "$stderr" = "oys-fetch: transaction $tx has 2 confirmations of the 3 required: try again later" ]
	[ -z "$(find "$OYS_RUNTIME_DIR" -path '*cache*' -type f)" ] # not cached while refused
	# the flag beats the variable
	run -0 --separate-stderr env OYS_CHAIN_CONFIRMATIONS=3 oys-fetch "$tx" --confirmations 2 --no-cache
	"$CAST" rpc --rpc-url "$RPC" anvil_mine 1 >/dev/null
	OYS_CHAIN_CONFIRMATIONS=3 oys-fetch "$tx" --no-cache | cmp - "$EXAMPLES/factors.js"
	# the default is 12
	unset OYS_CHAIN_CONFIRMATIONS
	run -75 --separate-stderr oys-fetch "$tx" --no-cache
	[ "$stderr" = "oys-fetch: transaction $tx has 3 confirmations of the 12 required: try again later" ]
	"$CAST" rpc --rpc-url "$RPC" anvil_mine 9 >/dev/null
	oys-fetch "$tx" | cmp - "$EXAMPLES/factors.js"
	run -64 --separate-stderr oys-fetch "$tx" --confirmations 0
	[ "$stderr" = "oys-fetch: --confirmations: '0' is not a whole number from 1 to 1000000 (see oys-fetch --help)" ]
}

# start_liar [VAR=VALUE...]: a JSON-RPC proxy in front of anvil (socat + a script) on LIAR that
# lies in eth_getTransactionByHash: LIE_INPUT replaces the calldata, LIE_TO the recipient;
# SWAP_FROM/SWAP_TO asks anvil for another transaction than the one asked for and answers it
# (and its receipt) under the asked-for hash.
start_liar() {
	local port
	port=$(oys-port)
	cat >"$T/liar.sh" <<-'EOF'
		#!/bin/bash
		len=0
		while IFS= read -r line; do
			line=${line%$'\r'}
			[ -z "$line" ] && break
			case ${line,,} in content-length:*) len=${line#*:}; len=${len// /} ;; esac
		done
		body=$(head -c "$len")
		method=$(jq -r .method <<<"$body")
		[ -n "${SWAP_FROM:-}" ] && body=${body//$SWAP_FROM/$SWAP_TO}
		answer=$(curl -sS --max-time 10 -H 'Content-Type: application/json' --data-binary "$body" "$UPSTREAM")
		answer=$(jq -c --arg m "$method" --arg input "${LIE_INPUT:-}" --arg to "${LIE_TO:-}" --arg from "${SWAP_FROM:-}" '
			if $m == "eth_getTransactionByHash" and (.result | type) == "object" then
				(if $input != "" then .result.input = $input else . end)
				| (if $to != "" then .result.to = $to else . end)
				| (if $from != "" then .result.hash = $from else . end)
			elif $m == "eth_getTransactionReceipt" and (.result | type) == "object" and $from != "" then
				.result.transactionHash = $from
			else . end' <<<"$answer")
		printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "${#answer}" "$answer"
		sleep 0.2
	EOF
	chmod +x "$T/liar.sh"
	start_bg "$T/liar.log" env UPSTREAM="$RPC" "$@" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/liar.sh"
	wait_port "$port"
	LIAR=http://127.0.0.1:$port
}

no_cache_entry() { [ -z "$(find "$OYS_RUNTIME_DIR" -path '*cache*' -type f)" ]; }

@test "chain: an RPC that lies (calldata, recipient, another transaction) is refused (65), nothing cached" {
	start_anvil
	honest=$(send_code "$EXAMPLES/factors.js")
	elsewhere=$(send_code "$EXAMPLES/factors-sw.js" 0x0000000000000000000000000000000000000bad)
	evil=$("$CAST" calldata 'store(bytes)' "0x$(printf 'steal(process.env)' | od -An -v -tx1 | tr -d ' \n')")
	# the calldata swapped for other code
	start_liar LIE_INPUT="$evil"
	run -65 --separate-stderr oys-fetch "$honest" --rpc "$LIAR" -o out.js
	[[ $stderr == "oys-fetch: RPC $LIAR answered a transaction whose fields hash to 0x"*", not $honest: refused" ]]
	[ -z "$output" ]
	[ ! -e out.js ]
	no_cache_entry
	# code sent to another contract passed off as sent to the code contract
	start_liar LIE_TO="${CONTRACT,,}"
	run -65 --separate-stderr oys-fetch "$elsewhere" --rpc "$LIAR"
	[[ $stderr == "oys-fetch: RPC $LIAR answered a transaction whose fields hash to 0x"*", not $elsewhere: refused" ]]
	no_cache_entry
	# another (real, valid) transaction answered under the hash asked for
	start_liar SWAP_FROM="$elsewhere" SWAP_TO="$honest"
	run -65 --separate-stderr oys-fetch "$elsewhere" --rpc "$LIAR"
	[[ $stderr == "oys-fetch: RPC $LIAR answered a transaction whose fields hash to ${honest}, not $elsewhere: refused" ]]
	no_cache_entry
	# the proxy passes the truth on: the honest transaction through it verifies (and is cached)
	start_liar
	oys-fetch "$honest" --rpc "$LIAR" | cmp - "$EXAMPLES/factors.js"
	[ -n "$(find "$OYS_RUNTIME_DIR" -path '*cache*' -type f)" ]
}
