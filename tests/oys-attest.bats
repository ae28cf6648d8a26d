#!/usr/bin/env bats
# oys-attest: a real AWS Nitro document verifies as of its own time and nowhere else, no
# flipped byte gets through, development documents carry the policy fields, hostile bytes are
# refused with one line, and fetch works against the development server behind socat.

load test_helper/common-setup
setup() {
	common_setup
	AWS_B64=$FIXTURES/nitro/aws-nitro-2024-09-06.b64
	AWS_ROOT=$FIXTURES/nitro/aws-nitro-root-g1.pem
	AT=2024-09-06T04:33:13Z # the fixture's timestamp is 2024-09-06T04:33:12.729Z
	DEV=$OYS_RUNTIME_DIR/attest-dev
	EMPTY_SHA384=38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b
}
teardown() { common_teardown; }

# ---- helpers: a small CBOR reader (to find regions by parsing) and writer (to craft documents)

# cbor_head I: the head of the item at byte I of $B: MAJ, ARG, HLEN (length of the head).
cbor_head() {
	local b=${B[$1]} ai j k
	MAJ=$((b >> 5)) ai=$((b & 31))
	if [ $ai -lt 24 ]; then
		ARG=$ai HLEN=1
	else
		k=$((1 << (ai - 24))) ARG=0
		for ((j = 1; j <= k; j++)); do ARG=$((ARG * 256 + B[$1 + j])); done
		HLEN=$((1 + k))
	fi
}

# cbor_end I: END = the offset just after the item at I.
cbor_end() {
	local i=$1 n j
	cbor_head "$i"
	case $MAJ in
	0 | 1 | 7) END=$((i + HLEN)) ;;
	2 | 3) END=$((i + HLEN + ARG)) ;;
	4 | 5)
		n=$ARG j=$((i + HLEN))
		[ $MAJ = 5 ] && n=$((2 * n))
		for ((; n > 0; n--)); do cbor_end "$j" && j=$END; done
		END=$j
		;;
	6) cbor_end $((i + HLEN)) ;;
	esac
}

# regions FILE: "NAME OFFSET LENGTH" for the protected header, payload, signature, certificate
# and every cabundle entry of a raw COSE_Sign1 document (B holds its bytes afterwards).
regions() {
	mapfile -t B < <(od -An -v -tu1 "$1" | tr -s ' ' '\n' | grep .)
	local i=0 p plen n j k key m c q
	cbor_head 0 && [ $MAJ = 6 ] && i=$HLEN
	cbor_head $i && i=$((i + HLEN))
	cbor_head $i && echo "protected $((i + HLEN)) $ARG" && i=$((i + HLEN + ARG))
	cbor_end $i && i=$END
	cbor_head $i && p=$((i + HLEN)) plen=$ARG && echo "payload $p $plen" && i=$((p + plen))
	cbor_head $i && echo "signature $((i + HLEN)) $ARG"
	cbor_head $p && n=$ARG j=$((p + HLEN))
	for ((k = 0; k < n; k++)); do
		cbor_head $j
		key=$(tail -c +$((j + HLEN + 1)) "$1" | head -c "$ARG")
		j=$((j + HLEN + ARG))
		cbor_head $j
		case $key in
		certificate) echo "certificate $((j + HLEN)) $ARG" ;;
		cabundle)
			m=$ARG c=$((j + HLEN))
			for ((q = 0; q < m; q++)); do
				cbor_head $c && echo "cabundle[$q] $((c + HLEN)) $ARG" && c=$((c + HLEN + ARG))
			done
			;;
		esac
		cbor_end $j && j=$END
	done
}

# flip IN OFFSET OUT: OUT is IN with the byte at OFFSET changed (B holds IN's bytes).
flip() {
	cp "$1" "$3"
	printf "$(printf '\\%03o' $((B[$2] ^ 0x55)))" | dd of="$3" bs=1 seek="$2" conv=notrunc status=none
}

# bytes FILE OFFSET LENGTH: those bytes, as hex.
bytes() { tail -c +$(($2 + 1)) "$1" | head -c "$3" | od -An -v -tx1 | tr -d ' \n'; }

# CBOR writer, in hex.
c_head() {
	local m=$(($1 << 5)) v=$2
	if [ "$v" -lt 24 ]; then printf '%02x' $((m | v))
	elif [ "$v" -lt 256 ]; then printf '%02x%02x' $((m | 24)) "$v"
	elif [ "$v" -lt 65536 ]; then printf '%02x%04x' $((m | 25)) "$v"
	elif [ "$v" -lt 4294967296 ]; then printf '%02x%08x' $((m | 26)) "$v"
	else printf '%02x%016x' $((m | 27)) "$v"; fi
}
c_uint() { c_head 0 "$1"; }
c_text() { c_head 3 ${#1}; printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
c_bytes() { c_head 2 $((${#1} / 2)); printf '%s' "$1"; } # the argument is hex
zeros() { printf "%0$(($1 * 2))d" 0; }                  # N zero bytes, as hex

FIELDS="module_id digest timestamp pcrs certificate cabundle public_key user_data nonce"
field() {
	local i
	case $1 in
	module_id) c_text i-0123456789abcdef0-enc0123456789abcdef ;;
	digest) c_text SHA384 ;;
	timestamp) c_uint 1725597192729 ;;
	pcrs) c_head 5 16 && for i in $(seq 0 15); do c_uint "$i" && c_bytes "$(zeros 48)"; done ;;
	certificate) c_bytes "$(zeros 100)" ;;
	cabundle) c_head 4 1 && c_bytes "$(zeros 100)" ;;
	*) printf f6 ;;
	esac
}
# payload [NAME VALUE]: a payload map with NAME's value replaced by VALUE (hex; "-": dropped).
payload() {
	local f n=9 body=""
	[ "${2:-}" = - ] && n=8
	for f in $FIELDS; do
		if [ "$f" = "${1:-}" ]; then
			[ "$2" = - ] || body+=$(c_text "$f")$2
		else
			body+=$(c_text "$f")$(field "$f")
		fi
	done
	c_head 5 $n && printf '%s' "$body"
}
# cose PAYLOAD [PROTECTED] [SIGNATURE]: a COSE_Sign1 around them (hex in, hex out).
cose() { c_head 4 4 && c_bytes "${2-a1013822}" && printf a0 && c_bytes "$1" && c_bytes "${3-$(zeros 96)}"; }

# refuses HEX LINE [OPTIONS...]: verify exits 77 with exactly "oys-attest: LINE", no output.
refuses() {
	local h=$1 want=$2
	shift 2
	run --separate-stderr oys-attest verify "$@" - <<<"$h"
	if [ "$status" != 77 ] || [ -n "$output" ] || [ "$stderr" != "oys-attest: $want" ]; then
		echo "status $status, stdout '$output', stderr '$stderr', want: $want"
		return 1
	fi
}

dev_issue() { oys-attest issue --dev "$@"; }
dev_root() { echo "$DEV/root.pem"; }

# ---- the real AWS document ----

@test "the real AWS document verifies as of its own timestamp, and its payload is printed" {
	run -0 --separate-stderr oys-attest verify --at "$AT" "$AWS_B64"
	[ -z "$stderr" ]
	echo "$output" | jq -e '
		.module_id == "i-0bbf1bfe232b8c2ce-enc0191ba35c9d1b77a" and .digest == "SHA384" and
		.timestamp == 1725597192729 and (.pcrs | keys | length) == 16 and
		.pcrs["0"] == ("00" * 48) and
		.pcrs["3"] == "671ca1e328f75015b2aeee60639cc5252bc835d8bb690444d1f8e2bf4260f73dc1b71e07a14a770c7d0becac6eb3b53f" and
		.public_key == "64756d6d79" and .nonce == "0000000000000000000000000000000000000001" and
		(.user_data | length) == 136 and (has("certificate") | not) and (has("cabundle") | not)'
	# The same document raw on stdin, as hex, and with --at in unix seconds.
	base64 -d "$AWS_B64" >aws.cbor
	run -0 oys-attest verify --at 1725597193 <aws.cbor
	[ "$(echo "$output" | jq -r .module_id)" = i-0bbf1bfe232b8c2ce-enc0191ba35c9d1b77a ]
	od -An -v -tx1 aws.cbor | tr -d ' \n' >aws.hex
	run -0 oys-attest verify --at 2024-09-06T06:33:13+02:00 aws.hex
}

@test "the real AWS document is refused as of now (expired) and before it was made" {
	run -77 --separate-stderr oys-attest verify "$AWS_B64"
	[ -z "$output" ]
	[[ $stderr =~ ^oys-attest:\ expired:\ certificate\ \'[^\']+\'\ was\ valid\ until\ 2024-[0-9-]+T[0-9:]+Z\ \(as\ of\ 20[0-9-]+T[0-9:]+Z\)$ ]]
	run -77 --separate-stderr oys-attest verify --at 2024-09-06T04:00:00Z "$AWS_B64"
	[ "$stderr" = "oys-attest: not yet valid: certificate 'i-0bbf1bfe232b8c2ce-enc0191ba35c9d1b77a.us-east-1.aws' is valid from 2024-09-06T04:33:09Z (as of 2024-09-06T04:00:00Z)" ]
}

@test "any flipped byte of the signature, the payload or a certificate is refused" {
	base64 -d "$AWS_B64" >aws.cbor
	regions aws.cbor >regions
	cat regions
	# The layout found by parsing: 96-byte signature last, one leaf, a 4-certificate bundle.
	[ "$(grep -c . regions)" = 8 ]
	grep -q '^signature [0-9]* 96$' regions
	read -r _ sig _ < <(grep '^signature' regions)
	[ $((sig + 96)) = "$(stat -c %s aws.cbor)" ]
	local name off len pos n=0
	while read -r name off len; do
		[ "$name" = protected ] && continue
		for pos in $off $((off + 1)) $((off + len / 3)) $((off + len / 2)) $((off + 2 * len / 3)) $((off + len - 1)); do
			flip aws.cbor "$pos" bad.cbor
			run --separate-stderr oys-attest verify --at "$AT" bad.cbor
			n=$((n + 1))
			if [ "$status" != 77 ] || [ -n "$output" ]; then
				echo "$name: byte $pos flipped: exit $status: $stderr"
				return 1
			fi
			case $name in
			signature) [ "$stderr" = "oys-attest: signature does not verify" ] ;;
			# A flip in the leaf's key may also make it no P-384 key at all.
			*) [[ $stderr == "oys-attest: signature does not verify" || $stderr == "oys-attest: malformed document at "* ||
				$stderr == "oys-attest: signature: the leaf certificate's key is not EC P-384" ]] ;;
			esac || { echo "$name: byte $pos: $stderr"; return 1; }
		done
	done <regions
	[ $n = 42 ]
	# The untouched copy still verifies: the failures came from the flips.
	run -0 oys-attest verify --at "$AT" aws.cbor
}

@test "the shipped AWS root is the one AWS publishes, and a swapped default root is refused" {
	sed '1d;$d' "$ROOT/share/certs/aws-nitro-root-g1.pem" | base64 -d | sha256sum >fp
	[ "$(cut -d' ' -f1 fp)" = 641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b ]
	cmp "$ROOT/share/certs/aws-nitro-root-g1.pem" "$AWS_ROOT"
	# A share directory whose "AWS root" is another certificate: configuration error, not trust.
	dev_issue >/dev/null
	mkdir -p share/templates share/certs
	cp "$(dev_root)" share/certs/aws-nitro-root-g1.pem
	OYS_SHARE_DIR=$T/share run -78 --separate-stderr oys-attest verify --at "$AT" "$AWS_B64"
	[ -z "$output" ]
	[[ $stderr == "oys-attest: $T/share/certs/aws-nitro-root-g1.pem is not the AWS Nitro root G1 (SHA-256 "*", want 641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b)" ]]
	# --root names the same file explicitly: the fixture verifies with it too.
	run -0 oys-attest verify --root "$AWS_ROOT" --at "$AT" "$AWS_B64"
}

# ---- development documents ----

@test "a development document has the Nitro structure and verifies with the development root" {
	dev_issue -o dev.cbor
	[ -f "$(dev_root)" ]
	regions dev.cbor >regions
	grep -q '^protected [0-9]* 4$' regions
	grep -q '^signature [0-9]* 96$' regions
	[ "$(grep -c '^cabundle' regions)" = 2 ]
	# cabundle root first: entry 0 is the development root, byte for byte.
	read -r _ off len < <(grep '^cabundle\[0\]' regions)
	[ "$(bytes dev.cbor "$off" "$len")" = "$(sed '1d;$d' "$(dev_root)" | base64 -d | od -An -v -tx1 | tr -d ' \n')" ]
	run -0 --separate-stderr oys-attest verify --root "$(dev_root)" dev.cbor
	[ -z "$stderr" ]
	echo "$output" | jq -e --arg d "$EMPTY_SHA384" '
		(.module_id | test("^i-[0-9a-f]{17}-enc[0-9a-f]{16}$")) and .digest == "SHA384" and
		(.pcrs | keys | length) == 16 and ([.pcrs[] | length] | unique) == [96] and
		.pcrs["0"] == $d and .pcrs["3"] == ("00" * 48) and .pcrs["15"] == ("00" * 48) and
		.public_key == null and .user_data == null and .nonce == null and
		((now * 1000) - .timestamp | fabs) < 60000'
	# The key files are private.
	[ "$(stat -c %a "$DEV/root.key")" = 600 ]
	[ "$(stat -c %a "$DEV/ca.key")" = 600 ]
}

@test "PCRs 0-2 come from the image digest: --image-digest, --image" {
	d=$(printf 'ab%.0s' $(seq 48))
	dev_issue --image-digest "$d" | oys-attest verify --root "$(dev_root)" >p.json
	pcr1=$(printf "$(printf '%s01' "$d" | sed 's/../\\x&/g')" | sha384sum | cut -d' ' -f1)
	pcr2=$(printf "$(printf '%s02' "$d" | sed 's/../\\x&/g')" | sha384sum | cut -d' ' -f1)
	jq -e --arg d "$d" --arg p1 "$pcr1" --arg p2 "$pcr2" \
		'.pcrs["0"] == $d and .pcrs["1"] == $p1 and .pcrs["2"] == $p2 and .pcrs["3"] == ("00" * 48)' p.json
	printf 'an enclave image' >image.eif
	dev_issue --image image.eif | oys-attest verify --root "$(dev_root)" >p.json
	[ "$(jq -r '.pcrs["0"]' p.json)" = "$(sha384sum image.eif | cut -d' ' -f1)" ]
	run -64 --separate-stderr oys-attest issue --dev --image-digest abcd
	[ "$stderr" = "oys-attest: --image-digest: 'abcd' is not hex of 48 to 48 bytes (see oys-attest --help)" ]
	run -66 --separate-stderr oys-attest issue --dev --image nope.eif
	[ "$stderr" = "oys-attest: cannot open image nope.eif: No such file or directory" ]
}

@test "PCR policy: matching values pass, any mismatch is refused naming the register" {
	dev_issue -o dev.cbor
	pcr1=$(oys-attest verify --root "$(dev_root)" dev.cbor | jq -r '.pcrs["1"]')
	run -0 oys-attest verify --root "$(dev_root)" --pcr 0="$EMPTY_SHA384" --pcr 1="$pcr1" --pcr 9="$(zeros 48)" dev.cbor
	run -77 --separate-stderr oys-attest verify --root "$(dev_root)" --pcr 0="$EMPTY_SHA384" --pcr 2="$pcr1" dev.cbor
	[ -z "$output" ]
	[ "$stderr" = "oys-attest: pcr 2 mismatch" ]
	# Uppercase hex is the same value; a shorter value is a mismatch, an absent register too.
	run -0 oys-attest verify --root "$(dev_root)" --pcr 0="${EMPTY_SHA384^^}" dev.cbor
	run -77 --separate-stderr oys-attest verify --root "$(dev_root)" --pcr 0="${EMPTY_SHA384:0:64}" dev.cbor
	[ "$stderr" = "oys-attest: pcr 0 mismatch" ]
	run -77 --separate-stderr oys-attest verify --root "$(dev_root)" --pcr 16="$(zeros 48)" dev.cbor
	[ "$stderr" = "oys-attest: pcr 16 mismatch: not in the document" ]
	# The real document's PCR3 as policy.
	run -0 oys-attest verify --at "$AT" --pcr 3=671ca1e328f75015b2aeee60639cc5252bc835d8bb690444d1f8e2bf4260f73dc1b71e07a14a770c7d0becac6eb3b53f "$AWS_B64"
	run -77 --separate-stderr oys-attest verify --at "$AT" --pcr 3="$(zeros 48)" "$AWS_B64"
	[ "$stderr" = "oys-attest: pcr 3 mismatch" ]
}

@test "max-age: a fresh document passes, an old one is refused with its age" {
	dev_issue -o dev.cbor
	run -0 oys-attest verify --root "$(dev_root)" --max-age 60 dev.cbor
	later=$(($(date +%s) + 600))
	run -0 oys-attest verify --root "$(dev_root)" --max-age 3600 --at "$later" dev.cbor
	run -77 --separate-stderr oys-attest verify --root "$(dev_root)" --max-age 100 --at "$later" dev.cbor
	[ -z "$output" ]
	[[ $stderr =~ ^oys-attest:\ too\ old:\ timestamp\ [0-9T:-]+Z\ is\ (59[89]|60[01])\ s\ before\ [0-9T:-]+Z\ \(max-age\ 100\)$ ]]
	# The real document, 10 minutes after its timestamp (its leaf is valid for 3 hours).
	run -77 --separate-stderr oys-attest verify --max-age 300 --at 2024-09-06T04:43:12Z "$AWS_B64"
	[ "$stderr" = "oys-attest: too old: timestamp 2024-09-06T04:33:12Z is 600 s before 2024-09-06T04:43:12Z (max-age 300)" ]
}

@test "nonce and public_key: carried into the document and checked by the policy" {
	dev_issue --nonce 0011aabb --public-key 04cafe --user-data 68656c6c6f -o dev.cbor
	run -0 oys-attest verify --root "$(dev_root)" --nonce 0011AABB --public-key 04cafe dev.cbor
	echo "$output" | jq -e '.nonce == "0011aabb" and .public_key == "04cafe" and .user_data == "68656c6c6f"'
	run -77 --separate-stderr oys-attest verify --root "$(dev_root)" --nonce 0011aabc dev.cbor
	[ -z "$output" ]
	[ "$stderr" = "oys-attest: nonce mismatch" ]
	run -77 --separate-stderr oys-attest verify --root "$(dev_root)" --public-key 04caff dev.cbor
	[ "$stderr" = "oys-attest: public_key mismatch" ]
	dev_issue -o plain.cbor
	run -77 --separate-stderr oys-attest verify --root "$(dev_root)" --nonce 00 plain.cbor
	[ "$stderr" = "oys-attest: nonce mismatch: the document has none" ]
	run -77 --separate-stderr oys-attest verify --root "$(dev_root)" --public-key 04 plain.cbor
	[ "$stderr" = "oys-attest: public_key mismatch: the document has none" ]
}

@test "wrong root: the AWS root refuses development documents, and so does another dev CA" {
	dev_issue -o dev.cbor
	run -77 --separate-stderr oys-attest verify dev.cbor
	[ -z "$output" ]
	[ "$stderr" = "oys-attest: certificate chain: cabundle[0] is not the trusted root" ]
	oys-attest issue --dev --state other -o other.cbor
	run -0 oys-attest verify --root other/root.pem other.cbor
	run -77 --separate-stderr oys-attest verify --root other/root.pem dev.cbor
	[ "$stderr" = "oys-attest: certificate chain: cabundle[0] is not the trusted root" ]
	# A root file holding both roots trusts both.
	cat "$(dev_root)" other/root.pem >both.pem
	run -0 oys-attest verify --root both.pem dev.cbor
	run -0 oys-attest verify --root both.pem other.cbor
	run -66 --separate-stderr oys-attest verify --root nope.pem dev.cbor
	[ "$stderr" = "oys-attest: cannot open nope.pem: No such file or directory" ]
	echo junk >junk.pem
	run -78 --separate-stderr oys-attest verify --root junk.pem dev.cbor
	[ "$stderr" = "oys-attest: root junk.pem holds no PEM certificate" ]
}

@test "a forged chain that starts with a copy of the AWS root is refused" {
	# A CA of our own, whose bundle claims the AWS root as its first certificate: the leaf
	# signs the document correctly, but the chain does not lead to the AWS root.
	oys-attest issue --dev --state mine >/dev/null
	mkdir forged
	cp mine/ca.pem mine/ca.key forged/
	cp "$ROOT/share/certs/aws-nitro-root-g1.pem" forged/root.pem
	oys-attest issue --dev --state forged -o forged.cbor
	run -77 --separate-stderr oys-attest verify forged.cbor
	[ -z "$output" ]
	[[ $stderr == "oys-attest: certificate chain: "*" at depth 1 ('oys-dev.intermediate')" ]]
}

@test "concurrent first requests on a fresh state directory agree on one CA" {
	for i in 1 2 3 4 5 6 7 8; do
		dev_issue -o "d$i.cbor" &
	done
	wait
	for i in 1 2 3 4 5 6 7 8; do
		run -0 oys-attest verify --root "$(dev_root)" "d$i.cbor"
	done
	[ "$(ls "$DEV" | sort | tr '\n' ' ')" = "ca.key ca.pem root.key root.pem " ]
}

# ---- hostile input ----

@test "empty input, blank input, non-CBOR text: bad data (65), one line" {
	run -65 --separate-stderr oys-attest verify </dev/null
	[ -z "$output" ]
	[ "$stderr" = "oys-attest: empty input: no attestation document" ]
	run -65 --separate-stderr oys-attest verify - <<<"   "
	[ "$stderr" = "oys-attest: empty input: no attestation document" ]
	run -65 --separate-stderr oys-attest verify - <<<"hello, world!"
	[ "$stderr" = "oys-attest: input is not an attestation document in raw CBOR, hex or base64" ]
	run -65 --separate-stderr oys-attest verify - <<<"84a0f"
	[ "$stderr" = "oys-attest: input is not an attestation document in raw CBOR, hex or base64" ]
	run -66 --separate-stderr oys-attest verify nope.cbor
	[ "$stderr" = "oys-attest: cannot open nope.cbor: No such file or directory" ]
	# Text that decodes (base64 of something) but is no CBOR document: refused, 77.
	refuses "aGVsbG8gd29ybGQ=" "malformed document at COSE_Sign1: trailing bytes"
	printf '\xfc\xfe\x00binary' >bin
	run -77 --separate-stderr oys-attest verify bin
	[ "$stderr" = "oys-attest: malformed document at COSE_Sign1: reserved additional information" ]
}

@test "the document truncated at many lengths is refused (77), never a crash" {
	base64 -d "$AWS_B64" >aws.cbor
	size=$(stat -c %s aws.cbor)
	for len in 1 2 3 4 5 6 7 8 9 10 11 12 50 100 1000 2000 3000 4000 4458 4459 $((size - 97)) $((size - 1)); do
		head -c "$len" aws.cbor >cut.cbor
		run --separate-stderr oys-attest verify --at "$AT" cut.cbor
		[ "$status" = 77 ] && [ -z "$output" ] &&
			[ "$stderr" = "oys-attest: malformed document at COSE_Sign1: truncated" ] ||
			{ echo "length $len: exit $status: $stderr"; return 1; }
	done
	# Truncated base64 text: undecodable (65) or a truncated document (77).
	for len in 10 101 1003 4000 6000; do
		head -c "$len" "$AWS_B64" >cut.b64
		run --separate-stderr oys-attest verify --at "$AT" cut.b64
		[ "$status" = 65 ] || [ "$status" = 77 ] || { echo "b64 length $len: exit $status: $stderr"; return 1; }
		[ -z "$output" ]
		[ "${#lines[@]}" = 0 ]
	done
}

@test "wrong COSE structure: every part is checked for its type" {
	p=$(payload)
	refuses "$(cose "$p" | sed 's/^84/83/')" "malformed document at COSE_Sign1: trailing bytes"
	refuses "a0" "malformed document at COSE_Sign1: not an array of 4"
	refuses "83$(c_bytes a1013822)a0$(c_bytes "$p")" "malformed document at COSE_Sign1: not an array of 4"
	refuses "d1$(cose "$p")" "malformed document at COSE_Sign1: tag is not 18 (COSE_Sign1)"
	refuses "d2d2$(cose "$p")" "malformed document at COSE_Sign1: nested tags"
	refuses "84$(c_text x)a0$(c_bytes "$p")$(c_bytes "$(zeros 96)")" "malformed document at protected header: not bytes"
	refuses "$(cose "$p" 01)" "malformed document at protected header: not a map"
	refuses "$(cose "$p" a0)" "protected header has no algorithm (want ES384)"
	refuses "$(cose "$p" "")" "protected header has no algorithm (want ES384)"
	refuses "$(cose "$p" a10126)" "protected header: algorithm -7 is not ES384 (-35)"
	refuses "$(cose "$p" a10101)" "protected header: algorithm is not ES384 (-35)"
	refuses "$(cose "$p" a2013822028101)" "protected header has critical parameters"
	refuses "84$(c_bytes a1013822)80$(c_bytes "$p")$(c_bytes "$(zeros 96)")" "malformed document at unprotected header: not a map"
	refuses "84$(c_bytes a1013822)a0$(c_text x)$(c_bytes "$(zeros 96)")" "malformed document at payload: not bytes"
	refuses "84$(c_bytes a1013822)a0f6$(c_bytes "$(zeros 96)")" "malformed document at payload: not bytes"
	refuses "$(cose "$(c_head 4 0)")" "malformed document at payload: not a map"
	refuses "$(cose "$p" a1013822 "$(zeros 95)")" "malformed document at signature: not 96 bytes (ES384)"
	refuses "$(cose "$p" a1013822 "$(zeros 97)")" "malformed document at signature: not 96 bytes (ES384)"
	# Well-formed in every field: only the (dummy) certificate stops it, before any signature.
	refuses "$(cose "$p")" "malformed document at payload.certificate: not a DER certificate"
	refuses "d2$(cose "$p")" "malformed document at payload.certificate: not a DER certificate"
	refuses "d812$(cose "$p")" "malformed document at payload.certificate: not a DER certificate"
}

@test "wrong types in every payload field are refused naming the field" {
	check() { refuses "$(cose "$(payload "$1" "$2")")" "malformed document at payload.$1: $3"; }
	check module_id "$(c_uint 5)" "not text of 1 to 255 bytes"
	check module_id "$(c_bytes 41)" "not text of 1 to 255 bytes"
	check module_id "$(c_text "")" "not text of 1 to 255 bytes"
	check module_id "$(c_head 3 1)0a" "not printable ASCII"
	check digest "$(c_uint 384)" "not text"
	check digest "$(c_text SHA256)" "not SHA384"
	check timestamp "$(c_text 1725597192729)" "not milliseconds since the epoch"
	check timestamp "$(c_head 1 5)" "not milliseconds since the epoch"
	check timestamp "$(c_uint 0)" "not milliseconds since the epoch"
	check timestamp "fb41d9b5f0c4000000" "not milliseconds since the epoch"
	check pcrs "$(c_head 4 1)$(c_bytes "$(zeros 48)")" "not a map"
	check pcrs "$(c_head 5 0)" "not 1 to 32 entries"
	check pcrs "$(c_head 5 1)$(c_uint 32)$(c_bytes "$(zeros 48)")" "an index is not 0 to 31"
	check pcrs "$(c_head 5 1)$(c_text 0)$(c_bytes "$(zeros 48)")" "an index is not 0 to 31"
	refuses "$(cose "$(payload pcrs "$(c_head 5 1)00$(c_text x)")")" "malformed document at payload.pcrs[0]: not 48 bytes"
	refuses "$(cose "$(payload pcrs "$(c_head 5 1)07$(c_bytes "$(zeros 47)")")")" "malformed document at payload.pcrs[7]: not 48 bytes"
	refuses "$(cose "$(payload pcrs "$(c_head 5 2)01$(c_bytes "$(zeros 48)")01$(c_bytes "$(zeros 48)")")")" "malformed document at payload.pcrs[1]: given twice"
	check certificate "$(c_text x)" "not bytes of 1 to 1024"
	check certificate "$(c_bytes "")" "not bytes of 1 to 1024"
	check certificate "$(c_bytes "$(zeros 1025)")" "not bytes of 1 to 1024"
	check cabundle "$(c_head 5 0)" "not an array of 1 to 16 certificates"
	check cabundle "$(c_head 4 0)" "not an array of 1 to 16 certificates"
	check cabundle "$(c_head 4 17)$(for i in $(seq 17); do c_bytes 00; done)" "not an array of 1 to 16 certificates"
	refuses "$(cose "$(payload cabundle "$(c_head 4 1)$(c_text x)")")" "malformed document at payload.cabundle[0]: not bytes of 1 to 1024"
	check public_key "$(c_uint 1)" "not null or bytes of at most 1024"
	check public_key "$(c_bytes "")" "empty"
	check user_data "$(c_text x)" "not null or bytes of at most 512"
	check user_data "$(c_bytes "$(zeros 513)")" "not null or bytes of at most 512"
	check nonce "$(c_head 4 0)" "not null or bytes of at most 512"
	check nonce "f5" "not null or bytes of at most 512"
	for f in module_id digest timestamp pcrs certificate cabundle; do
		check "$f" - missing
	done
	refuses "$(cose "a1$(c_uint 1)$(c_uint 2)")" "malformed document at payload: a key is not text"
	refuses "$(cose "$(payload | sed 's/^a9/aa/')$(c_text digest)$(c_text SHA384)")" "malformed document at payload.digest: given twice"
}

@test "oversized lengths, deep nesting, indefinite lengths and huge documents are refused" {
	refuses "845affffffff" "malformed document at COSE_Sign1: truncated"
	refuses "9bffffffffffffffff00" "malformed document at COSE_Sign1: truncated"
	refuses "bb7fffffffffffffff0000" "malformed document at COSE_Sign1: truncated"
	refuses "84$(c_bytes a1013822)a05bffffffffffffffff00" "malformed document at COSE_Sign1: truncated"
	refuses "$(printf '81%.0s' $(seq 2000))00" "malformed document at COSE_Sign1: nested too deep"
	refuses "$(printf 'c6%.0s' $(seq 20))00" "malformed document at COSE_Sign1: nested too deep"
	refuses "9f$(c_bytes 00)a0$(c_bytes 00)$(c_bytes 00)ff" "malformed document at COSE_Sign1: indefinite length"
	refuses "84$(c_bytes a1013822)a05f4100ff$(c_bytes "$(zeros 96)")" "malformed document at COSE_Sign1: indefinite length"
	refuses "$(cose "$(printf '81%.0s' $(seq 100))00")" "malformed document at payload: nested too deep"
	refuses "$(cose "$(payload)" a1013822 "$(zeros 96)")00" "malformed document at COSE_Sign1: trailing bytes"
	refuses "$(cose "$(payload)" "$(c_head 5 1)01$(c_head 1 34)00")" "malformed document at protected header: trailing bytes"
	refuses "f800" "malformed document at COSE_Sign1: bad simple value"
	# Over 64 KiB of raw CBOR, or 256 KiB of text: bad data before any parsing.
	{ printf '\x84'; head -c 70000 /dev/zero; } >big.cbor
	run -65 --separate-stderr oys-attest verify big.cbor
	[ "$stderr" = "oys-attest: document larger than 65536 bytes" ]
	head -c 300000 /dev/zero | tr '\0' A >big.b64
	run -65 --separate-stderr oys-attest verify big.b64
	[ "$stderr" = "oys-attest: big.b64 is larger than 262144 bytes" ]
	head -c 140000 /dev/zero | tr '\0' 0 >big.hex
	run -65 --separate-stderr oys-attest verify big.hex
	[ "$stderr" = "oys-attest: document larger than 65536 bytes" ]
}

@test "bad option values are usage errors with one line" {
	run -64 --separate-stderr oys-attest verify --pcr 32=00 x
	[ -z "$output" ]
	[ "$stderr" = "oys-attest: --pcr: '32=00' is not N=HEX (N from 0 to 31, at most 64 bytes) (see oys-attest --help)" ]
	run -64 --separate-stderr oys-attest verify --pcr 0=abc x
	[ "$stderr" = "oys-attest: --pcr: '0=abc' is not N=HEX (N from 0 to 31, at most 64 bytes) (see oys-attest --help)" ]
	run -64 --separate-stderr oys-attest verify --at yesterday x
	[ "$stderr" = "oys-attest: --at: 'yesterday' is not unix seconds or an RFC 3339 time (see oys-attest --help)" ]
	run -64 --separate-stderr oys-attest verify --at 2024-02-30T00:00:00Z x
	[ "$stderr" = "oys-attest: --at: '2024-02-30T00:00:00Z' is not unix seconds or an RFC 3339 time (see oys-attest --help)" ]
	run -64 --separate-stderr oys-attest verify --max-age 0 x
	[ "$stderr" = "oys-attest: --max-age: '0' is not a whole number from 1 to 9223372036854775807 (see oys-attest --help)" ]
	run -64 --separate-stderr oys-attest verify --nonce xyz x
	[ "$stderr" = "oys-attest: --nonce: 'xyz' is not hex of 0 to 512 bytes (see oys-attest --help)" ]
	run -64 --separate-stderr oys-attest fetch --format pem
	[ "$stderr" = "oys-attest: --format: 'pem' is not raw, hex or base64 (see oys-attest --help)" ]
	run -64 --separate-stderr oys-attest serve
	[ "$stderr" = "oys-attest: serve needs --dev: only the development issuer is built in (in an enclave, the Nitro attestation server issues documents) (see oys-attest --help)" ]
	run -64 --separate-stderr oys-attest issue --dev --image-digest "$EMPTY_SHA384" --image x
	[ "$stderr" = "oys-attest: --image-digest and --image exclude each other (see oys-attest --help)" ]
	run -64 --separate-stderr oys-attest verify a b
	[ "$stderr" = "oys-attest: unexpected argument 'b' (see oys-attest --help)" ]
}

# ---- serving and fetching ----

start_socat() {
	PORT=$(oys-port)
	start_bg "$T/socat.log" socat "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork" "EXEC:oys-attest serve --dev"
	wait_port "$PORT"
}

@test "fetch from serve --dev behind socat: raw, hex, base64, -o, and the nonce asked for" {
	start_socat
	oys-attest fetch --url "http://127.0.0.1:$PORT" -o doc.cbor
	[ "$(head -c 1 doc.cbor | od -An -tx1 | tr -d ' ')" = 84 ]
	oys-attest verify --root "$(dev_root)" doc.cbor >p.json
	jq -e '.nonce == null' p.json
	oys-attest fetch --url "http://127.0.0.1:$PORT/" --format hex >doc.hex
	grep -qE '^84[0-9a-f]+$' doc.hex
	oys-attest fetch --url "http://127.0.0.1:$PORT/attestation/hex" --format base64 --nonce c0ffee \
		--user-data 01 --public-key 02 >doc.b64
	run -0 oys-attest verify --root "$(dev_root)" --nonce c0ffee --public-key 02 doc.b64
	echo "$output" | jq -e '.user_data == "01"'
	# OYS_ATTESTATION_URL is the default server; the hex endpoint answers hex.
	OYS_ATTESTATION_URL=http://127.0.0.1:$PORT oys-attest --nonce 77 | oys-attest verify --root "$(dev_root)" --nonce 77
	curl -sS --max-time 10 "http://127.0.0.1:$PORT/attestation/hex?nonce=ab" | grep -qE '^84[0-9a-f]+$'
	wait_for 10 grep -q '"event":"attestation"' socat.log # logged after the answer
}

@test "serve --dev --public-key FILE: the key in every document that asks for no other" {
	head -c 64 /dev/urandom >key.pub
	pub=$(od -An -v -tx1 key.pub | tr -d ' \n')
	PORT=$(oys-port)
	start_bg "$T/socat.log" socat "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork" \
		"EXEC:oys-attest serve --dev --public-key $T/key.pub"
	wait_port "$PORT"
	oys-attest fetch --url "http://127.0.0.1:$PORT" --nonce 01 -o doc.cbor
	run -0 oys-attest verify --root "$(dev_root)" --public-key "$pub" --nonce 01 doc.cbor
	# one that asks for a key of its own gets that one
	oys-attest fetch --url "http://127.0.0.1:$PORT" --public-key c0ffee -o own.cbor
	run -0 oys-attest verify --root "$(dev_root)" --public-key c0ffee own.cbor
	# bad files: missing, empty, the hex oys-sign pubkey prints instead of the bytes
	run -66 --separate-stderr oys-attest serve --dev --public-key nosuch </dev/null
	[ "$stderr" = "oys-attest: --public-key: cannot open nosuch: No such file or directory" ]
	: >empty
	run -65 --separate-stderr oys-attest serve --dev --public-key empty </dev/null
	[ "$stderr" = "oys-attest: --public-key: empty: the file is empty" ]
	echo "$pub" >key.hex
	run -65 --separate-stderr oys-attest serve --dev --public-key key.hex </dev/null
	[ "$stderr" = "oys-attest: --public-key: key.hex holds hex; give the 64 bytes themselves (oys-sign pubkey --raw -o FILE)" ]
	[ -z "$output" ]
}

@test "serve --dev --listen answers without socat" {
	PORT=$(oys-port)
	start_bg "$T/listen.log" oys-attest serve --dev --listen "127.0.0.1:$PORT"
	wait_port "$PORT"
	oys-attest --url "http://127.0.0.1:$PORT" --nonce 01 | oys-attest verify --root "$(dev_root)" --nonce 01 >p.json
	jq -e '.nonce == "01"' p.json
	wait_for 5 grep -q '"event":"listening"' listen.log # logged once it listens: maybe after the first connect
}

@test "serve answers bad requests with JSON errors and logs each request" {
	req() { printf "$1" | oys-attest serve --dev 2>>serve.log; }
	run -0 req 'GET /attestation/raw?nonce=zz HTTP/1.1\r\nHost: x\r\n\r\n'
	[[ $output == "HTTP/1.1 400 Bad Request"* ]]
	[[ $output == *'{"error":{"code":"bad_request","message":"query parameter nonce: not hex"}}' ]]
	run -0 req "GET /attestation/raw?user_data=$(zeros 513) HTTP/1.1\r\nHost: x\r\n\r\n"
	[[ $output == *'"message":"query parameter user_data: at most 512 bytes"}}' ]]
	run -0 req 'GET /attestation/raw?nonce=01&nonce=02 HTTP/1.1\r\nHost: x\r\n\r\n'
	[[ $output == *'"message":"query parameter nonce given twice"}}' ]]
	run -0 req 'GET /other HTTP/1.1\r\nHost: x\r\n\r\n'
	[[ $output == "HTTP/1.1 404 Not Found"* ]]
	run -0 req 'POST /attestation/raw HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'
	[[ $output == "HTTP/1.1 405 Method Not Allowed"* && $output == *"Allow: GET"* ]]
	run -0 req 'GET /attestation/raw HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n'
	[[ $output == "HTTP/1.1 400 Bad Request"* ]]
	[ "$(grep -c '"event":"attestation"' serve.log)" = 6 ]
	# A raw answer over plain stdin/stdout is a whole document.
	printf 'GET /attestation/raw?nonce=05 HTTP/1.0\r\n\r\n' | oys-attest serve --dev 2>/dev/null >resp
	sed '1,/^\r$/d' resp | oys-attest verify --root "$(dev_root)" --nonce 05 >/dev/null
}

@test "serve --dev: a NUL byte in the request head is 400 JSON, never a crash" {
	start_socat
	run -0 raw_request "$PORT" 'GET /attestation/raw HTTP/1.1\r\nHost: x\r\nX-A: \0\r\n\r\n'
	[[ ${lines[0]} == $'HTTP/1.1 400 Bad Request\r' ]]
	[ "$(jq -r .error.code <<<"${lines[-1]}")" = bad_request ]
	[ "$(jq -r .error.message <<<"${lines[-1]}")" = "NUL byte in request head" ]
	run -0 raw_request "$PORT" 'GET /attestation/raw\0 HTTP/1.1\r\nHost: x\r\n\r\n'
	[[ ${lines[0]} == $'HTTP/1.1 400 Bad Request\r' ]]
	[ "$(jq -r .error.message <<<"${lines[-1]}")" = "NUL byte in request head" ]
	# Both answered and logged by a live server (the log line comes after the answer).
	logged_twice() { [ "$(grep -c '"event":"attestation",.*"status":400' socat.log)" = 2 ]; }
	wait_for 10 logged_twice
	curl -sS --max-time 10 "http://127.0.0.1:$PORT/attestation/hex" | grep -qE '^84[0-9a-f]+$'
}

@test "fetch: an unreachable server is 69, a server error is 69, garbage is 65" {
	PORT=$(oys-port)
	run -69 --separate-stderr oys-attest --url "http://127.0.0.1:$PORT"
	[ -z "$output" ]
	[[ $stderr == "oys-attest: attestation server: http://127.0.0.1:$PORT/attestation/raw: "*"onnect"* ]]
	[ "${#stderr_lines[@]}" = 1 ]
	start_socat
	run -69 --separate-stderr oys-attest --url "http://127.0.0.1:$PORT/attestation/nope"
	[ "$stderr" = "oys-attest: attestation server http://127.0.0.1:$PORT/attestation/nope answered 404" ]
	# (it reads the request first: an answer and a close before the request came would have the
	# request met by a reset, which can cost the client the answer: 69 instead of 65)
	reply_script junk.sh 'HTTP/1.0 200 OK\r\n\r\nnot a document!'
	JPORT=$(oys-port)
	start_bg "$T/junk.log" socat "TCP-LISTEN:$JPORT,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/junk.sh"
	wait_port "$JPORT"
	run -65 --separate-stderr oys-attest --url "http://127.0.0.1:$JPORT"
	[ "$stderr" = "oys-attest: attestation server http://127.0.0.1:$JPORT/attestation/raw: input is not an attestation document in raw CBOR, hex or base64" ]
	run -64 --separate-stderr oys-attest --url ftp://x
	[ "$stderr" = "oys-attest: attestation server URL 'ftp://x' is not http:// or https://" ]
}
