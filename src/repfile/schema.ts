// The one schema of a Repfile: it gives the TypeScript types, the validation
// and the published JSON Schema (`rep schema`).
import { z } from 'zod';
import { clip } from '../diag.js';
import { IMAGE_NAME_TAG, IMAGE_REFERENCE, imageRefProblem, looksLikeImageId, namesRepImage, sameNameTag } from '../lock/reference.js';
import { dropPatternProblem } from '../repro/drop.js';
import { dateProblem, licenseProblem, orcidProblem } from './citecheck.js';

export const STEP_NAME = /^[a-z][a-z0-9_.-]*$/;
export const STEP_NAME_MAX = 63;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const stepName = z
  .string()
  .regex(STEP_NAME, { error: 'a step name is lowercase letters, digits, "-", "_" or "." and starts with a letter' })
  .max(STEP_NAME_MAX, { error: `a step name has at most ${STEP_NAME_MAX} characters` });

// Text that reaches a Dockerfile, or a file people read (CITATION.cff, CITE.md),
// holds no control character (C0, DEL, C1) and nothing that reorders or breaks
// what a reader sees ("Trojan Source"): no bidirectional override, isolate or
// mark, no Unicode line or paragraph separator. In a field that becomes one
// Dockerfile line, a newline would start a new instruction.
const BIDI_CLASS = '\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069';
const HIDDEN = `\\x7f-\\x9f\\u2028\\u2029${BIDI_CLASS}`;
/** A bidirectional control (override, isolate, mark), which reorders what a reader sees: refused in every field. */
export const BIDI = new RegExp(`[${BIDI_CLASS}]`);
/**
 * One character of those, tab and newline included, or one that shows nothing (zero-width space, joiners, word
 * joiner, byte order mark): a name of the context the Dockerfile cannot show as it is. BuildKit's lexer drops a
 * byte order mark at the start of a word, so that `COPY ["\uFEFFsrc", …]` copied `src` (a review); `src\u200B`
 * reads as `src`. Text elsewhere (descriptions, commands) may hold joiners: some scripts and emoji need them.
 */
export const UNSHOWABLE = new RegExp(`[\\x00-\\x1f${HIDDEN}\\u200b-\\u200d\\u2060\\ufeff]`);
const NO_CONTROL = new RegExp(`^[^\\x00-\\x1f${HIDDEN}]*$`);
/** One character a one-line field refuses (cmd, entrypoint, shell, volumes): what NO_CONTROL finds. */
export const FIELD_CONTROL = new RegExp(`[\\x00-\\x1f${HIDDEN}]`);
/** Newlines and tabs allowed: shell commands, descriptions. */
const LINES = new RegExp(`^[^\\x00-\\x08\\x0b-\\x1f${HIDDEN}]*$`);
/** One character `run` refuses (newlines and tabs are fine there): what LINES finds. */
export const RUN_CONTROL = new RegExp(`[\\x00-\\x08\\x0b-\\x1f${HIDDEN}]`);
/** Tabs allowed: ENV and LABEL values, which are written quoted (a newline cannot be). */
const TABS = new RegExp(`^[^\\x00-\\x08\\x0a-\\x1f${HIDDEN}]*$`);

/**
 * A string that stays on one Dockerfile line. `abort` skips the checks after it
 * when it fails (not inside a union: zod then drops the branch's own message).
 */
const oneLine = (what: string, abort = false) =>
  z.string().regex(NO_CONTROL, { error: `${what} must not contain control characters or bidirectional overrides (a newline here would start a new Dockerfile instruction)`, abort });

/** A user (USER): a line that does not start with "-", which the Dockerfile would read as a flag of USER. */
const userName = oneLine('user').min(1).regex(/^[^-]/, { error: 'a user does not start with "-" (Dockerfile USER would read it as a flag)' });

// A pattern rather than startsWith, which the JSON Schema would carry as an unknown `format`.
const absPath = (what: string, noun = 'a path') =>
  oneLine(noun).regex(/^\//, { error: `${what} is an absolute path inside the image (starts with "/")` });

/** An image reference (Docker's grammar); `digest: false` for a name to tag with, NAME[:TAG]. */
const imageRef = (digest: boolean) => {
  const why = (input: unknown) => imageRefProblem(String(input), { digest }) ?? 'not an image reference';
  return oneLine(digest ? 'an image reference' : 'an image name', true)
    .min(1, { abort: true })
    .regex(digest ? IMAGE_REFERENCE : IMAGE_NAME_TAG, { error: (iss) => why(iss.input), abort: true })
    .refine((s) => imageRefProblem(s, { digest }) === undefined, { error: (iss) => why(iss.input) })
    // What of the refinement a JSON Schema can say: 64 hex digits name an image id.
    .meta({ not: { pattern: '^[a-f0-9]{64}$' } });
};

/** One string, or a list of them: `run: make` and `run: [a, b]` both read naturally. */
const oneOrMany = <T extends z.ZodType>(item: T, what: string) =>
  z.union([item, z.array(item)], { error: `expected ${what} or a list of them` });

const envValue = z.union([z.string().regex(TABS, { error: 'an environment value must not contain newlines, other control characters or bidirectional overrides (Dockerfile ENV cannot express a newline; tabs are fine)' }), z.number(), z.boolean()], {
  error: 'an environment value is a string, number or boolean',
});

const env = z
  .record(z.string().regex(ENV_NAME, { error: 'an environment variable name is letters, digits and "_", not starting with a digit' }), envValue)
  .describe('Environment variables set with ENV, inherited by the steps built on this one. A value written as a number or boolean is kept as written: 3.10 stays "3.10".');

export const stepSchema = z
  .strictObject({
    description: z
      .string()
      .regex(LINES, { error: 'a description must not contain control characters other than newlines and tabs, nor bidirectional overrides (each line becomes a Dockerfile comment)' })
      .optional().describe('What this step is for (written above the step in the Dockerfile, one comment line each).'),
    run: oneOrMany(z.string().regex(LINES, { error: 'a shell command must not contain control characters other than newlines and tabs, nor bidirectional overrides' }), 'a shell command')
      .optional()
      .describe('Shell commands run in this step, in order, as one layer.'),
    inputs: oneOrMany(z.string().min(1), 'a glob')
      .optional()
      .describe('Globs (relative to the context) of files copied into the workdir, keeping their relative paths. A directory means everything under it.'),
    needs: oneOrMany(stepName, 'a step name')
      .optional()
      .describe('Steps this one depends on. The first is the step it builds on (unless `from` is set); the others must declare `outputs`, which are copied in.'),
    from: oneLine('an image or step')
      .min(1)
      .optional()
      .describe('Start a separate stage from an image (e.g. busybox:latest) or extend another step.'),
    outputs: oneOrMany(absPath('an output'), 'an absolute path')
      .optional()
      .describe('Absolute paths this step produces for other stages to import (copied to the same path).'),
    env: env.optional(),
    workdir: absPath('workdir', 'workdir').optional().describe('Working directory for this step and the steps built on it.'),
    user: userName.optional().describe('User the commands run as (USER); inherited by the steps built on it.'),
    shell: z.array(oneLine('a shell argument')).min(1).optional().describe('Shell used for `run`, e.g. ["/bin/bash", "-euo", "pipefail", "-c"].'),
    phony: z.boolean().optional().describe('Always rebuild this step, like a Make .PHONY target.'),
    secrets: z
      .array(z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: 'a secret id is letters, digits, ".", "_" or "-"' }))
      .optional()
      .describe('Secrets (declared under the top-level secrets) its commands can read at /run/secrets/ID; never stored in a layer (BuildKit).'),
  })
  .describe('A step: a few layers built on the step (or image) below it.');

// A port is the same range written as a number or as a string with its protocol: "99999/tcp" and "0" were
// emitted as EXPOSE lines that the numbers 99999 and 0 were refused for. Leading zeros are Docker's to read ("00080" is 80).
const PORT_ERROR = 'a port is a number from 1 to 65535, alone or with /tcp, /udp or /sctp (e.g. 8080 or "53/udp")';
const port = z.union(
  [
    z.number({ error: PORT_ERROR }).int({ error: PORT_ERROR }).min(1, { error: PORT_ERROR }).max(65535, { error: PORT_ERROR }),
    z
      .string({ error: PORT_ERROR })
      .regex(/^\d+(\/(tcp|udp|sctp))?$/, { error: PORT_ERROR, abort: true })
      .refine((p) => {
        const n = Number(p.split('/')[0]);
        return n >= 1 && n <= 65535;
      }, { error: PORT_ERROR }),
  ],
  { error: PORT_ERROR },
);

export const imageSchema = z
  .strictObject({
    from: stepName.optional().describe('The step whose result is the image (default: the only step nothing builds on).'),
    tag: imageRef(false).optional().describe("Tag for the final image (default: NAME:latest); not one of rep's own names (rep-cache, rep-verify/) nor an image the Repfile builds on."),
    cmd: oneOrMany(oneLine('a command'), 'a string').optional(),
    entrypoint: oneOrMany(oneLine('a command'), 'a string').optional(),
    expose: z.array(port).optional(),
    volumes: z.array(absPath('a volume')).optional(),
    user: userName.optional(),
    labels: z
      .record(
        oneLine('a label key', true)
          .min(1, { error: 'a label key must not be empty', abort: true })
          .regex(/^[^=]*$/, { error: 'a label key must not contain "=" (Dockerfile LABEL KEY=VALUE cannot express it)' })
          // "\u200bmaintainer" shows as maintainer, and is another key (a review).
          .refine((k) => !UNSHOWABLE.test(k), { error: 'a label key must not contain a character that shows nothing (a zero-width space or joiner, a word joiner, a byte order mark): it would read as another key' }),
        z.string().regex(TABS, { error: 'a label value must not contain newlines, other control characters or bidirectional overrides (Dockerfile LABEL cannot express a newline; tabs are fine)' }),
      )
      .optional(),
  })
  .describe('The final image: which step it is, and its runtime settings.');

// Citation text goes into CITATION.cff, CITE.md, CITE.tex, REPRODUCE.md and the RO-Crate, which readers
// render or cat: the characters a Dockerfile field refuses (above), one line but for the abstract.
const citeLine = (what: string, min = 1) =>
  // One newline at the end is dropped: a YAML block scalar (title: >) keeps one.
  z.preprocess(
    (v) => (typeof v === 'string' ? v.replace(/\n$/, '') : v),
    z.string().min(min).regex(NO_CONTROL, { error: `${what} must be one line without control characters or bidirectional overrides (it goes into CITATION.cff, CITE.md and REPRODUCE.md)` }),
  );

/** A check whose message names the value: one issue at the field, or none. */
const problemOf =
  (problem: (v: string) => string | undefined) =>
  (v: string, ctx: z.RefinementCtx): void => {
    const p = problem(v);
    if (p) ctx.addIssue({ code: 'custom', message: p });
  };

const orcid = z
  .string()
  .regex(/^(https:\/\/orcid\.org\/)?\d{4}-\d{4}-\d{4}-\d{3}[\dX]$/, { error: 'an ORCID iD looks like 0000-0002-1825-0097 (or https://orcid.org/0000-0002-1825-0097)', abort: true })
  .superRefine(problemOf(orcidProblem));

export const authorSchema = z
  .strictObject({
    given: citeLine('given').optional().describe('Given names of a person.'),
    family: citeLine('family').optional().describe('Family names of a person.'),
    name: citeLine('name').optional().describe('Name of an organisation (instead of given/family).'),
    orcid: orcid.optional(),
    affiliation: citeLine('affiliation').optional(),
    email: citeLine('email', 3).optional(),
  })
  .refine((a) => a.name !== undefined || a.family !== undefined, { error: 'an author needs family (and given) names, or a name for an organisation' })
  .meta({ anyOf: ['name', 'family'].map((k) => ({ type: 'object', properties: { [k]: true }, required: [k] })) });

export const publishSchema = z
  .strictObject({
    title: citeLine('title').describe('Title of the work the image belongs to.'),
    authors: z.array(authorSchema).min(1),
    abstract: z.string().regex(LINES, { error: 'abstract must not contain control characters but newlines and tabs, nor bidirectional overrides' }).optional(),
    license: citeLine('license').superRefine(problemOf(licenseProblem)).optional().describe('SPDX identifier or expression, e.g. MIT, CC-BY-4.0 or MIT OR Apache-2.0.'),
    doi: z
      .string()
      .regex(/^10\.\d{4,9}\/[!-~]+$/, { error: 'a DOI looks like 10.5281/zenodo.1234567 (visible ASCII characters)' })
      .optional(),
    version: citeLine('version').optional(),
    'date-released': z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'a date looks like 2026-11-25', abort: true })
      .superRefine(problemOf(dateProblem))
      .optional(),
    keywords: z.array(citeLine('a keyword')).optional(),
    // CITATION.cff's url (a uri there; readers open it): a web address, not javascript: or file:, and no blank, which the
    // URL parser takes but CFF's uri format does not.
    url: z
      .url({ protocol: /^https?$/, error: 'a url is a web address, https://… or http://…' })
      // A refinement, not a pattern: the published JSON Schema keeps format uri (a pattern took its place there).
      .refine((u) => !/[\s<>"`]/.test(u), { error: 'a url has no blanks, <, >, " or `: write them %-encoded' })
      .optional(),
  })
  .describe('Citation metadata for `rep publish` (CITATION.cff, RO-Crate).');

export const secretSchema = z
  .union([z.strictObject({ file: oneLine('a secret file path').min(1) }), z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/) })], {
    error: 'a secret comes from a file ({file: PATH}, relative to the Repfile) or an environment variable ({env: NAME})',
  })
  .describe('Where a secret comes from when building; its value never enters a key, a layer, a log or the provenance.');

export const reproducibleSchema = z
  .union(
    [
      z.literal(false),
      z.strictObject({
        epoch: z
          .number()
          .int({ error: 'the epoch is a whole number of seconds since 1970-01-01T00:00:00Z' })
          .min(0, { error: 'the epoch is a whole number of seconds since 1970-01-01T00:00:00Z' })
          .max(253402300799, { error: 'the epoch is at most 253402300799 (9999-12-31T23:59:59Z)' })
          .optional()
          .describe('SOURCE_DATE_EPOCH: every time in the layers rep writes is set to it, and every RUN sees it (default 315532800, 1980-01-01).'),
        drop: z
          .array(
            oneLine('a path pattern')
              .min(1)
              .regex(/^[^/]/, { error: 'a drop pattern is a path inside the image without the leading "/", e.g. var/log/*.log' }),
          )
          .superRefine((patterns, ctx) => {
            // Each at its place; together (with the default list) only when each is fine alone.
            let alone = true;
            patterns.forEach((p, i) => {
              const problem = dropPatternProblem(p);
              if (problem) ctx.addIssue({ code: 'custom', path: [i], message: `this drop pattern cannot be matched: ${problem}` });
              alone &&= problem === undefined;
            });
            const problem = alone ? dropPatternProblem(patterns) : undefined;
            if (problem) ctx.addIssue({ code: 'custom', message: `these drop patterns cannot be matched together: ${problem}` });
          })
          .optional()
          .describe('More paths (globs, without the leading "/") to leave out of the layers the steps make, besides the default list.'),
      }),
    ],
    { error: 'reproducible is false, or {epoch: SECONDS, drop: [PATTERN, ...]}' },
  )
  .describe('The image rep writes after the build: canonical layers and config, so that its ID depends only on the base, the Repfile, the inputs and the bytes the steps make (false: keep the engine\'s image).');

const repfileObject = z
  .strictObject({
    rep: z.literal(1, { error: 'the Repfile format version; write `rep: 1`' }),
    name: z
      .string()
      .regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, { error: 'a name is lowercase letters and digits, separated by ".", "_" or "-" (it names the image)' })
      .describe('Project name; the image is tagged NAME:latest unless image.tag says otherwise.'),
    base: imageRef(true).describe('Base image of the first stage, e.g. debian:bookworm-slim.'),
    workdir: absPath('workdir', 'workdir').optional().describe('Working directory inputs are copied to (default /work).'),
    env: env.optional(),
    steps: z
      .record(z.string(), stepSchema)
      .refine((s) => Object.keys(s).length > 0, { error: 'a Repfile has at least one step' })
      // Step names are checked by the loader (to point at the key); the JSON Schema says the same.
      .meta({
        description: 'The steps, by name.',
        minProperties: 1,
        propertyNames: { type: 'string', pattern: STEP_NAME.source, maxLength: STEP_NAME_MAX },
      }),
    image: imageSchema.optional(),
    secrets: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: 'a secret id is letters, digits, ".", "_" or "-"' }), secretSchema).optional(),
    publish: publishSchema.optional(),
    reproducible: reproducibleSchema.optional(),
  });

export const repfileSchema = repfileObject.superRefine((doc, ctx) => imageNameProblems(doc, ctx)).describe('A Repfile: how rep builds a container image.');

/** The tag of the final image when image.tag does not say. */
export const defaultImageTag = (name: string) => `${name}:latest`;

const OWN_IMAGES = 'rep-cache holds the step images of every project on this machine, rep-pin those a running build uses, rep-verify/ what rep verify rebuilds';

/**
 * Image names the Repfile may not use (each checked only when it is a valid
 * reference: the field's own check says what is wrong otherwise). The final
 * image's tag is not one of rep's own: a step is fresh when rep-cache:KEY exists,
 * so a Repfile tagging its image rep-cache:KEY would pass it off as a step of
 * another project. It is not an image this Repfile starts from either, which it
 * would replace for every other project. And nothing starts from rep's own
 * images: they are one machine's cache (rep gc removes them, no registry or
 * lock has them), and a Repfile naming one would build on another project's step.
 */
function imageNameProblems(doc: z.infer<typeof repfileObject>, ctx: z.RefinementCtx): void {
  const valid = (ref: string | undefined, digest: boolean): ref is string => ref !== undefined && imageRefProblem(ref, { digest }) === undefined;
  const starts: { ref: string; path: (string | number)[] }[] = [];
  if (valid(doc.base, true)) starts.push({ ref: doc.base, path: ['base'] });
  for (const [name, step] of Object.entries(doc.steps)) {
    // A `from` naming a step is that step; anything else is an image.
    if (step.from !== undefined && !Object.hasOwn(doc.steps, step.from) && valid(step.from, true)) starts.push({ ref: step.from, path: ['steps', name, 'from'] });
  }
  for (const s of starts) {
    if (looksLikeImageId(s.ref)) {
      ctx.addIssue({ code: 'custom', path: s.path, message: `${JSON.stringify(clip(s.ref))} reads as an image id, which names an image of this machine only (another project's step, say), not one a registry or a lock can name: start from an image by name with its tag (${JSON.stringify(`${clip(s.ref)}:latest`)}), or pin it by digest (name@sha256:…)` });
      continue;
    }
    if (namesRepImage(s.ref)) {
      ctx.addIssue({ code: 'custom', path: s.path, message: `${JSON.stringify(clip(s.ref))} is one of rep's own images (${OWN_IMAGES}), not an image to build on: start from a published image, or name the step to build on` });
    }
  }
  const tag = doc.image?.tag ?? defaultImageTag(doc.name);
  const at = doc.image?.tag !== undefined ? ['image', 'tag'] : ['name'];
  const what = doc.image?.tag !== undefined ? JSON.stringify(clip(tag)) : `the image's tag, ${clip(tag)} (NAME:latest when image.tag does not say),`;
  if (!valid(tag, false)) return;
  if (namesRepImage(tag)) {
    ctx.addIssue({ code: 'custom', path: at, message: `${what} is one of rep's own image names (${OWN_IMAGES}): an image tagged so could pass for a cached step; choose another tag, e.g. ${doc.name === 'rep-cache' ? 'analysis' : doc.name}:latest` });
    return;
  }
  const same = starts.find((s) => sameNameTag(s.ref, tag));
  if (same) {
    ctx.addIssue({ code: 'custom', path: at, message: `${what} names the image ${same.path.join('.')} names, which this Repfile builds on: tagging the result so would replace ${clip(same.ref)} for every project that uses it; choose another tag` });
  }
}

export type RepfileDoc = z.infer<typeof repfileSchema>;
export type StepDoc = z.infer<typeof stepSchema>;
export type ImageDoc = z.infer<typeof imageSchema>;
export type PublishDoc = z.infer<typeof publishSchema>;
export type AuthorDoc = z.infer<typeof authorSchema>;

/** Field names, for "did you mean" on unknown keys. */
export const FIELDS = {
  top: Object.keys(repfileSchema.shape),
  step: Object.keys(stepSchema.shape),
  image: Object.keys(imageSchema.shape),
  publish: Object.keys(publishSchema.shape),
} as const;

/**
 * The published JSON Schema. It compiles in Ajv's strict mode, so it names no
 * format a validator may not know: a URL is said by its scheme (rep itself
 * parses it whole).
 */
export function repfileJsonSchema(): object {
  const override = ({ jsonSchema: s }: { jsonSchema: { format?: string; pattern?: string } }) => {
    if (s.format === 'uri') {
      delete s.format;
      s.pattern = '^[A-Za-z][A-Za-z0-9+.-]*:';
    }
  };
  return { title: 'Repfile', ...z.toJSONSchema(repfileSchema, { target: 'draft-2020-12', override }) };
}
