// The order a graph's nodes are taken in: dependencies first, and otherwise the order they were written in.

/**
 * Indices 0..n-1 in the order that takes, each time, the first one (by index) whose dependencies are
 * all taken: Kahn's algorithm with the ready ones in a heap (a scan for the first ready one each time
 * was cubic: 8,000 steps took a minute). `deps(i)` are indices; the graph has no cycle.
 */
export function stableOrder(n: number, deps: (i: number) => readonly number[]): number[] {
  const waiting = new Array<number>(n).fill(0);
  const dependents: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) {
    for (const d of new Set(deps(i))) {
      if (d === i) continue;
      waiting[i]!++;
      dependents[d]!.push(i);
    }
  }
  const heap: number[] = [];
  const push = (x: number) => {
    heap.push(x);
    for (let k = heap.length - 1; k > 0; ) {
      const up = (k - 1) >> 1;
      if (heap[up]! <= x) break;
      heap[k] = heap[up]!;
      heap[up] = x;
      k = up;
    }
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      for (let k = 0; ; ) {
        const l = 2 * k + 1;
        if (l >= heap.length) break;
        const c = l + 1 < heap.length && heap[l + 1]! < heap[l]! ? l + 1 : l;
        if (heap[c]! >= heap[k]!) break;
        [heap[c], heap[k]] = [heap[k]!, heap[c]!];
        k = c;
      }
    }
    return top;
  };
  for (let i = 0; i < n; i++) if (waiting[i] === 0) push(i);
  const order: number[] = [];
  while (heap.length) {
    const i = pop();
    order.push(i);
    for (const j of dependents[i]!) if (--waiting[j]! === 0) push(j);
  }
  return order;
}
