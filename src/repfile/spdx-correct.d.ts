// Types for spdx-correct (it ships none): the SPDX identifier it takes a
// license name to mean ("Apache 2.0" -> "Apache-2.0"), or null.
declare module 'spdx-correct' {
  export default function correct(name: string, options?: { upgrade?: boolean }): string | null;
}
