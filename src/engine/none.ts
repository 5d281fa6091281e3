// The "none" engine: builds nothing, so rep can still plan, record keys and
// emit the Dockerfile on a machine without Docker or Podman.
import { EngineError, type BuildOutcome, type Engine, type ImageInfo, type ImageSummary } from './engine.js';

export class NoneEngine implements Engine {
  readonly name = 'none' as const;
  /** Nothing is built, so nothing stands in the way. */
  readonly secretsSupported = true;
  readonly syncsFolders = false;
  async answers() {
    return true;
  }
  async describe() {
    return 'none (nothing is built)';
  }
  async platform(): Promise<string | undefined> {
    return undefined;
  }

  async identity() {
    return 'none';
  }
  async hasImage() {
    return false;
  }
  async build(): Promise<BuildOutcome> {
    throw new EngineError('the none engine builds nothing');
  }
  async tag() {}
  async exportPaths(): Promise<void> {
    throw new EngineError('the none engine has no images');
  }
  async inspect(): Promise<ImageInfo | undefined> {
    return undefined;
  }
  async imageIds(refs: readonly string[]) {
    return new Map(refs.map((r) => [r, undefined] as const));
  }
  async push() {
    throw new EngineError('the none engine has no images to push');
  }
  async pull() {
    return false;
  }
  async removeImage() {}
  async listImages(): Promise<ImageSummary[]> {
    return [];
  }
  async save(): Promise<void> {
    throw new EngineError('the none engine has no images to save');
  }
  async load(): Promise<void> {
    throw new EngineError('the none engine cannot load images');
  }
  async exportFilesystem(): Promise<void> {
    throw new EngineError('the none engine has no images');
  }
}
