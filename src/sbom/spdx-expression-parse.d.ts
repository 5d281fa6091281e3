// Types for spdx-expression-parse (it ships none): it returns the parsed
// expression and throws on text that is not an SPDX license expression.
declare module 'spdx-expression-parse' {
  export default function parse(expression: string): unknown;
}
