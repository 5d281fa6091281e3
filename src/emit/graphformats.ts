// The names of the graph formats, apart from the renderer (emit/graph.ts) so
// that the command line can offer them without loading the graph code.
export const GRAPH_FORMATS = ['dot', 'mermaid', 'json'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];
