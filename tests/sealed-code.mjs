// tests/sealed-code.mjs: an independent implementation of oys's sealed code, on Node's own
// crypto (OpenSSL underneath, but none of lib/), for tests/oys-store.bats and oys-fetch.bats.
// The format is rebuilt from oys-store(1), "Sealed code", byte by byte.
//
//   node sealed-code.mjs keygen KEYFILE               writes a fresh X25519 private key (hex) to
//                                                     KEYFILE, prints its public key, 64 hex
//   node sealed-code.mjs open KEYFILE NONCE CODE_ID   sealed code on stdin -> the code on stdout
//   node sealed-code.mjs seal PUBKEY NONCE CODE_ID    code on stdin -> sealed code on stdout
import { readFileSync, writeFileSync } from 'node:fs';
import crypto from 'node:crypto';

const INFO = Buffer.from('oys sealed code v1');
const b64u = (b) => Buffer.from(b).toString('base64url');
const unhex = (s, n, what) => {
	const b = Buffer.from(s, 'hex');
	if (b.length !== n || b.toString('hex') !== s.toLowerCase()) throw new Error(`${what}: not ${n} bytes of hex`);
	return b;
};

function privateKey(d) {
	// The public half from the private one: the JWK needs both.
	const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), d]);
	const key = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
	return { key, pub: Buffer.from(key.export({ format: 'jwk' }).x, 'base64url') };
}
const publicKey = (x) => crypto.createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64u(x) }, format: 'jwk' });

function keyOf(shared, nonce, epk, pk) {
	return Buffer.from(crypto.hkdfSync('sha256', shared, nonce, Buffer.concat([INFO, epk, pk]), 32));
}
const aadOf = (id, nonce) => Buffer.concat([Buffer.from([1]), id, nonce]);

const [cmd, ...args] = process.argv.slice(2);
const stdin = () => readFileSync(0);
if (cmd === 'keygen') {
	const d = crypto.randomBytes(32);
	writeFileSync(args[0], d.toString('hex') + '\n', { mode: 0o600 });
	process.stdout.write(privateKey(d).pub.toString('hex') + '\n');
} else if (cmd === 'open') {
	const me = privateKey(unhex(readFileSync(args[0], 'utf8').trim(), 32, 'key'));
	const nonce = unhex(args[1], 32, 'nonce'), id = unhex(args[2], 32, 'code id');
	const s = stdin();
	if (s.length < 61 || s[0] !== 1) throw new Error(`not sealed code of version 1 (${s.length} bytes)`);
	const epk = s.subarray(1, 33), iv = s.subarray(33, 45), ct = s.subarray(45, s.length - 16), tag = s.subarray(s.length - 16);
	const shared = crypto.diffieHellman({ privateKey: me.key, publicKey: publicKey(epk) });
	const d = crypto.createDecipheriv('aes-256-gcm', keyOf(shared, nonce, epk, me.pub), iv);
	d.setAAD(aadOf(id, nonce));
	d.setAuthTag(tag);
	process.stdout.write(Buffer.concat([d.update(ct), d.final()]));
} else if (cmd === 'seal') {
	const pk = unhex(args[0], 32, 'public key'), nonce = unhex(args[1], 32, 'nonce'), id = unhex(args[2], 32, 'code id');
	const eph = privateKey(crypto.randomBytes(32)), iv = crypto.randomBytes(12);
	const shared = crypto.diffieHellman({ privateKey: eph.key, publicKey: publicKey(pk) });
	const c = crypto.createCipheriv('aes-256-gcm', keyOf(shared, nonce, eph.pub, pk), iv);
	c.setAAD(aadOf(id, nonce));
	const ct = Buffer.concat([c.update(stdin()), c.final()]);
	process.stdout.write(Buffer.concat([Buffer.from([1]), eph.pub, iv, ct, c.getAuthTag()]));
} else {
	process.stderr.write('usage: sealed-code.mjs keygen KEYFILE | open KEYFILE NONCE CODE_ID | seal PUBKEY NONCE CODE_ID\n');
	process.exit(64);
}
