/**
 * NO_COLOR (https://no-color.org): when it is set to anything but the empty string, ponder writes no
 * ANSI colours or styles anywhere. Ink draws its colours through chalk, which does not read NO_COLOR
 * but does read FORCE_COLOR, once, when it is first imported; so this module sets FORCE_COLOR=0 and
 * must be the CLI's first import (ES modules evaluate their imports in order).
 */
export function applyNoColor(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR === undefined || env.NO_COLOR === '') return false;
  env.FORCE_COLOR = '0';
  return true;
}

applyNoColor();
