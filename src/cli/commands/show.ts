import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HfTokenizer } from '../../data/hf-tokenizer.js';
import { encodeMessages } from '../../data/prompt.js';
import type { Tokenizer } from '../../data/tokenizer.js';
import { PonderError } from '../../errors.js';
import { readSamplingDefaults, GENERATION_CONFIG } from '../../io/generation-config.js';
import { countParameters } from '../../io/model-catalog.js';
import { readModelCard } from '../../io/model-card.js';
import { loadTokenizer, readConfigJson, readJsonFile } from '../../io/model-dir.js';
import { resolveModel, type ResolvedModel } from '../../io/resolve-model.js';
import type { ModelConfig } from '../../model/config.js';
import type { CliIO } from '../io.js';

/**
 * `ponder show MODEL`: what a model is, from its files alone (no GPU, no weights read): the card's
 * summary and example, family, parameters (trunk and MTP modules), shape, context, tokenizer, the
 * sampling defaults of its generation_config.json, its config.json as it is on disk, and its chat
 * template shown the way the model reads it: one user turn (the card's example) with the generation
 * prompt, encoded by the model's own tokenizer and decoded with the special tokens left in.
 *
 * MODEL is anything --model takes (a name under models/, a ponder or HF directory), or a run
 * directory of `ponder tune` (its final/ model). --json: one object with the same facts.
 */
const DEFAULT_EXAMPLE = 'Hello!';

/** Resolves MODEL like --model does, also accepting a run directory (its final/ model). */
export function resolveShown(spec: string): ResolvedModel {
  try {
    return resolveModel(spec);
  } catch (e) {
    const final = join(spec, 'final');
    if (existsSync(join(final, 'config.json'))) return resolveModel(final);
    if (e instanceof PonderError) throw new PonderError(e.code, e.message, e.hint ?? '`ponder models` lists the models ponder can find');
    throw e;
  }
}

function samplingText(dir: string): string {
  if (!existsSync(join(dir, GENERATION_CONFIG))) return `ponder's defaults (no ${GENERATION_CONFIG})`;
  const s = readSamplingDefaults(dir);
  if (s.temperature === 0) return `greedy (${GENERATION_CONFIG})`;
  const parts = [s.temperature !== undefined ? `temperature ${s.temperature}` : undefined, s.topK ? `top-k ${s.topK}` : undefined, s.topP !== undefined ? `top-p ${s.topP}` : undefined, s.minP ? `min-p ${s.minP}` : undefined].filter(Boolean);
  return `${parts.length ? parts.join(', ') : "ponder's defaults"} (${GENERATION_CONFIG})`;
}

function tokenizerText(tok: Tokenizer, config: ModelConfig): string {
  const kind = tok instanceof HfTokenizer ? 'Hugging Face tokenizer.json' : 'byte tokenizer';
  return `${config.vocab_size.toLocaleString('en-US')} ids (${kind}${tok instanceof HfTokenizer && tok.chatTemplate === undefined ? ', no chat template: prompts are raw text' : ''})`;
}

/** One user turn with the generation prompt, as the model reads it (special tokens left in). */
export function templateExample(tok: Tokenizer, prompt: string): string {
  return tok.decode(encodeMessages(tok, [{ role: 'user', content: prompt }]), { skipSpecialTokens: false });
}

export function registerShow(program: Command, io: CliIO): void {
  program
    .command('show')
    .description('print a model\'s card summary, family, size, context, sampling defaults, config and chat template')
    .argument('<model>', 'a model name under models/, a model directory, an HF directory, or a tune run directory')
    .option('--json', 'print one JSON object')
    .action(async (spec: string, opts: { json?: boolean }) => {
      const { kind, dir } = resolveShown(spec);
      const config = readConfigJson(dir);
      const rawConfig = readJsonFile(join(dir, 'config.json'), 'config file');
      const card = readModelCard(dir);
      const tok = await loadTokenizer(dir, config);
      const params = countParameters(config);
      const example = card.example ?? DEFAULT_EXAMPLE;
      const template = templateExample(tok, example);
      if (opts.json) {
        io.out(
          JSON.stringify({
            name: spec,
            dir,
            format: kind === 'hf' ? 'hf' : 'ponder',
            family: config.family,
            architecture: config.architecture,
            parameters: params.trunk,
            mtp_parameters: params.mtp,
            context: config.max_position_embeddings,
            vocab_size: config.vocab_size,
            ...(card.summary ? { summary: card.summary } : {}),
            ...(card.example ? { example: card.example } : {}),
            sampling: readSamplingDefaults(dir),
            config: rawConfig,
            template_example: template,
          }),
        );
        return;
      }
      const mtp = config.num_nextn_predict_layers;
      const facts: [string, string][] = [
        ['for', card.summary ?? '- (no README.md card)'],
        ...(card.example ? [['try', card.example] as [string, string]] : []),
        ['family', `${config.family} (${config.architecture})`],
        ['parameters', `${params.trunk.toLocaleString('en-US')}${mtp > 0 ? ` + ${params.mtp.toLocaleString('en-US')} in ${mtp} MTP module${mtp > 1 ? 's' : ''}` : ''}`],
        ['shape', `${config.num_hidden_layers} layers, hidden ${config.hidden_size}, intermediate ${config.intermediate_size}, ${config.num_attention_heads} heads of dim ${config.head_dim} (${config.num_key_value_heads} KV)`],
        ['context', `${config.max_position_embeddings} tokens`],
        ['vocabulary', tokenizerText(tok, config)],
        ['sampling', samplingText(dir)],
      ];
      io.out(`${spec}  (${kind === 'hf' ? 'Hugging Face' : 'ponder'} model in ${dir})`);
      for (const [k, v] of facts) io.out(`  ${k.padEnd(12)}${v}`);
      io.out('config.json');
      for (const line of JSON.stringify(rawConfig, null, 2).split('\n')) io.out(`  ${line}`);
      io.out(`template (one user turn, ${JSON.stringify(example)}, with the generation prompt, as the model reads it)`);
      for (const line of template.split('\n')) io.out(`  ${line}`);
    });
}
