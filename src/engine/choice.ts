// The engines a user may name with --engine. Kept apart from select.ts, which
// loads the engine clients, so that the quick no-op path can check a name.
export const ENGINE_CHOICES = ['auto', 'docker', 'podman', 'none'] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];
