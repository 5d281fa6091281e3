// Checks of the citation fields that a pattern cannot make: CITATION.cff
// (its schema), Zenodo and the RO-Crate take `license` as SPDX, a date as a
// day of the calendar, and an ORCID iD with its check digit. A mistake
// here was found only by a reader's tool, after the paper went out.
import correct from 'spdx-correct';
import parseSpdx from 'spdx-expression-parse';

/** The longest licence expression read. */
const LICENSE_MAX = 512;
/** The longest text spdx-correct is asked which licence it means. */
const GUESS_MAX = 64;

/** Why `license` is not an SPDX license identifier or expression, with the identifier it likely means. */
export function licenseProblem(license: string): string | undefined {
  // Both parsers are slow past a few hundred characters (spdx-correct's guesses grow with the square of the
  // length: 11 s at 560 KB; the parser recurses), and no licence needs that many.
  if (license.length > LICENSE_MAX) return `is ${license.length} characters long; an SPDX license expression here is at most ${LICENSE_MAX}`;
  try {
    parseSpdx(license);
    return undefined;
  } catch {
    const meant = license.length <= GUESS_MAX ? correct(license) : null;
    const hint = meant && meant !== license ? `did you mean "${meant}"? ` : '';
    return `"${license}" is not an SPDX license identifier or expression (${hint}e.g. MIT, GPL-3.0-or-later, MIT OR Apache-2.0, or LicenseRef-NAME for another; see https://spdx.org/licenses/)`;
  }
}

/** Why YYYY-MM-DD is not a day of the calendar (2026-02-30). */
export function dateProblem(date: string): string | undefined {
  const t = Date.parse(`${date}T00:00:00Z`);
  return Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== date ? `${date} is not a day of the calendar` : undefined;
}

/** Why an ORCID iD's last character is not its check digit (ISO 7064 MOD 11-2): a digit mistyped. */
export function orcidProblem(orcid: string): string | undefined {
  const digits = orcid.replace(/^https:\/\/orcid\.org\//, '').replace(/-/g, '');
  let total = 0;
  for (const d of digits.slice(0, 15)) total = (total + Number(d)) * 2;
  const check = (12 - (total % 11)) % 11;
  return digits[15] === (check === 10 ? 'X' : String(check)) ? undefined : `${orcid} is not an ORCID iD: its check digit does not match (a digit mistyped?)`;
}
