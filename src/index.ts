// rep as a library: the same steps the command line takes, as functions
// returning data (Result values with located diagnostics, never a throw for a
// user's mistake). Data flows one way: Repfile -> Recipe -> Dag -> Plan ->
// build -> record -> emit.
export { openProject, type Project, type ProjectOptions } from './project.js';
export { loadRepfile, parseRepfile } from './repfile/load.js';
export type { Recipe, Step } from './repfile/recipe.js';
export { repfileJsonSchema } from './repfile/schema.js';
export { formatDiagnostic, renderDiagnostic, type Diagnostic, type Result } from './diag.js';
export { planBuild, type Plan, type PlannedStep } from './plan/plan.js';
export { formatReason, type Reason } from './plan/reasons.js';
export { build, type BuildOptions, type BuildRecord, type StepOutcome } from './build.js';
export { status, statusReport, formatStatus } from './commands/status.js';
export { listContext, tarContext } from './commands/context.js';
export { lock } from './commands/lock.js';
export { init } from './commands/init.js';
export { emitDockerfile } from './emit/dockerfile.js';
export { renderGraph, GRAPH_FORMATS, type GraphFormat } from './emit/graph.js';
export { selectEngine, ENGINE_CHOICES, type EngineChoice } from './engine/select.js';
export { CliEngine } from './engine/cli.js';
export { NoneEngine } from './engine/none.js';
export type { Engine } from './engine/engine.js';
export { publish, type PublishOptions, type PublishResult } from './publish/publish.js';
export { verifyBundle, type VerifyReport } from './publish/verify.js';
export { VERSION } from './version.js';
