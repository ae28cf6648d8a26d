// tests/signed-answer.mjs: an independent implementation of oys's signed answers, on the
// widely used @noble/secp256k1 and @noble/hashes (pinned in deps/), for tests/oys-sign.bats.
// Nothing here shares code with lib/: the digests are rebuilt from oys(7), "Signed answers".
//
//   node signed-answer.mjs digest v2|oys METHOD PATH REQFILE RESPFILE [STATUS CODE_ID REQUEST_ID TIMESTAMP]
//   node signed-answer.mjs sign KEYFILE DIGEST      r||s||v (v = 27 + recovery id), 130 hex
//   node signed-answer.mjs recover DIGEST SIG       the signer's 64-byte public key, 128 hex
//   node signed-answer.mjs pubkey KEYFILE           the key's 64-byte public key, 128 hex
import { readFileSync } from 'node:fs';
import * as secp from '../deps/node_modules/@noble/secp256k1/index.js';
import { hmac } from '../deps/node_modules/@noble/hashes/hmac.js';
import { sha256 } from '../deps/node_modules/@noble/hashes/sha2.js';
import { keccak_256 } from '../deps/node_modules/@noble/hashes/sha3.js';

secp.hashes.sha256 = sha256;
secp.hashes.hmacSha256 = (key, msg) => hmac(sha256, key, msg);

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => Uint8Array.from(Buffer.from(s.replace(/^0x/, ''), 'hex'));
const text = (s) => new TextEncoder().encode(s);
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
const field = (bytes) => Buffer.concat([u32(bytes.length), bytes]);
const body = (bytes) => Buffer.concat([u64(bytes.length), bytes]);

function secretOf(file) {
	const raw = readFileSync(file);
	return raw.length === 32 ? Uint8Array.from(raw) : unhex(raw.toString().trim());
}

const [cmd, ...a] = process.argv.slice(2);
if (cmd === 'digest') {
	const [format, method, path, reqFile, respFile, status, codeId, requestId, timestamp] = a;
	const req = readFileSync(reqFile), resp = readFileSync(respFile);
	const parts = format === 'v2'
		? [text('oyster-signature-v2\0'), field(text(method)), field(text(path)), body(req), body(resp)]
		: [text('oys-signature-v1\0'), field(text(method)), field(text(path)), field(text(status)),
			field(text(codeId)), field(text(requestId)), field(text(timestamp)), body(req), body(resp)];
	console.log(hex(keccak_256(Buffer.concat(parts))));
} else if (cmd === 'sign') {
	// noble's recovered format is recovery || r || s; Ethereum's is r || s || 27 + recovery
	const sig = secp.sign(unhex(a[1]), secretOf(a[0]), { prehash: false, format: 'recovered' });
	console.log(hex(sig.slice(1)) + (27 + sig[0]).toString(16));
} else if (cmd === 'recover') {
	const s = unhex(a[1]);
	const noble = Uint8Array.from([s[64] - 27, ...s.slice(0, 64)]);
	console.log(hex(secp.recoverPublicKey(noble, unhex(a[0]), { prehash: false, isCompressed: false }).slice(1)));
} else if (cmd === 'pubkey') {
	console.log(hex(secp.getPublicKey(secretOf(a[0]), false).slice(1)));
} else {
	console.error('usage: signed-answer.mjs digest|sign|recover|pubkey ...');
	process.exit(64);
}
