#!/usr/bin/env bats
# oys-sign: the enclave's key (never overwritten, 0600, the same public key and address as
# cast and @noble/secp256k1 compute), the two digests against cast keccak and an independent
# implementation, signatures recovered by noble and by cast wallet verify --no-hash, and
# verify: a document from the development attestation server behind socat carries the key, an
# answer signed by lib/sign (tests/unit/sign-answer, the call oys-serve makes) and fetched with
# curl -si verifies; any changed byte, another key, another enclave's document, a document
# that does not verify are refused with one line.

load test_helper/common-setup
setup() {
	common_setup
	SIGN_ANSWER=${OYS_TEST_UNIT:-$ROOT/build/unit}/sign-answer
	EMPTY_SHA384=38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b
	ID=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
	P="/fn/$ID/run?x=1&y=%20z"
	printf '{"a":[1,2,3],"b":"\xc3\xa9"}' >"$T/req"
	printf '{"result":"hello","n":42}\n' >"$T/resp"
	TS=$(date +%s)
}
teardown() { common_teardown; }

noble() { node "$ROOT/tests/signed-answer.mjs" "$@"; }
hexof() { od -An -v -tx1 | tr -d ' \n'; }
size() { stat -c %s "$1"; }

# enclave: a key in $T/key, the development attestation server behind socat (its CA in the
# test's runtime directory), and a document fetched from it carrying the key in $T/doc.
enclave() {
	[ -x "$SIGN_ANSWER" ] || { echo "no $SIGN_ANSWER: make unit builds it" >&2 && return 1; }
	oys-sign keygen -o "$T/key"
	APORT=$(oys-port)
	start_bg "$T/attest.log" socat "TCP-LISTEN:$APORT,bind=127.0.0.1,reuseaddr,fork" "EXEC:oys-attest serve --dev"
	wait_port "$APORT"
	oys-attest fetch --url "http://127.0.0.1:$APORT" --public-key "$(oys-sign pubkey -k "$T/key")" -o "$T/doc"
	DEV_ROOT=$OYS_RUNTIME_DIR/attest-dev/root.pem
}

# answer OUT [KEY [STATUS]]: the answer to POST $P with $T/req, body $T/resp, signed by lib/sign
# and written as oys-serve writes it (what curl -i saves).
answer() {
	"$SIGN_ANSWER" "${2:-$T/key}" POST "$P" "$T/req" "${3:-200}" "$ID" req-7f3c "$TS" "$T/resp" >"$1"
}

verify() { oys-sign verify -a "$T/doc" -r "$DEV_ROOT" -m POST -P "$P" -b "$T/req" "$@"; }

# header NAME FILE: a header's value in a saved answer.
header() { grep -i "^$1:" "$2" | cut -d' ' -f2 | tr -d '\r'; }

# ---- the key ----

@test "keygen writes 64 hex digits and a newline, mode 0600, and never overwrites" {
	mkdir keys && cd keys
	oys-sign keygen -o key
	[ "$(stat -c %a key)" = 600 ]
	grep -qxE '[0-9a-f]{64}' key
	[ "$(size key)" = 65 ]
	cp key key.before
	run -73 --separate-stderr oys-sign keygen -o key
	[ "$stderr" = "oys-sign: key exists: a signing key is never overwritten" ]
	cmp key key.before
	ln -s nowhere link
	run -73 oys-sign keygen -o link
	[ ! -e nowhere ]
	# only the key is left: no temporary file
	[ "$(ls | sort | tr '\n' ' ')" = "key key.before link " ]
	oys-sign keygen -o other
	run -1 cmp -s key other
}

@test "keygen and pubkey default to \$OYS_SIGNING_KEY, else \$OYS_RUNTIME_DIR/signing.key" {
	[ ! -d "$OYS_RUNTIME_DIR" ]
	oys-sign keygen
	[ "$(stat -c %a "$OYS_RUNTIME_DIR/signing.key")" = 600 ]
	[ "$(oys-sign pubkey)" = "$(oys-sign pubkey -k "$OYS_RUNTIME_DIR/signing.key")" ]
	run -73 oys-sign keygen
	OYS_SIGNING_KEY=$T/elsewhere oys-sign keygen
	[ -f "$T/elsewhere" ]
	[ "$(OYS_SIGNING_KEY=$T/elsewhere oys-sign pubkey)" = "$(oys-sign pubkey --key "$T/elsewhere")" ]
	[ "$(oys-sign pubkey)" != "$(oys-sign pubkey -k "$T/elsewhere")" ]
}

@test "pubkey and --address agree with cast and @noble/secp256k1; --raw is the 64 bytes" {
	for _ in 1 2 3; do
		rm -f key && oys-sign keygen -o key
		pub=$(oys-sign pubkey -k key)
		[[ $pub =~ ^[0-9a-f]{128}$ ]]
		[ "0x$pub" = "$("$CAST" wallet public-key --private-key "0x$(cat key)")" ]
		[ "$pub" = "$(noble pubkey key)" ]
		[ "$(oys-sign pubkey -k key --address)" = "$("$CAST" wallet address --private-key "0x$(cat key)")" ]
		oys-sign pubkey -k key --raw -o pub.bin
		[ "$(size pub.bin)" = 64 ]
		[ "$(hexof <pub.bin)" = "$pub" ]
	done
	# a 32-byte raw secret (upstream's keygen-secp256k1 format) is the same key
	printf "$(sed 's/../\\x&/g' key)" >raw.key
	chmod 600 raw.key
	[ "$(size raw.key)" = 32 ]
	[ "$(oys-sign pubkey -k raw.key)" = "$pub" ]
}

@test "a key that group or others may read is refused, so is a missing or bad one" {
	oys-sign keygen -o key
	chmod 640 key
	run -77 --separate-stderr oys-sign pubkey -k key
	[ "$stderr" = "oys-sign: key: mode 0640 lets group or others at the signing key (chmod 600 it)" ]
	chmod 604 key
	run -77 oys-sign pubkey -k key
	run -66 --separate-stderr oys-sign pubkey -k none
	[[ $stderr == "oys-sign: none: No such file or directory" ]]
	printf 'not a key\n' >bad && chmod 600 bad
	run -65 --separate-stderr oys-sign pubkey -k bad
	[[ $stderr == "oys-sign: bad: not a signing key"* ]]
	run -64 oys-sign pubkey -k key --raw --address
}

# ---- the digests ----

# frame FORMAT METHOD PATH REQ RESP [STATUS CODE_ID REQUEST_ID TIMESTAMP]: the signed message,
# laid out by hand from oys(7), as hex.
frame() {
	local f fields=("$2" "$3")
	[ "$1" = oys ] && fields+=("$6" "$7" "$8" "$9")
	if [ "$1" = v2 ]; then printf 'oyster-signature-v2' | hexof; else printf 'oys-signature-v1' | hexof; fi
	printf 00
	for f in "${fields[@]}"; do
		printf '%08x' "${#f}"
		printf '%s' "$f" | hexof
	done
	printf '%016x' "$(size "$4")" && hexof <"$4"
	printf '%016x' "$(size "$5")" && hexof <"$5"
}

@test "digest: Keccak-256 of the framed answer equals cast keccak's, on random inputs" {
	export LC_ALL=C
	for n in 0 1 5 97 135 136 137 $((RANDOM % 1000)) $((RANDOM % 1000)) 1048576; do
		head -c "$n" /dev/urandom >req.bin
		head -c $((RANDOM % 300)) /dev/urandom >resp.bin
		m=$(head -c $((RANDOM % 9 + 1)) /dev/urandom | base64 | tr -dc 'A-Z')
		path=/$(head -c $((RANDOM % 200)) /dev/urandom | base64 | tr -dc 'a-z0-9/?=&%')
		want=$( { printf 0x; frame v2 "${m:-GET}" "$path" req.bin resp.bin; } | "$CAST" keccak)
		[ "0x$(oys-sign digest -m "${m:-GET}" -P "$path" -b req.bin -R resp.bin)" = "$want" ] ||
			{ echo "v2, $n bytes: $want" && return 1; }
		ts=$((RANDOM * RANDOM))
		want=$( { printf 0x; frame oys POST "$path" resp.bin req.bin 503 "$m" "r-$n" "$ts"; } | "$CAST" keccak)
		[ "0x$(oys-sign digest --format oys -m POST -P "$path" -b resp.bin -R req.bin --status 503 \
			--code-id "$m" --request-id "r-$n" --timestamp "$ts")" = "$want" ] ||
			{ echo "oys, $n bytes: $want" && return 1; }
	done
}

@test "digest: both formats equal @noble/hashes' keccak over the fields (tests/signed-answer.mjs)" {
	head -c 5000 /dev/urandom >body
	for f in v2 oys; do
		want=$(noble digest $f PATCH "$P" req body 418 "$ID" rid-1 1767225600)
		[ "$(oys-sign digest --format $f -m PATCH -P "$P" -b req -R body --status 418 --code-id "$ID" \
			--request-id rid-1 --timestamp 1767225600)" = "$want" ]
		want=$( { printf 0x; frame $f PATCH "$P" req body 418 "$ID" rid-1 1767225600; } | "$CAST" keccak)
		[ "0x$(noble digest $f PATCH "$P" req body 418 "$ID" rid-1 1767225600)" = "$want" ]
	done
	# the request body is optional (empty), the answer's body is not; oys needs status and time
	[ "$(oys-sign digest -m GET -P / -R body)" = "$(: >empty && noble digest v2 GET / empty body)" ]
	run -64 oys-sign digest -m GET -P /
	run -64 oys-sign digest --format oys -m GET -P / -R body --status 200
	run -64 oys-sign digest --format v3 -m GET -P / -R body
}

# ---- signatures, checked independently ----

@test "lib/sign's signatures: noble and cast recover the key from both headers, and sign the same bytes" {
	enclave
	answer ans
	pub=$(oys-sign pubkey -k key)
	d2=$(noble digest v2 POST "$P" req resp)
	do=$(noble digest oys POST "$P" req resp 200 "$ID" req-7f3c "$TS")
	[ "$(noble recover "$d2" "$(header X-Signature ans)")" = "$pub" ]
	[ "$(noble recover "$do" "$(header X-Oyster-Signature ans)")" = "$pub" ]
	# RFC 6979 on both sides: the very same signature, v = 27 or 28
	[ "$(header X-Signature ans)" = "$(noble sign key "$d2")" ]
	[ "$(header X-Oyster-Signature ans)" = "$(noble sign key "$do")" ]
	[[ $(header X-Signature ans) =~ ^[0-9a-f]{128}(1b|1c)$ ]]
	# cast wallet verify --no-hash: ecrecover over the digest as it is, no EIP-191 prefix
	addr=$(oys-sign pubkey -k key --address)
	"$CAST" wallet verify --no-hash --address "$addr" "0x$d2" "0x$(header X-Signature ans)"
	"$CAST" wallet verify --no-hash --address "$addr" "0x$do" "0x$(header X-Oyster-Signature ans)"
	run ! "$CAST" wallet verify --no-hash --address "$addr" "0x$do" "0x$(header X-Signature ans)"
	[ "$("$CAST" wallet sign --no-hash --private-key "0x$(cat key)" "0x$d2")" = "0x$(header X-Signature ans)" ]
}

# ---- verify ----

@test "end to end: document from the dev attestation server, answer over HTTP with curl -si, verified" {
	enclave
	SPORT=$(oys-port)
	start_bg "$T/answer.log" socat "TCP-LISTEN:$SPORT,bind=127.0.0.1,reuseaddr,fork" \
		"EXEC:$SIGN_ANSWER $T/key POST $P $T/req 200 $ID req-7f3c $TS $T/resp"
	wait_port "$SPORT"
	curl -si --max-time 10 --data-binary @req "http://127.0.0.1:$SPORT$P" >saved
	head -1 saved | grep -q '^HTTP/1.1 200 '
	run -0 --separate-stderr verify --pcr "0=$EMPTY_SHA384" -c saved
	[ "$output" = "verified: signed by $(oys-sign pubkey -k key --address), the attested key (X-Signature, X-Oyster-Signature)" ]
	[ -z "$stderr" ]
	run -0 verify -c saved --json
	echo "$output" | jq -e --arg pk "$(oys-sign pubkey -k key)" --arg id "$ID" --arg p "$P" --argjson ts "$TS" \
		--argjson rq "$(size req)" --argjson rs "$(size resp)" '
		.verified == true and .signer.public_key == $pk and .attestation.public_key == $pk
		and .signatures == ["X-Signature", "X-Oyster-Signature"]
		and .answer == {method: "POST", path: $p, request_body_bytes: $rq, response_body_bytes: $rs,
		                status: 200, code_id: $id, request_id: "req-7f3c", timestamp: $ts}
		and .attestation.pcrs["0"] != null'
	# the same answer given as body and header values
	sed '1,/^\r$/d' saved >body
	cmp body resp
	verify -R body -s "$(header X-Signature saved)"
	verify -R body -s "0x$(header X-Signature saved | tr a-f A-F)" \
		--oys-signature "$(header X-Oyster-Signature saved)" --status 200 --timestamp "$TS" \
		--code-id "$ID" --request-id req-7f3c --require-oys
	# the document through a pipe, as hex
	oys-attest fetch --url "http://127.0.0.1:$APORT" --public-key "$(oys-sign pubkey -k key)" --format hex |
		oys-sign verify -a - -r "$DEV_ROOT" -m POST -P "$P" -b req -c saved
}

@test "an answer signed by @noble/secp256k1 with the attested key verifies too" {
	enclave
	d2=$(noble digest v2 POST "$P" req resp)
	do=$(noble digest oys POST "$P" req resp 201 "" "" "$TS")
	verify -R resp -s "$(noble sign key "$d2")" --oys-signature "$(noble sign key "$do")" --status 201 \
		--timestamp "$TS" --require-oys
}

# flip FILE: one byte of FILE changed, at a random offset.
flip() {
	local n off b
	n=$(size "$1")
	off=$((RANDOM % n))
	b=$(dd if="$1" bs=1 skip="$off" count=1 status=none | od -An -tu1 | tr -d ' ')
	printf "$(printf '\\%03o' $(((b ^ (1 << RANDOM % 8)) & 255)))" | dd of="$1" bs=1 seek="$off" conv=notrunc status=none
}

@test "a flipped byte in either body, the path or the method is refused by X-Signature" {
	enclave
	answer ans
	verify -c ans
	for _ in 1 2 3; do
		cp resp resp.orig && flip resp
		sed '/^\r$/q' ans >changed && cat resp >>changed
		run -77 --separate-stderr verify -c changed
		[[ $stderr == "oys-sign: X-Signature: signed by 0x"*", not by the attested key $(oys-sign pubkey -k key --address) (or the answer was changed)" ]]
		mv resp.orig resp
		cp req req.orig && flip req
		run -77 verify -c ans
		mv req.orig req
	done
	run -77 oys-sign verify -a doc -r "$DEV_ROOT" -m POST -P "${P/x=1/x=2}" -b req -c ans
	run -77 oys-sign verify -a doc -r "$DEV_ROOT" -m POST -P "$P " -b req -c ans
	run -77 oys-sign verify -a doc -r "$DEV_ROOT" -m PUT -P "$P" -b req -c ans
	run -77 oys-sign verify -a doc -r "$DEV_ROOT" -m post -P "$P" -b req -c ans
	run -77 oys-sign verify -a doc -r "$DEV_ROOT" -m POST -P "$P" -c ans # no request body
	verify -c ans
}

@test "a changed status, timestamp, code id or request id is refused by X-Oyster-Signature" {
	enclave
	answer ans
	change() { sed "$1" ans >changed; run -1 cmp -s ans changed; run -77 --separate-stderr verify -c changed; }
	change 's/^HTTP\/1.1 200 /HTTP\/1.1 201 /'
	[[ $stderr == "oys-sign: X-Oyster-Signature: signed by 0x"*", not by the attested key "* ]]
	change "s/^X-Oyster-Timestamp: $TS/X-Oyster-Timestamp: $((TS + 1))/"
	[[ $stderr == "oys-sign: X-Oyster-Signature: signed by"* ]]
	change "s/^X-Oyster-Code-Id: $ID/X-Oyster-Code-Id: ${ID/0/1}/"
	change 's/^X-Oyster-Request-Id: req-7f3c/X-Oyster-Request-Id: req-7f3d/'
	change '/^X-Oyster-Request-Id:/d'
	# X-Signature alone does not cover them: without X-Oyster-Signature the status change
	# passes, unless the client requires X-Oyster-Signature
	sed -e 's/^HTTP\/1.1 200 /HTTP\/1.1 201 /' -e '/^X-Oyster-Signature:/d' ans >stripped
	run -0 verify -c stripped
	[[ $output == *"(X-Signature)" ]]
	run -77 --separate-stderr verify -c stripped --require-oys
	[ "$stderr" = "oys-sign: the answer has no X-Oyster-Signature: its status, code_id, request id and time are not signed" ]
	# the same in the explicit form
	run -77 verify -R resp -s "$(header X-Signature ans)" --oys-signature "$(header X-Oyster-Signature ans)" \
		--status 200 --timestamp $((TS - 1)) --code-id "$ID" --request-id req-7f3c
	run -0 verify -R resp -s "$(header X-Signature ans)" --oys-signature "$(header X-Oyster-Signature ans)" \
		--status 200 --timestamp "$TS" --code-id "$ID" --request-id req-7f3c
}

@test "a signature by another key is refused, naming both addresses" {
	enclave
	oys-sign keygen -o other
	answer ans "$T/other"
	run -77 --separate-stderr verify -c ans
	[ "$stderr" = "oys-sign: X-Signature: signed by $(oys-sign pubkey -k other --address), not by the attested key $(oys-sign pubkey -k key --address) (or the answer was changed)" ]
	# the v2 header right but the oys one from another key
	answer mine
	sed "s/^X-Oyster-Signature: .*/$(grep '^X-Oyster-Signature:' ans)/" mine >mixed
	run -77 --separate-stderr verify -c mixed
	[[ $stderr == "oys-sign: X-Oyster-Signature: signed by $(oys-sign pubkey -k other --address), not by"* ]]
	# a signature that is not one
	sed "s/^X-Signature: .*/X-Signature: $(printf '%0130d' 0)/" mine >zero
	run -77 --separate-stderr verify -c zero
	[[ $stderr == "oys-sign: X-Signature: signature: "* ]]
}

@test "a document from another enclave (another key in public_key) is refused" {
	enclave
	answer ans
	oys-sign keygen -o other
	oys-attest fetch --url "http://127.0.0.1:$APORT" --public-key "$(oys-sign pubkey -k other)" -o doc
	run -77 --separate-stderr verify -c ans
	[ "$stderr" = "oys-sign: X-Signature: signed by $(oys-sign pubkey -k key --address), not by the attested key $(oys-sign pubkey -k other --address) (or the answer was changed)" ]
	# a document with no public_key, or one that is not a secp256k1 key
	oys-attest fetch --url "http://127.0.0.1:$APORT" -o doc
	run -77 --separate-stderr verify -c ans
	[ "$stderr" = "oys-sign: attestation: the document has no public_key to sign with" ]
	oys-attest fetch --url "http://127.0.0.1:$APORT" --public-key "04$(oys-sign pubkey -k key)" -o doc
	run -77 --separate-stderr verify -c ans
	[ "$stderr" = "oys-sign: attestation: the document's public_key is 65 bytes, not a 64-byte secp256k1 key" ]
}

@test "a document that does not verify is refused: wrong root, PCR mismatch, changed byte" {
	enclave
	answer ans
	run -77 --separate-stderr oys-sign verify -a doc -m POST -P "$P" -b req -c ans
	[[ $stderr == "oys-sign: attestation: certificate chain: "* ]]
	run -77 --separate-stderr verify --pcr "0=${EMPTY_SHA384/38/39}" -c ans
	[[ $stderr == "oys-sign: attestation: pcr 0 mismatch"* ]]
	run -0 verify --pcr "0=$EMPTY_SHA384" -c ans
	# a document issued by another development CA
	OYS_RUNTIME_DIR=$T/other-run oys-attest issue --dev --public-key "$(oys-sign pubkey -k key)" -o other.doc
	run -77 --separate-stderr oys-sign verify -a other.doc -r "$DEV_ROOT" -m POST -P "$P" -b req -c ans
	[[ $stderr == "oys-sign: attestation: "* ]]
	cp doc doc.orig
	# flip a byte of the signature (writing a fixed value would change nothing 1 time in 256)
	off=$(($(size doc) - 20))
	byte=$(od -An -tu1 -j "$off" -N1 doc | tr -d ' ')
	printf "\\x$(printf %02x $((byte ^ 0xff)))" | dd of=doc bs=1 seek="$off" conv=notrunc status=none
	run -1 cmp -s doc doc.orig
	run -77 verify -c ans
	# as of a time when the leaf certificate was not valid yet
	mv doc.orig doc
	run -77 --separate-stderr verify -c ans --at 2020-01-01T00:00:00Z
	[[ $stderr == "oys-sign: attestation: "* ]]
}

@test "bad input is one line: bad data 65, usage 64, missing file 66" {
	enclave
	answer ans
	run -65 --separate-stderr verify -R resp -s 1234
	[ "$stderr" = "oys-sign: --signature: not 65 bytes of hex" ]
	grep -v '^X-Signature:' ans >nosig
	run -65 --separate-stderr verify -c nosig
	[ "$stderr" = "oys-sign: the answer has no X-Signature" ]
	grep -v '^X-Oyster-Timestamp:' ans >nots
	run -65 --separate-stderr verify -c nots
	[ "$stderr" = "oys-sign: X-Oyster-Signature without X-Oyster-Timestamp" ]
	cp resp bare
	run -65 --separate-stderr verify -c bare
	[ "$stderr" = "oys-sign: bare: not a curl -i output: no HTTP status line" ]
	printf 'x' >>ans
	run -65 --separate-stderr verify -c ans
	[[ $stderr == "oys-sign: ans: the body is 27 bytes but Content-Length says 26" ]]
	run -66 verify -c none
	run -64 --separate-stderr oys-sign verify -a doc -P / -c ans
	[ "$stderr" = "oys-sign: give the request's --method and --path (see oys-sign --help)" ]
	run -64 verify -c ans -s 00
	run -64 verify -R resp
	run -64 verify -R resp -s 00 --oys-signature 00
	run -64 oys-sign verify -a - -m GET -P / -b - -c ans
	run -64 oys-sign verify -m GET -P / -c ans
	run -64 oys-sign verify -a doc -r "$DEV_ROOT" -m POST -P "$P" -c ans extra
}
