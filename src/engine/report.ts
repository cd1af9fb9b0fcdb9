/**
 * The report card of a training run (<output>/report.md), built from the run directory alone, so
 * `ponder report RUN_DIR` prints the same card the run wrote at its end:
 *
 *   recipe.yaml     the resolved recipe: model (init, architecture, size), recipe file, stages
 *   recipe.hash     the recipe's sha256
 *   metrics.jsonl   eval lines ({stage, step, eval_task, eval_n, accuracy, ...other figures such as
 *                   pass@k / maj@k / mtp_acceptance}); step lines (steps done per stage, time_s); the
 *                   `run` line the Tuner appends when the run is done (wall time, adapter, parameters)
 *
 * One table: a row per stage, a column per eval figure (every numeric field of the stage's last eval
 * line, accuracy first), then the final held-out scores: the last stage's last eval. A run that is
 * not done yet still reports (steps so far, no wall time or adapter).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PonderError } from '../errors.js';
import { METRICS_FILE, RECIPE_FILE, RECIPE_HASH_FILE } from '../train/run-dir.js';

export const REPORT_FILE = 'report.md';

/** One stage's last evaluation: the task, the step, the problem count, and its figures by name. */
export interface StageEval {
  task: string;
  step: number;
  n: number;
  figures: Record<string, number>;
}

export interface RunReport {
  dir: string;
  model: { init: string; architecture?: string; hidden_size?: number; num_hidden_layers?: number; parameters?: number };
  recipe: { file?: string; hash: string };
  stages: { name: string; kind: string; steps: number; steps_done: number; eval?: StageEval }[];
  /** the last stage's last eval */
  final?: StageEval & { stage: string };
  /** the run finished (its `run` line is there) */
  done: boolean;
  /** wall time over all sessions of the run (a done run), else up to its last step line */
  elapsed_s?: number;
  adapter?: string;
}

/** Fields of an eval line that describe it rather than score it. */
const EVAL_META = new Set(['stage', 'step', 'eval_task', 'eval_n']);

type Line = Record<string, unknown>;

function readLines(path: string): Line[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: Line[] = [];
  for (const l of text.split('\n')) {
    if (l.trim() === '') continue;
    try {
      const v = JSON.parse(l) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) out.push(v as Line);
    } catch {
      // a torn last line (a crash mid-write): the lines before it still count
    }
  }
  return out;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The time_s of the last step line in metrics.jsonl (0 without one): where a resumed run's clock goes on. */
export function lastRunTime(metricsPath: string): number {
  let t = 0;
  for (const l of readLines(metricsPath)) if (typeof l.loss === 'number' || 'global_step' in l) t = num(l.time_s) ?? t;
  return t;
}

/** Reads a run directory into a RunReport; not a run directory -> NOT_FOUND with one line. */
export function readRunReport(dir: string): RunReport {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new PonderError('NOT_FOUND', `${dir}: no such directory`, 'pass the output directory of a `ponder tune` run');
  }
  if (!isDir) throw new PonderError('BAD_INPUT', `${dir}: not a directory`, 'pass the output directory of a `ponder tune` run');
  const recipePath = join(dir, RECIPE_FILE);
  if (!existsSync(recipePath) || !existsSync(join(dir, RECIPE_HASH_FILE))) {
    throw new PonderError('NOT_FOUND', `${dir}: not a ponder run directory (no ${RECIPE_FILE} / ${RECIPE_HASH_FILE})`, 'pass the output directory of a `ponder tune` run');
  }
  let recipe: Line;
  try {
    const v = parseYaml(readFileSync(recipePath, 'utf8')) as unknown;
    if (typeof v !== 'object' || v === null || !Array.isArray((v as Line).stages)) throw new Error('no stages');
    recipe = v as Line;
  } catch (e) {
    throw new PonderError('BAD_INPUT', `${recipePath}: not a resolved recipe (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
  const hash = readFileSync(join(dir, RECIPE_HASH_FILE), 'utf8').trim();
  const model = (typeof recipe.model === 'object' && recipe.model !== null ? recipe.model : {}) as Line;
  const config = (typeof model.config === 'object' && model.config !== null ? model.config : {}) as Line;

  const lines = readLines(join(dir, METRICS_FILE));
  const lastEval = new Map<number, Line>();
  const stepsDone = new Map<number, number>();
  let runLine: Line | undefined;
  let elapsed: number | undefined;
  for (const l of lines) {
    const stage = num(l.stage);
    if (stage === undefined) continue;
    if (l.run === 'done') runLine = l;
    else if (typeof l.eval_task === 'string') lastEval.set(stage, l);
    else if (typeof l.loss === 'number') {
      stepsDone.set(stage, Math.max(stepsDone.get(stage) ?? 0, num(l.step) ?? 0));
      elapsed = num(l.time_s) ?? elapsed;
    }
  }
  const evalOf = (l: Line | undefined): StageEval | undefined => {
    if (!l) return undefined;
    const figures: Record<string, number> = {};
    for (const [k, v] of Object.entries(l)) if (!EVAL_META.has(k) && num(v) !== undefined) figures[k] = v as number;
    return { task: str(l.eval_task) ?? '?', step: num(l.step) ?? 0, n: num(l.eval_n) ?? 0, figures };
  };
  const stages = (recipe.stages as Line[]).map((s, i) => ({
    name: str(s.name) ?? `stage ${i + 1}`,
    kind: str(s.kind) ?? '?',
    steps: num(s.steps) ?? 0,
    steps_done: runLine ? (num(s.steps) ?? 0) : (stepsDone.get(i) ?? 0),
    eval: evalOf(lastEval.get(i)),
  }));
  const lastStage = stages.at(-1);
  return {
    dir,
    model: {
      init: str(model.init) ?? '?',
      architecture: str(config.architecture),
      hidden_size: num(config.hidden_size),
      num_hidden_layers: num(config.num_hidden_layers),
      parameters: num(runLine?.parameters),
    },
    recipe: { file: str(recipe.file), hash },
    stages,
    final: lastStage?.eval ? { stage: lastStage.name, ...lastStage.eval } : undefined,
    done: runLine !== undefined,
    elapsed_s: num(runLine?.elapsed_s) ?? elapsed,
    adapter: str(runLine?.adapter),
  };
}

/** The eval figure names over all stages: accuracy first, then the others as they first appear. */
export function evalColumns(r: RunReport): string[] {
  const cols: string[] = [];
  for (const s of r.stages) for (const k of Object.keys(s.eval?.figures ?? {})) if (!cols.includes(k)) cols.push(k);
  return cols.sort((a, b) => (a === 'accuracy' ? -1 : b === 'accuracy' ? 1 : 0));
}

/** Counts among the eval figures (answers sampled per problem): printed as integers. */
const COUNT_FIGURES = new Set(['samples']);

/** Eval figures are rates (accuracy, pass@k, maj@k, acceptance): four decimals, as nanochat's card. */
function fmtFigure(v: number | undefined, key = ''): string {
  if (v === undefined) return '-';
  return COUNT_FIGURES.has(key) ? String(v) : v.toFixed(4);
}

function fmtDuration(s: number): string {
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(t % 60).padStart(2, '0')}`;
}

/** `ponder report --json`: {model, recipe, stages: [{name, kind, steps, evals}], final, elapsed_s, adapter}. */
export function reportJson(r: RunReport): Record<string, unknown> {
  const evalJson = (e: StageEval | undefined) => (e ? { task: e.task, step: e.step, n: e.n, ...e.figures } : {});
  return {
    dir: r.dir,
    model: r.model,
    recipe: r.recipe,
    stages: r.stages.map((s) => ({ name: s.name, kind: s.kind, steps: s.steps, steps_done: s.steps_done, evals: evalJson(s.eval) })),
    final: r.final ? { stage: r.final.stage, ...evalJson(r.final) } : null,
    done: r.done,
    elapsed_s: r.elapsed_s ?? null,
    adapter: r.adapter ?? null,
  };
}

/** The report card as markdown (report.md, and what `ponder report` prints). */
export function formatReport(r: RunReport): string {
  const m = r.model;
  const shape = [m.architecture, m.hidden_size !== undefined && m.num_hidden_layers !== undefined ? `hidden ${m.hidden_size} x ${m.num_hidden_layers} layers` : undefined].filter(Boolean).join(', ');
  const size = m.parameters !== undefined ? `, ${m.parameters.toLocaleString('en-US')} parameters` : '';
  const stepsDone = r.stages.reduce((a, s) => a + s.steps_done, 0);
  const steps = r.stages.reduce((a, s) => a + s.steps, 0);
  const out = [
    `# ponder run report: ${basename(r.dir) || r.dir}`,
    '',
    '| | |',
    '|---|---|',
    `| model | ${m.init}${shape ? ` (${shape})` : ''}${size} |`,
    `| recipe | ${r.recipe.file ?? '-'} (sha256 ${r.recipe.hash.slice(0, 12)}) |`,
    `| adapter | ${r.adapter ?? '-'} |`,
    `| wall time | ${r.elapsed_s !== undefined ? fmtDuration(r.elapsed_s) : '-'} |`,
    `| steps | ${stepsDone} of ${steps}${r.done ? '' : ' (not finished)'} |`,
    '',
    '## Held-out evaluation per stage',
    '',
  ];
  const cols = evalColumns(r);
  out.push(`| stage | kind | steps | eval | n | ${cols.join(' | ')} |`.replace('|  |', '|'));
  out.push(`|---|---|---:|---|---:|${cols.map(() => '---:|').join('')}`);
  for (const s of r.stages) {
    const e = s.eval;
    const cells = [s.name, s.kind, s.steps_done === s.steps ? String(s.steps) : `${s.steps_done}/${s.steps}`, e ? `${e.task} @ step ${e.step}` : '-', e ? String(e.n) : '-', ...cols.map((c) => fmtFigure(e?.figures[c], c))];
    out.push(`| ${cells.join(' | ')} |`);
  }
  out.push('', '## Final held-out scores', '');
  const f = r.final;
  if (!f) out.push(`The last stage (${r.stages.at(-1)?.name ?? '-'}) has no evaluation.`);
  else {
    out.push(`Stage ${f.stage}, step ${f.step}: ${f.task}, ${f.n} problems.`, '');
    out.push('| figure | value |', '|---|---:|');
    for (const [k, v] of Object.entries(f.figures).sort(([a], [b]) => (a === 'accuracy' ? -1 : b === 'accuracy' ? 1 : 0))) out.push(`| ${k} | ${fmtFigure(v, k)} |`);
  }
  return out.join('\n') + '\n';
}
