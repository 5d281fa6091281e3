// The signature over a whole bundle: bundle.dsse.json, a DSSE envelope whose
// in-toto Statement lists every other file of the bundle (SHA256SUMS, CITE.*
// and image.oci.tar included) with its sha256. Verify requires the files of the
// bundle to be exactly those, byte for byte. provenance.dsse.json stays what
// SLSA tools expect: the signed provenance statement alone.
import type { KeyObject } from 'node:crypto';
import { prettyJson, shallowJson } from '../canonical.js';
import { STATEMENT_TYPE } from '../emit/provenance.js';
import { IN_TOTO_PAYLOAD, signEnvelope, verifyEnvelope, type Envelope } from './dsse.js';
import { pathProblem, shown } from './bundlefs.js';

export const BUNDLE_SIGNATURE = 'bundle.dsse.json';
export const BUNDLE_PREDICATE = 'urn:rep:predicate:bundle:v1';

export interface BundleStatement {
  _type: string;
  subject: { name: string; digest: { sha256: string } }[];
  predicateType: string;
  predicate: { files: number };
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The statement that names every file (name -> sha256 hex) but the signature itself. */
export function bundleStatement(files: ReadonlyMap<string, string>): BundleStatement {
  const names = [...files.keys()].filter((n) => n !== BUNDLE_SIGNATURE).sort(byName);
  return {
    _type: STATEMENT_TYPE,
    subject: names.map((name) => ({ name, digest: { sha256: files.get(name)! } })),
    predicateType: BUNDLE_PREDICATE,
    predicate: { files: names.length },
  };
}

export function signBundle(files: ReadonlyMap<string, string>, key: KeyObject): Envelope {
  return signEnvelope(Buffer.from(prettyJson(bundleStatement(files))), key);
}

/** A DSSE envelope from JSON text, or why it is not one. */
export function parseEnvelope(text: Buffer, name: string): Envelope | string {
  let env: Partial<Envelope>;
  try {
    env = shallowJson(text.toString('utf8')) as Partial<Envelope>;
  } catch {
    return `${name} is not JSON`;
  }
  const ok =
    typeof env === 'object' && env !== null && typeof env.payloadType === 'string' && typeof env.payload === 'string' &&
    Array.isArray(env.signatures) && env.signatures.every((s) => typeof s?.sig === 'string');
  return ok ? (env as Envelope) : `${name} is not a DSSE envelope`;
}

/** What is wrong with the bundle's files (name -> sha256 of each regular file) against its signature by `key`. */
export function bundleSignatureProblems(text: Buffer, key: KeyObject, files: ReadonlyMap<string, string>): string[] {
  const env = parseEnvelope(text, BUNDLE_SIGNATURE);
  if (typeof env === 'string') return [env];
  if (env.payloadType !== IN_TOTO_PAYLOAD || !verifyEnvelope(env, key)) return [`${BUNDLE_SIGNATURE}: the signature is not by this key, or the signed list of files was changed`];
  let st: Partial<BundleStatement>;
  try {
    st = shallowJson(Buffer.from(env.payload, 'base64').toString('utf8')) as Partial<BundleStatement>;
  } catch {
    return [`${BUNDLE_SIGNATURE}: the signed statement is not JSON`];
  }
  if (st._type !== STATEMENT_TYPE || st.predicateType !== BUNDLE_PREDICATE || !Array.isArray(st.subject)) {
    return [`${BUNDLE_SIGNATURE}: the signed statement is not a list of the bundle's files (${BUNDLE_PREDICATE})`];
  }
  const problems: string[] = [];
  const signed = new Map<string, string>();
  for (const s of st.subject) {
    const name = typeof s?.name === 'string' ? s.name : '';
    const sha = s?.digest?.sha256;
    if (pathProblem(name) || typeof sha !== 'string' || signed.has(name) || name === BUNDLE_SIGNATURE) problems.push(`${BUNDLE_SIGNATURE}: the signed list holds a bad entry "${shown(name)}"`);
    else signed.set(name, sha);
  }
  for (const [name, sha] of [...files].sort(([a], [b]) => byName(a, b))) {
    if (name === BUNDLE_SIGNATURE) continue;
    const want = signed.get(name);
    if (want === undefined) problems.push(`${shown(name)} is not among the signed files: it was added after signing`);
    else if (want !== sha) problems.push(`${shown(name)} was changed after signing`);
  }
  for (const name of [...signed.keys()].sort(byName)) if (!files.has(name)) problems.push(`${shown(name)} was signed, and is missing or not a regular file`);
  return problems;
}
