#!/usr/bin/env bats
# oys-serve signs every answer with the enclave's key, its own errors included, and the key is
# bound to the attestation: the development attestation server, given the key's public half
# (--public-key, as an enclave's attestation server is given --pub-key), puts it in every
# document. A client fetches the document, calls oys-serve behind real socat with curl -si,
# and checks the answer offline with oys-sign verify and with an independent implementation
# on @noble/secp256k1 (tests/signed-answer.mjs). Any changed byte is refused; so is a
# document of another enclave. Without a key, answers go unsigned and /status says so.

load test_helper/common-setup
load test_helper/platform

setup() {
	common_setup
	pool_setup 2 128M
	FACTORS=$(put_fn "$EXAMPLES/factors.js")
}
teardown() {
	common_teardown
	pool_teardown
}

noble() { node "$ROOT/tests/signed-answer.mjs" "$@"; }

# enclave: the key (at its default place, $OYS_RUNTIME_DIR/signing.key), the development
# attestation server behind socat started with its public key, a document fetched from it
# that asks for no key ($T/doc), and oys-serve behind socat ($PORT).
enclave() {
	oys-sign keygen
	oys-sign pubkey --raw -o "$T/signing.pub"
	APORT=$(oys-port)
	start_bg "$T/attest.log" socat "TCP-LISTEN:$APORT,bind=127.0.0.1,reuseaddr,fork" \
		"EXEC:oys-attest serve --dev --public-key $T/signing.pub"
	wait_port "$APORT"
	oys-attest fetch --url "http://127.0.0.1:$APORT" -o "$T/doc"
	DEV_ROOT=$OYS_RUNTIME_DIR/attest-dev/root.pem
	serve_start
}

# ask FILE METHOD PATH [BODY]: the answer as curl -si saves it in FILE; the request body in
# FILE.req, the response body in FILE.body.
ask() {
	local f=$1 method=$2 path=$3
	printf '%s' "${4-}" >"$f.req"
	curl -si --max-time 60 -X "$method" ${4+--data-binary "@$f.req"} "http://127.0.0.1:$PORT$path" >"$f"
	sed '1,/^\r$/d' "$f" >"$f.body"
}

# verify FILE METHOD PATH [options]: oys-sign verify of a saved answer against $T/doc.
verify() {
	local f=$1 method=$2 path=$3
	shift 3
	oys-sign verify -a "$T/doc" -r "$DEV_ROOT" -m "$method" -P "$path" -b "$f.req" -c "$f" --require-oys "$@"
}

# header NAME FILE: a header's value in a saved answer.
header() { grep -i "^$1:" "$2" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
status_of() { head -1 "$1" | cut -d' ' -f2; }

# noble_check FILE METHOD PATH: @noble/secp256k1 recovers the document's key from both
# signatures over digests it rebuilds itself from oys(7).
noble_check() {
	local f=$1 method=$2 path=$3 pub v2 oys
	pub=$(oys-attest verify --root "$DEV_ROOT" "$T/doc" | jq -r .public_key)
	v2=$(noble digest v2 "$method" "$path" "$f.req" "$f.body")
	oys=$(noble digest oys "$method" "$path" "$f.req" "$f.body" "$(status_of "$f")" \
		"$(header X-Oyster-Code-Id "$f")" "$(header X-Oyster-Request-Id "$f")" "$(header X-Oyster-Timestamp "$f")")
	[ "$(noble recover "$v2" "$(header X-Signature "$f")")" = "$pub" ] || { echo "X-Signature: not the document's key"; return 1; }
	[ "$(noble recover "$oys" "$(header X-Oyster-Signature "$f")")" = "$pub" ] || { echo "X-Oyster-Signature: not the document's key"; return 1; }
}

@test "the dev attestation flow end to end: the key in the document, an answer verified by oys-sign and by noble" {
	enclave
	# the document carries the key the server was given, though the client asked for none
	[ "$(oys-attest verify --root "$DEV_ROOT" "$T/doc" | jq -r .public_key)" = "$(oys-sign pubkey)" ]
	ask a POST /api/serverless "{\"code_id\": \"$FACTORS\", \"input\": {\"num\": 100}}"
	[ "$(status_of a)" = 200 ]
	[ "$(cat a.body)" = '{"num":100,"factors":[2,2,5,5]}' ]
	[[ $(header X-Signature a) =~ ^[0-9a-f]{130}$ ]]
	[[ $(header X-Oyster-Signature a) =~ ^[0-9a-f]{130}$ ]]
	[[ $(header X-Oyster-Timestamp a) =~ ^[0-9]{10}$ ]]
	run -0 --separate-stderr verify a POST /api/serverless --json
	[ "$(jq -r .signer.address <<<"$output")" = "$(oys-sign pubkey --address)" ]
	noble_check a POST /api/serverless
	# a function with a path and a query: both are signed as they were on the request line
	echo=$(put_fn "$FN/echo.js")
	ask b GET "/fn/$echo/x?num=12&y=%20z"
	[ "$(status_of b)" = 200 ]
	[ "$(jq -r .query b.body)" = '?num=12&y=%20z' ]
	run -0 verify b GET "/fn/$echo/x?num=12&y=%20z"
	noble_check b GET "/fn/$echo/x?num=12&y=%20z"
	# a large answer, written in parts around the teardown, is signed whole
	big=$(put_fn "$FN/big.js")
	ask c GET "/fn/$big/?mib=3"
	[ "$(stat -c %s c.body)" = $((3 << 20)) ]
	run -0 verify c GET "/fn/$big/?mib=3"
	# the log says each of the three was signed
	wait_logged 3
	[ "$(grep '"event":"request"' "$T/serve.log" | jq -sc 'map(.signed)')" = '[true,true,true]' ]
	assert_clean
}

@test "oys-serve's own errors are signed too: no route, bad method, bad JSON, unknown code, a body too large" {
	enclave
	ask e1 GET /nowhere
	ask e2 GET /api/serverless
	ask e3 POST /api/serverless '{"code_id": '
	unknown=$(printf 'nothing' | sha256sum | cut -d' ' -f1)
	ask e4 POST /api/serverless "{\"code_id\": \"$unknown\", \"input\": {}}"
	[ "$(status_of e1) $(status_of e2) $(status_of e3) $(status_of e4)" = "404 405 400 404" ]
	run -0 verify e1 GET /nowhere
	run -0 verify e2 GET /api/serverless
	run -0 verify e3 POST /api/serverless
	run -0 verify e4 POST /api/serverless
	# a run's error names its function and request, and both are signed
	[ "$(header X-Oyster-Code-Id e4)" = "$unknown" ]
	[ "$(header X-Oyster-Request-Id e4)" = "$(jq -r .error.request_id e4.body)" ]
	noble_check e4 POST /api/serverless
	# a request that was not read whole: signed over an empty method, path and request body
	head -c 2000000 /dev/zero >big
	curl -si -H 'content-type: application/json' --data-binary @big "http://127.0.0.1:$PORT/api/serverless" >e5
	sed '1,/^\r$/d' e5 >e5.body
	: >e5.req
	[ "$(status_of e5)" = 413 ]
	run -0 verify e5 '' ''
	noble_check e5 '' ''
	assert_clean
}

@test "a flipped byte in the body, path, status or timestamp, and another request body, are refused" {
	enclave
	ask a POST "/fn/$FACTORS/" '{"num": 30}'
	[ "$(status_of a)" = 200 ]
	run -0 verify a POST "/fn/$FACTORS/"
	# the response body: one byte changed, same length
	sed 's/"num":30/"num":31/' a >body-flipped
	cp a.req body-flipped.req
	run -77 --separate-stderr verify body-flipped POST "/fn/$FACTORS/"
	[[ $stderr == "oys-sign: X-Signature: signed by 0x"*", not by the attested key 0x"* ]]
	# the path
	run -77 --separate-stderr verify a POST "/fn/$FACTORS/?"
	[[ $stderr == "oys-sign: X-Signature: "* ]]
	# the request body
	printf '{"num": 31}' >other.req
	cp a other
	run -77 --separate-stderr verify other POST "/fn/$FACTORS/"
	[[ $stderr == "oys-sign: X-Signature: "* ]]
	# the status (X-Signature does not cover it; X-Oyster-Signature does)
	sed '1s/200 OK/201 Created/' a >status-flipped
	cp a.req status-flipped.req
	run -77 --separate-stderr verify status-flipped POST "/fn/$FACTORS/"
	[[ $stderr == "oys-sign: X-Oyster-Signature: "* ]]
	# the timestamp
	ts=$(header X-Oyster-Timestamp a)
	sed "s/^X-Oyster-Timestamp: $ts/X-Oyster-Timestamp: $((ts + 1))/" a >ts-flipped
	cp a.req ts-flipped.req
	run -1 cmp -s a ts-flipped
	run -77 --separate-stderr verify ts-flipped POST "/fn/$FACTORS/"
	[[ $stderr == "oys-sign: X-Oyster-Signature: "* ]]
}

@test "a document from another enclave (another key in public_key) is refused" {
	enclave
	ask a POST /api/serverless "{\"code_id\": \"$FACTORS\", \"input\": {\"num\": 6}}"
	oys-sign keygen -o "$T/other.key"
	# a document that asks for another key gets that one, not the server's
	oys-attest fetch --url "http://127.0.0.1:$APORT" --public-key "$(oys-sign pubkey -k "$T/other.key")" -o "$T/other.doc"
	[ "$(oys-attest verify --root "$DEV_ROOT" "$T/other.doc" | jq -r .public_key)" = "$(oys-sign pubkey -k "$T/other.key")" ]
	run -77 --separate-stderr oys-sign verify -a "$T/other.doc" -r "$DEV_ROOT" -m POST -P /api/serverless -b a.req -c a
	[ "$stderr" = "oys-sign: X-Signature: signed by $(oys-sign pubkey --address), not by the attested key $(oys-sign pubkey -k "$T/other.key" --address) (or the answer was changed)" ]
}

@test "without a key answers go unsigned and /status says so; with one /status names the signer" {
	serve_start
	ask a POST /api/serverless "{\"code_id\": \"$FACTORS\", \"input\": {\"num\": 6}}"
	[ "$(status_of a)" = 200 ]
	run -1 grep -qi -e '^X-Signature:' -e '^X-Oyster-Signature:' -e '^X-Oyster-Timestamp:' a
	call GET /status
	[ "$(jq -c '{signing, signer, public_key}' <<<"$body")" = '{"signing":false,"signer":null,"public_key":null}' ]
	wait_logged 2
	[ "$(grep '"event":"request"' "$T/serve.log" | jq -sc 'map(.signed)')" = '[false,false]' ]
	# a key appears: the next process signs
	oys-sign keygen
	call GET /status
	[ "$(jq -r .signing <<<"$body")" = true ]
	[ "$(jq -r .signer <<<"$body")" = "$(oys-sign pubkey --address)" ]
	[ "$(jq -r .public_key <<<"$body")" = "$(oys-sign pubkey)" ]
	grep -qi '^X-Signature: [0-9a-f]\{130\}' <<<"$headers"
	# OYS_SIGNING_KEY points elsewhere, where there is none: unsigned again
	run -0 --separate-stderr env OYS_SIGNING_KEY="$T/none.key" oys-serve <<<$'GET /status HTTP/1.1\r\nHost: x\r\n\r\n'
	[ "$(jq -r .signing <<<"${lines[-1]}")" = false ]
	run -0 --separate-stderr oys-serve --signing-key "$OYS_RUNTIME_DIR/signing.key" <<<$'GET /status HTTP/1.1\r\nHost: x\r\n\r\n'
	[ "$(jq -r .signing <<<"${lines[-1]}")" = true ]
	assert_clean
}

@test "a key that is there but cannot be used: every answer is 500 signing_key, unsigned, exit 78" {
	oys-sign keygen
	chmod 644 "$OYS_RUNTIME_DIR/signing.key"
	run -78 --separate-stderr oys-serve <<<$'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
	[[ ${lines[0]} == $'HTTP/1.1 500 Internal Server Error\r' ]]
	[ "$(jq -r .error.code <<<"${lines[-1]}")" = signing_key ]
	[ "$(jq -r .error.message <<<"${lines[-1]}")" = "cannot sign answers: $OYS_RUNTIME_DIR/signing.key: mode 0644 lets group or others at the signing key (chmod 600 it)" ]
	[ "$(jq -r .error <<<"$stderr")" = signing_key ]
	[[ $output != *X-Signature* ]]
	printf 'not a key\n' >"$T/bad.key"
	chmod 600 "$T/bad.key"
	run -78 --separate-stderr oys-serve --signing-key "$T/bad.key" <<<$'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
	[ "$(jq -r .error.message <<<"${lines[-1]}")" = "cannot sign answers: $T/bad.key: not a signing key (64 hex digits and a newline, or 32 bytes)" ]
}
