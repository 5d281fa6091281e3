// Where each value of a Repfile stands in its text, so that any later stage
// (graph, context, plan) can point at the line that caused a problem.
import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node, type Pair, type YAMLMap } from 'yaml';
import type { FileProblem, Span } from '../diag.js';
import { formatPath } from '../diag.js';

export type FieldPath = readonly (string | number)[];

export class SourceMap {
  constructor(
    readonly file: string,
    readonly text: string,
    private readonly doc: Document.Parsed | undefined,
    private readonly lines: LineCounter,
  ) {}

  private span(range: readonly [number, number, number?] | null | undefined): Span | undefined {
    if (!range) return undefined;
    const s = this.lines.linePos(range[0]);
    const e = this.lines.linePos(range[1]);
    return { start: { line: s.line, col: s.col }, end: { line: e.line, col: e.col } };
  }

  spanOfOffsets(start: number, end: number): Span | undefined {
    return this.span([start, end]);
  }

  /** A map's pairs by key, the first of a name (made once a map: a Repfile of 20k steps with an error each asked 20k times). */
  private readonly pairs = new WeakMap<object, Map<string, Pair>>();

  private pairsOf(map: YAMLMap): Map<string, Pair> {
    let byKey = this.pairs.get(map);
    if (!byKey) {
      byKey = new Map();
      for (const p of map.items) {
        if (isPair(p) && isScalar(p.key) && !byKey.has(String(p.key.value))) byKey.set(String(p.key.value), p);
      }
      this.pairs.set(map, byKey);
    }
    return byKey;
  }

  /**
   * The span of the value at `path`; with `key`, of the map key naming it.
   * Falls back to the deepest existing ancestor, so a missing field points at
   * the map it is missing from.
   */
  spanOf(path: FieldPath, opts: { key?: boolean } = {}): Span | undefined {
    let node: unknown = this.doc?.contents;
    let keyNode: Node | undefined;
    let last: { node: unknown; key?: Node } = { node };
    for (const seg of path) {
      if (isMap(node)) {
        const pair = this.pairsOf(node).get(String(seg));
        if (!pair) break;
        keyNode = pair.key as Node;
        node = pair.value ?? pair.key;
      } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
        keyNode = undefined;
        node = node.items[seg];
      } else break;
      last = { node, key: keyNode };
    }
    const target = opts.key && last.key ? last.key : (last.node as Node | undefined);
    return this.span(target?.range ?? null) ?? { start: { line: 1, col: 1 }, end: { line: 1, col: 2 } };
  }

  /** A diagnostic pointing at `path` in this file. */
  at(path: FieldPath, message: string, opts: { key?: boolean; shownPath?: FieldPath } = {}): FileProblem {
    const shown = opts.shownPath ?? path;
    return { file: this.file, span: this.spanOf(path, opts), path: shown.length ? formatPath(shown) : undefined, message };
  }
}
