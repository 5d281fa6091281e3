// The provenance statement of a bundle, read back: its shape checked before
// any field is used, and the step keys it records recomputed from the
// bundle's own Repfile and unpacked context.
import path from 'node:path';
import { isJsonMap, shallowJson } from '../canonical.js';
import { StatCache } from '../context/hash.js';
import { formatDiagnostic } from '../diag.js';
import { PREDICATE_TYPE, STATEMENT_TYPE, type ResourceDescriptor, type Statement } from '../emit/provenance.js';
import { SBOM_FILE } from '../sbom/sbomfile.js';
import { resolverFor } from '../lock/lockfile.js';
import { hashInputs, Planner } from '../plan/plan.js';
import { KEY_FORMAT, type EngineFacts } from '../plan/key.js';
import { VERSION } from '../version.js';
import { openProject } from '../project.js';
import { escaped, shown } from './bundlefs.js';

/** The statement, if `text` is one with the fields verify reads. */
export function parseStatement(text: Buffer): Statement | undefined {
  let s: Statement;
  try {
    s = shallowJson(text.toString('utf8')) as Statement;
  } catch {
    return undefined;
  }
  // Digests and annotations are maps of strings: a nested value there would reach string code (and a
  // deeply nested one would exhaust the stack when printed).
  const strings = (x: unknown) => isJsonMap(x) && Object.values(x).every((v) => typeof v === 'string');
  // A digest is lowercase hex (in-toto's DigestSet), a sha256 64 digits of it: verify prints digests, and one
  // holding terminal escapes drew a clean report over the real one (found by an adversarial review).
  const digests = (x: unknown) => isJsonMap(x) && Object.entries(x).every(([k, v]) => typeof v === 'string' && (k === 'sha256' ? /^[0-9a-f]{64}$/ : /^[0-9a-f]{1,256}$/).test(v));
  const descriptors = (x: unknown) => Array.isArray(x) && x.every((d) => isJsonMap(d) && (d.name === undefined || typeof d.name === 'string') && (d.digest === undefined || digests(d.digest)) && (d.annotations === undefined || strings(d.annotations)));
  const ok =
    isJsonMap(s) && s._type === STATEMENT_TYPE && s.predicateType === PREDICATE_TYPE && descriptors(s.subject) && isJsonMap(s.predicate) &&
    isJsonMap(s.predicate.buildDefinition) && isJsonMap(s.predicate.buildDefinition.externalParameters) && isJsonMap(s.predicate.buildDefinition.internalParameters) &&
    descriptors(s.predicate.buildDefinition.resolvedDependencies) &&
    isJsonMap(s.predicate.runDetails) && descriptors(s.predicate.runDetails.byproducts) && s.predicate.runDetails.byproducts.every((b) => typeof b.name === 'string');
  return ok ? s : undefined;
}

/** The byproducts that are steps (step:NAME, with the key as digest); the others are files such as the SBOM. */
export const stepsOf = (s: Statement): ResourceDescriptor[] => s.predicate.runDetails.byproducts.filter((b) => b.name!.startsWith('step:'));

/** Whether each SBOM the statement names is the bundle's sbom.cdx.json, byte for byte (name -> sha256 of the bundle's files). */
export function sbomProblems(statement: Statement, present: ReadonlySet<string>, hashes: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const b of statement.predicate.runDetails.byproducts.filter((x) => x.annotations?.kind === 'sbom')) {
    if (b.name !== SBOM_FILE) out.push(`the statement names an SBOM ${shown(b.name!)}; a bundle's SBOM is ${SBOM_FILE}`);
    else if (!present.has(SBOM_FILE)) out.push(`missing: ${SBOM_FILE}`);
    else if (hashes.has(SBOM_FILE) && hashes.get(SBOM_FILE) !== b.digest?.sha256) out.push(`${SBOM_FILE} does not match the statement's byproduct`);
  }
  return out;
}

/**
 * What the engine said the keys depend on, as the statement records it: the platform it built for,
 * and the image id of each base no digest pinned. They are the builder's word, as the keys are:
 * what is checked here is that the bundle's files give the keys the statement says they gave.
 */
function statedFacts(statement: Statement): EngineFacts {
  const { internalParameters, resolvedDependencies } = statement.predicate.buildDefinition;
  const platform = typeof internalParameters.platform === 'string' ? internalParameters.platform : undefined;
  const baseIds = new Map<string, string>();
  const named = new Set<string>();
  for (const d of resolvedDependencies) {
    if (d.annotations?.kind !== 'base-image' || typeof d.name !== 'string') continue;
    // A base named twice says two things: it keys with neither.
    if (named.has(d.name)) {
      baseIds.delete(d.name);
      continue;
    }
    named.add(d.name);
    const hex = d.digest?.sha256;
    if (d.annotations.digestSource === 'image-id' && typeof hex === 'string' && /^[0-9a-f]{64}$/.test(hex)) baseIds.set(d.name, `sha256:${hex}`);
  }
  return { ...(platform ? { platform } : {}), baseIds };
}

/** Where the keys the Repfile and the unpacked context give differ from the statement's. */
export function stepKeyProblems(statement: Statement, recipeDir: string, ctxDir: string): string[] {
  const out: string[] = [];
  // Keys of another format are not this rep's to recompute: said as such, not as keys that differ (tampering).
  const stated = statement.predicate.buildDefinition.internalParameters.keyFormat;
  const format = stated === undefined ? 2 : stated;
  if (format !== KEY_FORMAT) {
    const builder: unknown = statement.predicate.runDetails.builder;
    const by = isJsonMap(builder) && isJsonMap(builder.version) ? builder.version.rep : undefined;
    const rep = typeof by === 'string' ? ` (rep ${shown(by)})` : '';
    return [`the statement's step keys are of key format ${typeof format === 'number' ? format : shown(JSON.stringify(format))}${rep}; this rep (${VERSION}) keys with format ${KEY_FORMAT} and cannot recompute them: check the keys with the rep that published the bundle`];
  }
  const project = openProject({ file: path.join(recipeDir, 'Repfile'), context: ctxDir, cwd: recipeDir, keysOnly: true });
  if (!project.ok) return project.errors.map((d) => escaped(formatDiagnostic(d)));
  const p = project.value;
  const hashed = hashInputs(p.dag, p.ctx, new StatCache());
  if (!hashed.ok) return hashed.errors.map((d) => escaped(formatDiagnostic(d)));
  const recorded = new Map(stepsOf(statement).map((b) => [b.name!.replace(/^step:/, ''), b]));
  const nonces: Record<string, string> = {};
  for (const [n, b] of recorded) if (typeof b.annotations?.nonce === 'string') nonces[n] = b.annotations.nonce;
  const planner = new Planner(p.dag, hashed.value, { resolveBase: resolverFor(p.lock?.value), nonces, facts: statedFacts(statement) });
  const digestOf = (producer: string, producerKey: string) => {
    const d = recorded.get(producer)?.annotations?.outputsDigest;
    return typeof d === 'string' ? d : `key:${producerKey}`;
  };
  for (const name of p.dag.order) {
    const keyed = planner.key(name, digestOf);
    planner.settle(name, keyed, true);
    const { key } = keyed;
    const want = recorded.get(name)?.digest?.sha256;
    if (!want) out.push(`step ${name} is not in the statement`);
    else if (`sha256:${want}` !== key) out.push(`step ${name}: the bundle gives key ${key}, the statement records sha256:${shown(String(want))}`);
  }
  for (const n of recorded.keys()) if (!p.dag.nodes.has(n)) out.push(`the statement records step ${shown(n)}, which the Repfile does not have`);
  return out;
}
