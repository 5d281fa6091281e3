// R as repo2docker sets it up (repo2docker/buildpacks/r.py): CRAN packages
// from a dated snapshot of Posit's package manager (runtime.txt
// r-[VERSION-]YYYY-MM-DD; without a date, two days before the build), the
// mirror written to R's Rprofile.site so install.packages() needs no repos
// argument; R of the version runtime.txt names (x.y -> its last patch release).
// rep init takes R from Debian when Debian's R is the one asked for (or none
// is), else from rocker/r-ver, the images of one R release each.

/** RBuildPack.r_version's map from x.y to the release installed. */
export const R_RELEASES: Record<string, string> = {
  '4.6': '4.6.1',
  '4.5': '4.5.1',
  '4.4': '4.4.2',
  '4.3': '4.3.3',
  '4.2': '4.2.3',
  '4.1': '4.1.3',
  '4.0': '4.0.5',
  '3.6': '3.6.3',
  '3.5': '3.5.3',
  '3.4': '3.4.4',
  '3.3': '3.3.3',
};
/** The release repo2docker installs for x.y (an own key only: runtime.txt may say "constructor"). */
export const rRelease = (xy: string): string | undefined => (Object.hasOwn(R_RELEASES, xy) ? R_RELEASES[xy] : undefined);
/** repo2docker's R when runtime.txt names none. */
export const R_DEFAULT = R_RELEASES['4.4']!;
/** The R of debian:bookworm's r-base-core. */
export const DEBIAN_R = '4.2.2';
/** The first snapshot of the package manager repo2docker accepts (RSPM_CUTOFF_DATE). */
export const SNAPSHOT_CUTOFF = '2018-12-07';

/** When each R x.y.0 came out (cran.r-project.org/src/base): the R current at a snapshot's date. */
const R_MINOR_DATES: [string, string][] = [
  ['3.3', '2016-05-03'],
  ['3.4', '2017-04-21'],
  ['3.5', '2018-04-23'],
  ['3.6', '2019-04-26'],
  ['4.0', '2020-04-24'],
  ['4.1', '2021-05-18'],
  ['4.2', '2022-04-22'],
  ['4.3', '2023-04-21'],
  ['4.4', '2024-04-24'],
  ['4.5', '2025-04-11'],
  ['4.6', '2026-04-24'],
];

/** x.y of the newest R released on or before `date`. */
export function rOfDate(date: string): string {
  let cur = R_MINOR_DATES[0]![0];
  for (const [v, d] of R_MINOR_DATES) if (d <= date) cur = v;
  return cur;
}

/** The package manager's CRAN snapshot of `date` (source packages; they compile with the build tools installed). */
export const snapshotUrl = (date: string) => `https://packagemanager.posit.co/cran/${date}`;

/** YYYY-MM-DD two days before `now`, as RBuildPack.detect takes when there is no date. */
export function twoDaysBefore(now: Date): string {
  return new Date(now.getTime() - 2 * 86_400_000).toISOString().slice(0, 10);
}

export interface RChoice {
  /** debian: Debian's r-base-core; else the rocker/r-ver tag. */
  image: 'debian' | string;
  /** The release it gives. */
  version: string;
  why: string;
}

/**
 * Which R: the release runtime.txt names (x.y -> R_RELEASES, x.y.z as is),
 * else the one current at the snapshot's date; Debian's when it is 4.2 (or
 * nothing asks for one), else rocker/r-ver of that release.
 */
export function chooseR(version: string | undefined, date: string | undefined): RChoice | { error: string } {
  let want: string | undefined;
  let why: string;
  if (version !== undefined) {
    if (/^\d+\.\d+\.\d+$/.test(version)) want = version;
    else want = rRelease(version);
    if (want === undefined) return { error: `R ${version} is not a version repo2docker knows (${Object.keys(R_RELEASES).join(', ')}, or x.y.z)` };
    why = `runtime.txt asks for R ${version}`;
  } else if (date !== undefined) {
    want = rRelease(rOfDate(date));
    why = `R ${rOfDate(date)} was current on ${date}, the snapshot date of runtime.txt`;
  } else {
    return { image: 'debian', version: DEBIAN_R, why: `no R version asked for: Debian bookworm's R ${DEBIAN_R}` };
  }
  if (want!.startsWith('4.2.')) return { image: 'debian', version: DEBIAN_R, why: `${why}: Debian bookworm's R ${DEBIAN_R}` };
  return { image: `rocker/r-ver:${want}`, version: want!, why: `${why}: rocker/r-ver:${want} has R ${want}` };
}

/** The line that makes `url` the CRAN mirror of every R session (Rscript too). */
export const setMirror = (url: string) => `echo 'options(repos = c(CRAN = "${url}"))' >> "$(R RHOME)/etc/Rprofile.site"`;
