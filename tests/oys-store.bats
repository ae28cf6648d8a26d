#!/usr/bin/env bats
# oys-store: a content-addressed store that never shows a partial file, refuses hostile ids,
# and, as a server behind socat, releases code only to attestation documents that verify.

load test_helper/common-setup
setup() { common_setup; }
teardown() { common_teardown; }

sha() { sha256sum "$1" | cut -d' ' -f1; }
# The files of the store that look like code (what a reader could be served).
# (Not .lock, the server's writer lock, nor anything else whose name is not a code id.)
code_files() { find "$OYS_STORE" -maxdepth 1 -type f -regextype egrep -regex '.*/[0-9a-f]{64}' -printf '%f\n' | sort; }

@test "put prints the SHA-256 of the code, get gives the same bytes back" {
	head -c 100000 /dev/urandom >blob
	printf '\0\0\0' >>blob # trailing zero bytes survive
	run -0 --separate-stderr oys-store put blob
	[ "$output" = "$(sha blob)" ]
	[ -z "$stderr" ]
	oys-store get "$output" >back
	cmp blob back
	# from standard input, and several files at once
	run -0 oys-store put - <"$EXAMPLES/factors.js"
	[ "$output" = "$(sha "$EXAMPLES/factors.js")" ]
	run -0 oys-store put blob "$EXAMPLES/factors.js"
	[ "$output" = "$(sha blob)"$'\n'"$(sha "$EXAMPLES/factors.js")" ]
	[ "$(code_files)" = "$(printf '%s\n' "$(sha blob)" "$(sha "$EXAMPLES/factors.js")" | sort)" ]
}

@test "get -o writes the code atomically with mode 0600" {
	id=$(oys-store put "$EXAMPLES/factors.js")
	oys-store get "$id" -o out.js
	cmp "$EXAMPLES/factors.js" out.js
	[ "$(stat -c %a out.js)" = 600 ]
	[ "$(ls -A | grep -c '^\.out')" = 0 ]
}

@test "identical puts give one file; the store lists it once" {
	echo 'export default { fetch() { return new Response("a") } }' >a.js
	id1=$(oys-store put a.js)
	id2=$(oys-store put - <a.js)
	[ "$id1" = "$id2" ]
	[ "$(code_files)" = "$id1" ]
	run -0 oys-store ls
	[ "$output" = "$id1"$'\t'"$(stat -c %s a.js)"$'\t' ]
	run -0 oys-store ls --json
	[ "$(jq -r '.[0].id, .[0].size, (.|length)' <<<"$output")" = "$id1"$'\n'"$(stat -c %s a.js)"$'\n1' ]
}

@test "concurrent puts of the same code are harmless, of different code all land" {
	head -c 2000000 /dev/urandom >big
	for i in $(seq 1 16); do
		oys-store put big >"id.$i" &
		echo "other $i" | oys-store put - >"other.$i" &
	done
	wait
	want=$(sha big)
	for i in $(seq 1 16); do
		[ "$(cat "id.$i")" = "$want" ]
		[ "$(cat "other.$i")" = "$(echo "other $i" | sha256sum | cut -d' ' -f1)" ]
	done
	[ "$(code_files | wc -l)" = 17 ]
	oys-store get "$want" | cmp - big
	[ -z "$(ls -A "$OYS_STORE/.tmp")" ] # no temporary file left behind
}

@test "a put killed mid-write leaves no partial code, and the next put sweeps its leftovers" {
	mkfifo pipe
	oys-store put - <pipe &
	pid=$!
	exec 7>pipe # (3 belongs to bats)
	head -c 1048576 /dev/urandom >&7
	# the writer has taken 1 MiB and waits for more: kill it mid-stream
	partial() { [ "$(find "$OYS_STORE/.tmp" -name 'put-*' -size +1000k 2>/dev/null | wc -l)" = 1 ]; }
	wait_for 10 partial
	kill -9 "$pid"
	exec 7>&-
	wait "$pid" || true
	[ -z "$(code_files)" ]
	run -0 oys-store ls
	[ -z "$output" ]
	# the leftover is a temporary file, never a code file; the next put removes it
	[ "$(ls -A "$OYS_STORE/.tmp" | wc -l)" = 1 ]
	id=$(echo next | oys-store put -)
	[ "$(code_files)" = "$id" ]
	[ -z "$(ls -A "$OYS_STORE/.tmp")" ]
}

@test "code larger than --max-size is refused and nothing is stored" {
	head -c 2048 /dev/urandom >two-k
	run -65 --separate-stderr oys-store put --max-size 1K - <two-k
	[ "$stderr" = "oys-store: standard input is larger than 1024 bytes" ]
	[ -z "$output" ]
	[ -z "$(code_files)" ]
	[ -z "$(ls -A "$OYS_STORE/.tmp")" ]
}

@test "hostile ids and names are refused before they reach a path" {
	mkdir -p "$OYS_STORE"
	echo precious >victim
	long=$(printf 'a%.0s' $(seq 1 65))
	for bad in ../victim ../../etc/passwd "$long" "$(printf 'G%.0s' $(seq 1 64))" 'a/b' '' '.hidden' \
		"$(printf 'A%.0s' $(seq 1 64))" $'x\ny' '-x'; do
		run -64 --separate-stderr oys-store get -- "$bad"
		[ -z "$output" ]
		[[ $stderr == "oys-store: '"*"' is not a code id or a name (1-63 of A-Z a-z 0-9 . _ -, not starting with . or -)" ]] ||
			{ echo "get '$bad': $stderr"; return 1; }
		run -64 oys-store rm -- "$bad"
	done
	[ "$(cat victim)" = precious ]
	run -64 --separate-stderr oys-store get ../victim
	[ "$stderr" = "oys-store: '../victim' is not a code id or a name (1-63 of A-Z a-z 0-9 . _ -, not starting with . or -)" ]
	run -64 --separate-stderr oys-store put --name ../x victim
	[ "$stderr" = "oys-store: --name: '../x' is not a name (1-63 of A-Z a-z 0-9 . _ -, not starting with . or -, not a code id) (see oys-store --help)" ]
	[ -z "$(code_files)" ]
}

@test "an unknown id is exit 66 naming the store; a missing store too" {
	id=$(printf '0%.0s' $(seq 1 64))
	mkdir -p "$OYS_STORE"
	run -66 --separate-stderr oys-store get "$id"
	[ "$stderr" = "oys-store: code $id not found in $OYS_STORE" ]
	[ -z "$output" ]
	run -66 --separate-stderr oys-store get --store "$T/nowhere" "$id"
	[ "$stderr" = "oys-store: store $T/nowhere does not exist" ]
	run -66 --separate-stderr oys-store rm "$id"
	[ "$stderr" = "oys-store: code $id not found in $OYS_STORE" ]
}

@test "a damaged code file is reported, never served" {
	id=$(oys-store put "$EXAMPLES/factors.js")
	chmod u+w "$OYS_STORE/$id"
	printf 'evil();' >>"$OYS_STORE/$id"
	run -65 --separate-stderr oys-store get "$id"
	[ -z "$output" ]
	[ "$stderr" = "oys-store: code $id in $OYS_STORE is damaged: its SHA-256 is $(sha "$OYS_STORE/$id")" ]
	# putting the code again repairs it
	oys-store put "$EXAMPLES/factors.js"
	oys-store get "$id" | cmp - "$EXAMPLES/factors.js"
}

@test "names point to ids: updating code is pointing the name at a new id" {
	echo 'v1' >v1.js
	echo 'v2' >v2.js
	id1=$(oys-store put --name app v1.js)
	[ "$(oys-store name app)" = "$id1" ]
	[ "$(oys-store get app)" = v1 ]
	id2=$(oys-store put --name app v2.js)
	[ "$(oys-store name app)" = "$id2" ]
	[ "$(oys-store get app)" = v2 ]
	[ "$(oys-store get "$id1")" = v1 ] # old versions stay, by id
	oys-store name app "$id1"          # roll back
	[ "$(oys-store get app)" = v1 ]
	run -0 oys-store ls
	[[ $output == *"$id1"$'\t'3$'\t'app* ]]
	oys-store rm app
	run -66 --separate-stderr oys-store get app
	[ "$stderr" = "oys-store: no code named app in $OYS_STORE" ]
	[ "$(oys-store get "$id1")" = v1 ] # removing a name keeps the code
	run -66 --separate-stderr oys-store name other "$(printf 'f%.0s' $(seq 1 64))"
	[ "$stderr" = "oys-store: code $(printf 'f%.0s' $(seq 1 64)) not found in $OYS_STORE" ]
}

@test "completion offers the ids and names in the store" {
	id=$(oys-store put --name app "$EXAMPLES/factors.js")
	run -0 oys-store --complete get ''
	[ "$output" = "$id"$'\n'app ]
}

# ---- the server, behind real socat ----

# start_store ARGS...: oys-store serve ARGS behind socat on $PORT.
start_store() {
	PORT=$(oys-port)
	{
		echo '#!/bin/sh'
		printf 'exec oys-store serve'
		for a in "$@"; do printf ' %q' "$a"; done
		echo
	} >"$T/serve.$PORT.sh"
	chmod +x "$T/serve.$PORT.sh"
	start_bg "$T/store.log" socat "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/serve.$PORT.sh"
	wait_port "$PORT"
	URL=http://127.0.0.1:$PORT
}

# req ARGS...: curl printing the body then the status on its own line.
req() { curl -sS --max-time 10 -w '\n%{http_code}' "$@"; }
# statuses FILE...: the status of each answer saved from req, one per line.
statuses() { local f; for f; do tail -n1 "$f"; echo; done; }

@test "serve: upload, with the operator token when one is set" {
	echo s3cret >token
	start_store --token-file "$T/token"
	run -0 req --data-binary @"$EXAMPLES/factors.js" "$URL/code"
	[ "${lines[1]}" = 401 ]
	[ "$(jq -r .error.code <<<"${lines[0]}")" = unauthorized ]
	run -0 req -H 'Authorization: Bearer wrong' --data-binary @"$EXAMPLES/factors.js" "$URL/code"
	[ "${lines[1]}" = 401 ]
	run -0 req -H 'Authorization: Bearer s3cret' --data-binary @"$EXAMPLES/factors.js" "$URL/code?name=factors"
	[ "${lines[1]}" = 201 ]
	id=$(sha "$EXAMPLES/factors.js")
	[ "${lines[0]}" = "{\"code_id\":\"$id\",\"size\":$(stat -c %s "$EXAMPLES/factors.js"),\"name\":\"factors\"}" ]
	oys-store get factors | cmp - "$EXAMPLES/factors.js"
	wait_for 10 grep -q '"path":"/code","status":201,"code_id":"'"$id"'"' "$T/store.log" # logged after the answer
}

@test "put to a storage server URL uploads the code, with the token, and checks the id" {
	echo s3cret >token
	start_store --token-file "$T/token"
	id=$(sha "$EXAMPLES/factors.js")
	run -77 --separate-stderr oys-store put --store "$URL" "$EXAMPLES/factors.js"
	[ "$stderr" = "oys-store: storage server $URL refused the upload: uploads need the operator token (Authorization: Bearer TOKEN)" ]
	[ -z "$output" ]
	run -0 oys-store put --store "$URL" --token-file token --name factors "$EXAMPLES/factors.js"
	[ "$output" = "$id" ]
	OYS_STORE_TOKEN=s3cret run -0 oys-store put --store "$URL/" - <"$EXAMPLES/factors-sw.js"
	[ "$output" = "$(sha "$EXAMPLES/factors-sw.js")" ]
	[ "$(oys-store name factors)" = "$id" ]
	run -64 --separate-stderr oys-store put --token-file token "$EXAMPLES/factors.js"
	[ "$stderr" = "oys-store: --token-file goes with a storage server URL as the store (see oys-store --help)" ]
	# a server that answers another id than the code's hash is not believed
	port=$(oys-port)
	reply_script liar.sh 'HTTP/1.1 201 Created\r\nContent-Length: 15\r\n\r\n{"code_id":"x"}'
	start_bg "$T/liar.log" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/liar.sh"
	wait_port "$port"
	run -65 --separate-stderr oys-store put --store "http://127.0.0.1:$port" "$EXAMPLES/factors.js"
	[ "$stderr" = "oys-store: storage server http://127.0.0.1:$port answered code_id x for code whose SHA-256 is $id" ]
	[ -z "$output" ]
}

@test "serve: OYS_STORE_TOKEN sets the token; without one it refuses to start, unless --open-uploads" {
	OYS_STORE_TOKEN=tok start_store
	run -0 req --data-binary 'x' "$URL/code"
	[ "${lines[1]}" = 401 ]
	run -0 req -H 'Authorization: Bearer tok' --data-binary 'x' "$URL/code"
	[ "${lines[1]}" = 201 ]
	# no token: the server does not start (inetd-style: nothing is read, nothing answered)
	run -78 --separate-stderr oys-store serve <<<$'POST /code HTTP/1.1\r\nContent-Length: 1\r\n\r\ny'
	[ "$stderr" = "oys-store: no upload token: give --token-file or OYS_STORE_TOKEN (or --open-uploads to let anyone upload)" ]
	[ -z "$output" ]
	port=$(oys-port)
	run -78 --separate-stderr timeout 10 oys-store serve --listen "127.0.0.1:$port"
	[ "$stderr" = "oys-store: no upload token: give --token-file or OYS_STORE_TOKEN (or --open-uploads to let anyone upload)" ]
	run -64 --separate-stderr env OYS_STORE_TOKEN=tok oys-store serve --open-uploads
	[ "$stderr" = "oys-store: --open-uploads and an upload token (--token-file, OYS_STORE_TOKEN) exclude each other (see oys-store --help)" ]
	# the operator says so: anyone may upload
	start_store --open-uploads
	run -0 req --data-binary 'y' "$URL/code"
	[ "${lines[1]}" = 201 ]
}

@test "serve: without the token an existing name is never re-pointed (409); with it, it is" {
	echo 'v1' >v1.js
	echo 'v2' >v2.js
	id1=$(oys-store put --name app v1.js)
	id2=$(sha v2.js)
	start_store --open-uploads
	run -0 req --data-binary @v2.js "$URL/code?name=app"
	[ "${lines[1]}" = 409 ]
	[ "$(jq -r .error.code <<<"${lines[0]}")" = name_taken ]
	[ "$(jq -r .error.message <<<"${lines[0]}")" = "name app already points to $id1; this server takes uploads without a token, so it re-points no name (the operator does, with a token)" ]
	[ "$(oys-store name app)" = "$id1" ]
	[ "$(code_files)" = "$id1" ] # refused whole: the code is not stored either
	# the same code under its own name again is harmless; a new name is taken
	run -0 req --data-binary @v1.js "$URL/code?name=app"
	[ "${lines[1]}" = 201 ]
	run -0 req --data-binary @v2.js "$URL/code?name=next"
	[ "${lines[1]}" = 201 ]
	[ "$(oys-store name next)" = "$id2" ]
	# oys-store put to the server reports the refusal
	echo 'v3' >v3.js
	run -77 --separate-stderr oys-store put --store "$URL" --name app v3.js
	[ "$stderr" = "oys-store: storage server $URL refused the upload: name app already points to $id1; this server takes uploads without a token, so it re-points no name (the operator does, with a token)" ]
	# concurrent anonymous uploads claiming one new name: exactly one gets it
	pids=()
	for i in $(seq 1 8); do
		echo "c $i" >"c$i.js"
		req --data-binary @"c$i.js" "$URL/code?name=race" >"race.$i" &
		pids+=($!)
	done
	wait "${pids[@]}" # (not the servers)
	[ "$(statuses race.* | grep -c '^201$')" = 1 ]
	[ "$(statuses race.* | grep -c '^409$')" = 7 ]
	winner=$(grep -l '^201$' race.* | sed 's/race\.//')
	[ "$(oys-store name race)" = "$(sha "c$winner.js")" ]
	# with the token, the operator re-points
	echo s3cret >token
	start_store --token-file "$T/token"
	run -0 req -H 'Authorization: Bearer s3cret' --data-binary @v2.js "$URL/code?name=app"
	[ "${lines[1]}" = 201 ]
	[ "$(oys-store name app)" = "$id2" ]
}

@test "serve: a store quota: uploads beyond it get 507, code already there is harmless" {
	head -c 6000 /dev/urandom >a
	head -c 6000 /dev/urandom >b
	start_store --open-uploads --quota 10K
	run -0 req --data-binary @a "$URL/code"
	[ "${lines[1]}" = 201 ]
	run -0 req --data-binary @b "$URL/code"
	[ "${lines[1]}" = 507 ]
	[ "$(jq -r .error.code <<<"${lines[0]}")" = store_full ]
	[ "$(jq -r .error.message <<<"${lines[0]}")" = "the store is full: 6000 of its 10240 bytes are used, the upload needs 6000" ]
	[ "$(code_files)" = "$(sha a)" ]
	run -0 req --data-binary @a "$URL/code" # already there: takes nothing
	[ "${lines[1]}" = 201 ]
	run -69 --separate-stderr oys-store put --store "$URL" b
	[ "$stderr" = "oys-store: storage server $URL: HTTP 507: the store is full: 6000 of its 10240 bytes are used, the upload needs 6000" ]
	# concurrent uploads cannot together pass the quota: 3 of 8 pieces of 3000 bytes fit in 10K
	rm -rf "$OYS_STORE"
	pids=()
	for i in $(seq 1 8); do
		head -c 3000 /dev/urandom >"p$i"
		req --data-binary @"p$i" "$URL/code" >"put.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	[ "$(statuses put.* | grep -c '^201$')" = 3 ]
	[ "$(statuses put.* | grep -c '^507$')" = 5 ]
	[ "$(code_files | wc -l)" = 3 ]
	# from the environment; a bad one is a configuration error
	rm -rf "$OYS_STORE"
	OYS_STORE_QUOTA=4K start_store --open-uploads
	run -0 req --data-binary @a "$URL/code"
	[ "${lines[1]}" = 507 ]
	run -78 --separate-stderr env OYS_STORE_QUOTA=lots oys-store serve --open-uploads </dev/null
	[ "$stderr" = "oys-store: OYS_STORE_QUOTA 'lots' is not a size (like 512M, 1G, 0 for no limit)" ]
	run -64 --separate-stderr oys-store serve --open-uploads --quota lots </dev/null
	[ "$stderr" = "oys-store: --quota: 'lots' is not a size (like 65536, 512K, 128M, 1G) (see oys-store --help)" ]
	# 0: no limit
	start_store --open-uploads --quota 0
	run -0 req --data-binary @b "$URL/code"
	[ "${lines[1]}" = 201 ]
}

@test "serve: limits and malformed requests get 413, 400, 404, 405" {
	start_store --open-uploads --max-size 1K
	head -c 2048 /dev/urandom >two-k
	run -0 req --data-binary @two-k "$URL/code"
	[ "${lines[1]}" = 413 ]
	[ -z "$(code_files)" ]
	run -0 req --data-binary '' "$URL/code"
	[ "${lines[1]}" = 400 ]
	run -0 req --data-binary 'x' "$URL/code?name=../x"
	[ "${lines[1]}" = 400 ]
	run -0 req -H 'Attestation: AAAA' --data-binary 'not json' "$URL/load"
	[ "${lines[1]}" = 400 ]
	[ "$(jq -r .error.message <<<"${lines[0]}")" = 'body must be JSON: {"key": CODE_ID}' ]
	run -0 req -H 'Attestation: AAAA' --data-binary '{"key": "../../etc/passwd"}' "$URL/load"
	[ "${lines[1]}" = 400 ]
	[ "$(jq -r .error.message <<<"${lines[0]}")" = "key '../../etc/passwd' is not a code id (64 lowercase hex digits)" ]
	run -0 req "$URL/code"
	[ "${lines[1]}" = 405 ]
	run -0 req "$URL/nope"
	[ "${lines[1]}" = 404 ]
	run -0 req "$URL/healthz"
	[ "${lines[0]}" = ok ]
	[ "${lines[1]}" = 200 ]
}

@test "serve: a NUL byte in the request head is 400 JSON, never a crash" {
	echo s3cret >token
	start_store --token-file "$T/token"
	run -0 raw_request "$PORT" 'POST /load HTTP/1.1\r\nHost: x\r\nAttestation: A\0A\r\nContent-Length: 2\r\n\r\n{}'
	[[ ${lines[0]} == $'HTTP/1.1 400 Bad Request\r' ]]
	[ "$(jq -r .error.code <<<"${lines[-1]}")" = bad_request ]
	[ "$(jq -r .error.message <<<"${lines[-1]}")" = "NUL byte in request head" ]
	run -0 raw_request "$PORT" 'GET /health\0z HTTP/1.1\r\nHost: x\r\n\r\n'
	[[ ${lines[0]} == $'HTTP/1.1 400 Bad Request\r' ]]
	[ "$(jq -r .error.message <<<"${lines[-1]}")" = "NUL byte in request head" ]
	# Answered, not crashed; the server still answers the next request.
	run -0 req "$URL/healthz"
	[ "${lines[1]}" = 200 ]
}

@test "serve --listen answers without socat" {
	PORT=$(oys-port)
	start_bg "$T/store.log" oys-store serve --open-uploads --listen "127.0.0.1:$PORT"
	wait_port "$PORT"
	run -0 curl -sS --max-time 10 --data-binary 'hello' "http://127.0.0.1:$PORT/code"
	[ "$(jq -r .code_id <<<"$output")" = "$(printf hello | sha256sum | cut -d' ' -f1)" ]
}

# ---- /load: a challenge, then code sealed to the attested key ----

# A development attestation server (oys-attest serve --dev) on $APORT; its root certificate
# and the PCR0 of its documents in ROOT_PEM and PCR0; a document without nonce or key in
# $T/doc; the operator's upload token in $T/token.
start_attest() {
	echo op >"$T/token"
	APORT=$(oys-port)
	start_bg "$T/attest.log" oys-attest serve --dev --listen "127.0.0.1:$APORT"
	wait_port "$APORT"
	curl -sS --max-time 10 -o "$T/doc" "http://127.0.0.1:$APORT/attestation/raw"
	ROOT_PEM=$OYS_RUNTIME_DIR/attest-dev/root.pem
	PCR0=$(oys-attest verify --root "$ROOT_PEM" <"$T/doc" | jq -r '.pcrs["0"]')
	[ ${#PCR0} = 96 ]
}

sealed() { node "$ROOT/tests/sealed-code.mjs" "$@"; }

# challenge: a nonce from the storage server (NONCE), a fresh key pair of ours ($T/key, PUB),
# and a document carrying both from the attestation server ($T/cdoc), as a fetcher does.
challenge() {
	run -0 req --data-binary '' "$URL/challenge"
	[ "${lines[1]}" = 201 ]
	NONCE=$(jq -r .nonce <<<"${lines[0]}")
	[[ $NONCE =~ ^[0-9a-f]{64}$ ]]
	[ "$(jq -r .expires_in <<<"${lines[0]}")" = "${1:-60}" ]
	PUB=$(sealed keygen "$T/key")
	curl -sS --max-time 10 -o "$T/cdoc" "http://127.0.0.1:$APORT/attestation/raw?nonce=$NONCE&public_key=$PUB"
	oys-attest verify --root "$ROOT_PEM" --nonce "$NONCE" --public-key "$PUB" "$T/cdoc" >/dev/null
}

load_code() { # load_code ID DOC [curl args]: POST /load with DOC, the answer in $T/loaded
	local id=$1 doc=$2
	shift 2
	req -o "$T/loaded" -H "Attestation: $(base64 -w0 "$doc")" "$@" --data-binary "{\"key\": \"$id\"}" "$URL/load"
}

message() { jq -r .error.message "$T/loaded"; }

@test "serve /load: challenge, a document with its nonce and our key, the code sealed to that key" {
	start_attest
	head -c 5000 /dev/urandom >blob
	printf '\0\0' >>blob
	id=$(oys-store put blob)
	start_store --token-file "$T/token" --root "$ROOT_PEM" --pcr "0=$PCR0"
	challenge
	[ -f "$OYS_STORE/.nonces/$NONCE" ]
	[ "$(stat -c %a "$OYS_STORE/.nonces")" = 700 ]
	run -0 load_code "$id" "$T/cdoc" -D "$T/headers"
	[ "$output" = $'\n200' ]
	grep -qi '^content-type: application/vnd.oys.sealed-code' "$T/headers"
	grep -qi '^x-oyster-sealed: 1' "$T/headers"
	# version 1, the frame around the code: 1 + 32 + 12 + code + 16 bytes
	[ "$(head -c 1 "$T/loaded" | od -An -tx1 | tr -d ' ')" = 01 ]
	[ "$(stat -c %s "$T/loaded")" = $(($(stat -c %s blob) + 61)) ]
	run -1 cmp -s blob "$T/loaded"
	sealed open "$T/key" "$NONCE" "$id" <"$T/loaded" | cmp - blob
	# opened for another code id or another nonce, it does not open (the AAD binds both)
	run ! sealed open "$T/key" "$NONCE" "$(printf 'a%.0s' {1..64})" <"$T/loaded"
	run ! sealed open "$T/key" "$(printf 'b%.0s' {1..64})" "$id" <"$T/loaded"
	# the nonce is used up; an unknown id, asked for with a fresh challenge, is 404
	[ ! -e "$OYS_STORE/.nonces/$NONCE" ]
	challenge
	run -0 load_code "$(printf 'a%.0s' {1..64})" "$T/cdoc"
	[ "${lines[-1]}" = 404 ]
}

@test "serve /load: the answer on the wire is not the code" {
	start_attest
	printf 'export default { fetch() { return new Response("OYS-PLAINTEXT-%s") } }\n' "$RANDOM$RANDOM" >marked.js
	marker=$(grep -o 'OYS-PLAINTEXT-[0-9]*' marked.js)
	id=$(oys-store put marked.js)
	start_store --token-file "$T/token" --root "$ROOT_PEM" --pcr "0=$PCR0"
	challenge
	# a capture of everything the server sends, by socat between client and server
	cport=$(oys-port)
	start_bg "$T/capture.log" socat -R "$T/wire" "TCP-LISTEN:$cport,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$PORT"
	wait_port "$cport"
	run -0 req -o "$T/loaded" -H "Attestation: $(base64 -w0 "$T/cdoc")" --data-binary "{\"key\": \"$id\"}" \
		"http://127.0.0.1:$cport/load"
	[ "${lines[-1]}" = 200 ]
	wait_for 10 grep -qa 'HTTP/1.1 200 OK' "$T/wire"
	[ "$(stat -c %s "$T/wire")" -gt "$(stat -c %s marked.js)" ]
	run -1 grep -qa "$marker" "$T/wire"
	run -1 grep -qa 'export default' "$T/wire"
	sealed open "$T/key" "$NONCE" "$id" <"$T/loaded" | grep -q "$marker"
}

@test "serve /load: a replayed document is refused (403), the nonce is used once" {
	start_attest
	id=$(oys-store put "$EXAMPLES/factors.js")
	start_store --token-file "$T/token" --root "$ROOT_PEM" --pcr "0=$PCR0"
	challenge
	run -0 load_code "$id" "$T/cdoc"
	[ "${lines[-1]}" = 200 ]
	cp "$T/cdoc" captured.doc
	run -0 load_code "$id" captured.doc
	[ "${lines[-1]}" = 403 ]
	[ "$(message)" = "attestation refused: nonce was already used (a replayed document)" ]
	run -0 load_code "$(printf 'a%.0s' {1..64})" captured.doc # no probing of ids with it either
	[ "${lines[-1]}" = 403 ]
	wait_for 10 grep -q '"path":"/load","status":403,"code_id":"'"$id"'","error":"attestation refused: nonce was already used' "$T/store.log"
}

@test "serve /load: no nonce, a nonce never issued, no public key, a bad key: 403 with the reason" {
	start_attest
	id=$(oys-store put "$EXAMPLES/factors.js")
	start_store --token-file "$T/token" --root "$ROOT_PEM" --pcr "0=$PCR0"
	run -0 load_code "$id" "$T/doc" # verifies, but carries neither
	[ "${lines[-1]}" = 403 ]
	[ "$(message)" = "attestation refused: the document carries no nonce (ask POST /challenge for one)" ]
	never=$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
	oys-attest issue --dev --nonce "$never" --public-key "$(printf 'ab%.0s' {1..32})" -o never.doc
	run -0 load_code "$id" never.doc
	[ "${lines[-1]}" = 403 ]
	[ "$(message)" = "attestation refused: nonce was not issued by this server (or expired long ago)" ]
	oys-attest issue --dev --nonce 0011 --public-key "$(printf 'ab%.0s' {1..32})" -o short.doc
	run -0 load_code "$id" short.doc
	[ "$(message)" = "attestation refused: nonce was not issued by this server (not 32 bytes)" ]
	challenge
	oys-attest issue --dev --nonce "$NONCE" -o nokey.doc
	run -0 load_code "$id" nokey.doc
	[ "${lines[-1]}" = 403 ]
	[ "$(message)" = "attestation refused: the document carries no public_key to seal the code to" ]
	oys-attest issue --dev --nonce "$NONCE" --public-key "04$(printf 'cd%.0s' {1..64})" -o p256.doc
	run -0 load_code "$id" p256.doc
	[ "$(message)" = "attestation refused: public_key is 65 bytes, not a 32-byte X25519 key" ]
	# a key of small order agrees no secret: refused too
	oys-attest issue --dev --nonce "$NONCE" --public-key "$(printf '00%.0s' {1..32})" -o zero.doc
	run -0 load_code "$id" zero.doc
	[ "${lines[-1]}" = 403 ]
	[[ $(message) == "attestation refused: public_key: "* ]]
	# the refusals before it did not use the nonce up... the small-order key did: a new one
	challenge
	run -0 load_code "$id" "$T/cdoc"
	[ "${lines[-1]}" = 200 ]
	sealed open "$T/key" "$NONCE" "$id" <"$T/loaded" | cmp - "$EXAMPLES/factors.js"
}

@test "serve /load: an expired nonce is refused; expired nonces are swept" {
	start_attest
	id=$(oys-store put "$EXAMPLES/factors.js")
	start_store --token-file "$T/token" --root "$ROOT_PEM" --pcr "0=$PCR0" --challenge-ttl 1
	challenge 1
	sleep 2.5 # the nonce's life is 1 s: 2.5 s later it is over
	run -0 load_code "$id" "$T/cdoc"
	[ "${lines[-1]}" = 403 ]
	[[ $(message) =~ ^attestation\ refused:\ nonce\ expired\ \(issued\ [23]\ s\ ago,\ a\ challenge\ lasts\ 1\ s\)$ ]]
	# OYS_STORE_CHALLENGE_TTL sets it too; the sweep on the next challenge removes what is old
	OYS_STORE_CHALLENGE_TTL=7 start_store --token-file "$T/token" --root "$ROOT_PEM" --pcr "0=$PCR0" --max-age 1
	touch -d '-1 hour' "$OYS_STORE/.nonces/"*
	challenge 7
	[ "$(ls "$OYS_STORE/.nonces")" = "$NONCE" ] || { ls -la --time-style=full-iso "$OYS_STORE/.nonces"; date; return 1; }
}

@test "serve /load: two concurrent loads with one nonce: exactly one gets the code" {
	start_attest
	id=$(oys-store put "$EXAMPLES/factors.js")
	start_store --token-file "$T/token" --root "$ROOT_PEM" --pcr "0=$PCR0"
	challenge
	pids=()
	for i in $(seq 1 8); do
		req -o "loaded.$i" -H "Attestation: $(base64 -w0 "$T/cdoc")" --data-binary "{\"key\": \"$id\"}" \
			"$URL/load" >"status.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	[ "$(statuses status.* | grep -c '^200$')" = 1 ]
	[ "$(statuses status.* | grep -c '^403$')" = 7 ]
	winner=$(grep -l '^200$' status.* | sed 's/status\.//')
	sealed open "$T/key" "$NONCE" "$id" <"loaded.$winner" | cmp - "$EXAMPLES/factors.js"
	for i in $(seq 1 8); do
		[ "$i" = "$winner" ] && continue
		[ "$(jq -r .error.message "loaded.$i")" = "attestation refused: nonce was already used (a replayed document)" ]
	done
}

@test "serve /load: no document 401, one that does not match the policy 403, tampered 403" {
	start_attest
	id=$(oys-store put "$EXAMPLES/factors.js")
	other=$(printf 'ab%.0s' {1..48})
	start_store --token-file "$T/token" --root "$ROOT_PEM" --pcr "0=$other"
	run -0 req -o "$T/loaded" --data-binary "{\"key\": \"$id\"}" "$URL/load"
	[ "${lines[-1]}" = 401 ]
	challenge
	run -0 load_code "$id" "$T/cdoc"
	[ "${lines[-1]}" = 403 ]
	[ "$(message)" = "attestation refused: pcr 0 mismatch" ]
	start_store --token-file "$T/token" --root "$ROOT_PEM" --pcr "0=$PCR0"
	challenge
	# flip one byte near the end (in the signature)
	size=$(stat -c %s "$T/cdoc")
	cp "$T/cdoc" tampered
	printf '\x55' | dd of=tampered bs=1 seek=$((size - 10)) conv=notrunc status=none
	run -1 cmp -s tampered "$T/cdoc"
	run -0 load_code "$id" tampered
	[ "${lines[-1]}" = 403 ]
	[[ $(message) == "attestation refused: "* ]]
	# a document from another CA (a second dev server with its own state) is refused
	APORT2=$(oys-port)
	OYS_RUNTIME_DIR=$T/run2 start_bg "$T/attest2.log" oys-attest serve --dev --listen "127.0.0.1:$APORT2"
	wait_port "$APORT2"
	curl -sS --max-time 10 -o other-ca.doc "http://127.0.0.1:$APORT2/attestation/raw?nonce=$NONCE&public_key=$PUB"
	run -0 load_code "$id" other-ca.doc
	[ "${lines[-1]}" = 403 ]
	[[ $(message) == "attestation refused: certificate chain"* ]]
	# neither used the nonce up: the good document still works
	run -0 load_code "$id" "$T/cdoc"
	[ "${lines[-1]}" = 200 ]
	sealed open "$T/key" "$NONCE" "$id" <"$T/loaded" | cmp - "$EXAMPLES/factors.js"
}

@test "serve /load: without a PCR policy every document is refused" {
	start_attest
	id=$(oys-store put "$EXAMPLES/factors.js")
	start_store --token-file "$T/token" --root "$ROOT_PEM"
	challenge
	run -0 load_code "$id" "$T/cdoc"
	[ "${lines[-1]}" = 403 ]
	[ "$(message)" = "attestation refused: no PCR policy is configured on this server" ]
	# the policy from the environment
	OYS_STORE_TOKEN=op OYS_ATTEST_ROOT=$ROOT_PEM OYS_ATTEST_PCRS="0=$PCR0" start_store
	run -0 load_code "$id" "$T/cdoc"
	[ "${lines[-1]}" = 200 ]
}

@test "serve /challenge: POST only; too many waiting is 503 with Retry-After" {
	start_store --open-uploads --challenge-ttl 30
	run -0 req "$URL/challenge"
	[ "${lines[-1]}" = 405 ]
	mkdir -p "$OYS_STORE/.nonces"
	chmod 700 "$OYS_STORE/.nonces"
	# 4096 nonces waiting (the limit): the next challenge is refused until they expire or are used
	(cd "$OYS_STORE/.nonces" && for i in $(seq 1 4096); do printf '%064x\n' "$i"; done | xargs touch)
	run -0 curl -sS --max-time 10 -D "$T/h" -w '\n%{http_code}' --data-binary '' "$URL/challenge"
	[ "${lines[-1]}" = 503 ]
	grep -qi '^retry-after: 30' "$T/h"
	[ "$(jq -r .error.message <<<"${lines[0]}")" = "4096 challenges are waiting to be used: try again later" ]
	touch -d '-1 hour' "$OYS_STORE/.nonces/"*
	run -0 req --data-binary '' "$URL/challenge"
	[ "${lines[-1]}" = 201 ]
	[ "$(ls "$OYS_STORE/.nonces" | wc -l)" = 1 ]
}
