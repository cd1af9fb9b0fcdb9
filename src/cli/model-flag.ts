import { readConfigJson } from '../io/model-dir.js';
import { resolveModel } from '../io/resolve-model.js';

/**
 * Checks `--model` before a command opens the GPU: the spec names a model (resolveModel) whose
 * config.json parses. A typo is then ponder's one error line alone, instead of arriving after the
 * adapter's start-up output (Dawn's warnings on lavapipe) and a second of device set-up.
 */
export function checkModelFlag(spec: string): void {
  readConfigJson(resolveModel(spec).dir);
}
