// A map keyed by layer paths ("a/b/c") that knows each folder's children:
// what lies under a folder is found by walking that subtree, not the whole
// map. A step's layer hides a few subtrees of an image of 100k paths; asking
// each path whether it is hidden cost the whole image once per step.
import { parentOf } from '../emit/copies.js';

export class PathMap<V> extends Map<string, V> {
  /**
   * Each folder's children, with folders that are not in the map themselves
   * (a layer may list a/b/c without a/b). A folder's entry goes when it is
   * removed holding nothing; one that was never in the map stays (a few
   * names, for the life of one rewrite).
   */
  private readonly kids = new Map<string, Set<string>>();

  /** How many folders the index knows (listed or not): what the map costs beyond its members. */
  get folders(): number {
    return this.kids.size;
  }

  /** Empty: Map's constructor would call set() before `kids` exists. */
  constructor() {
    super();
  }

  override set(p: string, v: V): this {
    if (!super.has(p)) {
      for (let c = p; c !== ''; c = parentOf(c)) {
        const d = parentOf(c);
        const siblings = this.kids.get(d);
        if (siblings?.has(c)) break;
        (siblings ?? this.kids.set(d, new Set()).get(d)!).add(c);
      }
    }
    return super.set(p, v);
  }

  /** Removes `p` alone (what lies under it stays: see below()). */
  override delete(p: string): boolean {
    if (!this.kids.get(p)?.size) {
      this.kids.delete(p);
      this.kids.get(parentOf(p))?.delete(p);
    }
    return super.delete(p);
  }

  override clear(): void {
    this.kids.clear();
    super.clear();
  }

  /** The paths in the map under `dir` (not `dir` itself), each folder before what it holds. */
  *below(dir: string): Generator<string> {
    const todo = [dir];
    while (todo.length) {
      const kids = this.kids.get(todo.pop()!);
      if (!kids) continue;
      for (const k of kids) {
        if (this.has(k)) yield k;
        todo.push(k);
      }
    }
  }

  /** Removes everything under `dir` (not `dir` itself), the deepest first, so that a removed folder leaves the index too. */
  dropBelow(dir: string): void {
    for (const q of [...this.below(dir)].reverse()) this.delete(q);
  }
}
