// The step graph as Graphviz dot, Mermaid, or JSON; nodes and edges sorted.
import { stageOf, type Dag } from '../graph/dag.js';
import type { GraphFormat } from './graphformats.js';

export { GRAPH_FORMATS, type GraphFormat } from './graphformats.js';

interface Edge {
  from: string;
  to: string;
  kind: 'builds-on' | 'imports';
}

function edges(dag: Dag): { steps: string[]; images: string[]; edges: Edge[] } {
  const steps = [...dag.nodes.keys()].sort();
  const images = new Set<string>();
  const out: Edge[] = [];
  for (const name of steps) {
    const n = dag.nodes.get(name)!;
    if (n.parent.kind === 'image') {
      images.add(n.parent.ref);
      out.push({ from: `image:${n.parent.ref}`, to: name, kind: 'builds-on' });
    } else out.push({ from: n.parent.name, to: name, kind: 'builds-on' });
    for (const i of n.imports) out.push({ from: i, to: name, kind: 'imports' });
  }
  out.sort((a, b) => (a.from + '\0' + a.to < b.from + '\0' + b.to ? -1 : 1));
  return { steps, images: [...images].sort(), edges: out };
}

const q = (s: string) => JSON.stringify(s);

export function renderGraph(dag: Dag, format: GraphFormat): string {
  const g = edges(dag);
  switch (format) {
    case 'dot': {
      const lines = ['digraph rep {', '  rankdir=LR;', '  node [shape=box];'];
      for (const i of g.images) lines.push(`  ${q(`image:${i}`)} [label=${q(i)}, shape=ellipse];`);
      for (const s of g.steps) {
        const attrs = [`label=${q(s)}`];
        if (s === dag.target) attrs.push('peripheries=2');
        if (dag.nodes.get(s)!.step.phony) attrs.push('style=dashed');
        lines.push(`  ${q(s)} [${attrs.join(', ')}];`);
      }
      for (const e of g.edges) lines.push(`  ${q(e.from)} -> ${q(e.to)}${e.kind === 'imports' ? ' [style=dashed, label="outputs"]' : ''};`);
      lines.push('}');
      return `${lines.join('\n')}\n`;
    }
    case 'mermaid': {
      const ids = new Map<string, string>();
      const id = (n: string) => {
        if (!ids.has(n)) ids.set(n, `n${ids.size}`);
        return ids.get(n)!;
      };
      const label = (s: string) => s.replace(/"/g, '#quot;');
      const lines = ['graph LR'];
      for (const i of g.images) lines.push(`  ${id(`image:${i}`)}(["${label(i)}"])`);
      for (const s of g.steps) lines.push(`  ${id(s)}["${label(s)}${s === dag.target ? ' (image)' : ''}"]`);
      for (const e of g.edges) lines.push(`  ${id(e.from)} ${e.kind === 'imports' ? '-. outputs .->' : '-->'} ${id(e.to)}`);
      return `${lines.join('\n')}\n`;
    }
    case 'json':
      return `${JSON.stringify(
        {
          target: dag.target,
          images: g.images,
          steps: g.steps.map((s) => {
            const n = dag.nodes.get(s)!;
            return {
              name: s,
              parent: n.parent.kind === 'image' ? { image: n.parent.ref } : { step: n.parent.name },
              imports: [...n.imports].sort(),
              stage: stageOf(dag, s).name,
              phony: n.step.phony,
            };
          }),
          edges: g.edges,
          stages: dag.stages.map((st) => ({ name: st.name, steps: st.steps })),
        },
        null,
        2,
      )}\n`;
    default: {
      const never: never = format;
      return never;
    }
  }
}
