// DSSE envelopes (Dead Simple Signing Envelope v1) with ed25519 keys, from Node's crypto.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { fail, ok, type Result } from '../diag.js';
import { formatSize, readBounded } from '../safefs.js';

export const IN_TOTO_PAYLOAD = 'application/vnd.in-toto+json';

export interface Envelope {
  payloadType: string;
  /** base64 of the payload bytes. */
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** Pre-Authentication Encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** A key id: sha256 of the public key's DER (SubjectPublicKeyInfo), hex. */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const der = pub.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}

export function loadPrivateKey(pem: string | Buffer): KeyObject {
  const k = createPrivateKey(pem);
  if (k.asymmetricKeyType !== 'ed25519') throw new Error(`expected an ed25519 private key, got ${k.asymmetricKeyType}`);
  return k;
}

export function loadPublicKey(pem: string | Buffer): KeyObject {
  const k = createPublicKey(pem);
  if (k.asymmetricKeyType !== 'ed25519') throw new Error(`expected an ed25519 public key, got ${k.asymmetricKeyType}`);
  return k;
}

/**
 * The most rep reads of a key file. An ed25519 key in PEM is about 120 bytes
 * and an RSA one a few KiB; the bound is there because the file is named by
 * the user and could be /dev/zero, a named pipe or a disk image, which an
 * unbounded read grew to gigabytes or waited on for ever.
 */
export const KEY_LIMIT = 64 << 10;

/**
 * The key in `file`, given on the command line as `flag` (--key, --sign): a
 * regular file (a link to one is followed, as for any file the user names)
 * of at most KEY_LIMIT bytes holding an ed25519 key. What is wrong with it is
 * a mistake in what the user gave (exit 2), said with the flag.
 */
export function keyFromFile(file: string, kind: 'public' | 'private', flag: string): Result<KeyObject> {
  const bad = (message: string) => fail<KeyObject>({ kind: 'flag', flag: `${flag} ${file}`, message });
  const r = readBounded(file, { follow: true, limit: KEY_LIMIT });
  if (!r.ok) return bad(r.code === 'EFBIG' ? `larger than ${formatSize(KEY_LIMIT)}: not a key file` : r.message);
  try {
    return ok(kind === 'public' ? loadPublicKey(r.bytes) : loadPrivateKey(r.bytes));
  } catch (e) {
    return bad(`cannot use as ${kind === 'public' ? 'a public' : 'a signing'} key: ${(e as Error).message}`);
  }
}

export function signEnvelope(payload: Buffer, key: KeyObject, payloadType = IN_TOTO_PAYLOAD): Envelope {
  const sig = sign(null, pae(payloadType, payload), key);
  return { payloadType, payload: payload.toString('base64'), signatures: [{ keyid: keyId(key), sig: sig.toString('base64') }] };
}

/** The most signatures one envelope may carry: more is refused, not checked one by one. */
export const MAX_SIGNATURES = 16;

/** Whether one of the envelope's signatures (at most MAX_SIGNATURES) is by `key` over its payload. */
export function verifyEnvelope(env: Envelope, key: KeyObject): boolean {
  if (typeof env.payload !== 'string' || typeof env.payloadType !== 'string' || !Array.isArray(env.signatures)) return false;
  if (env.signatures.length > MAX_SIGNATURES) return false;
  const signed = pae(env.payloadType, Buffer.from(env.payload, 'base64'));
  return env.signatures.some((s) => {
    try {
      return typeof s?.sig === 'string' && verify(null, signed, key, Buffer.from(s.sig, 'base64'));
    } catch {
      return false;
    }
  });
}
