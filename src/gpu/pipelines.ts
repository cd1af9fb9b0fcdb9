import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PonderError } from '../errors.js';
import { wgslDir } from '../paths.js';

/**
 * Compiles each WGSL file once per process and each (file, entry point, override constants)
 * combination into one compute pipeline. Tile sizes and similar knobs are WGSL `override` constants,
 * so one source file yields specialised pipelines per adapter.
 *
 * Pipeline creation is synchronous (recording an op must not await), so compilation errors are
 * collected asynchronously from `getCompilationInfo()` and surfaced by `takeErrors()`, which the
 * Gpu calls on every sync/readback. Messages name the file and line: `wgsl/matmul.wgsl:12:5: ...`.
 */
export type OverrideConstants = Record<string, number | boolean>;

export interface KernelRef {
  /** File name under wgsl/, e.g. 'matmul.wgsl'. */
  file: string;
  /** Entry point; defaults to 'main'. */
  entry?: string;
  constants?: OverrideConstants;
}

export class PipelineCache {
  private modules = new Map<string, GPUShaderModule>();
  private pipelines = new Map<string, GPUComputePipeline>();
  private pending: Promise<void>[] = [];
  private errors: PonderError[] = [];
  /** Sources registered in code (tests, generated kernels) instead of read from wgsl/. */
  private inlineSources = new Map<string, string>();
  compiledModules = 0;

  constructor(private device: GPUDevice) {}

  registerSource(file: string, code: string): void {
    this.inlineSources.set(file, code);
  }

  private source(file: string): string {
    const inline = this.inlineSources.get(file);
    if (inline !== undefined) return inline;
    try {
      return readFileSync(join(wgslDir, file), 'utf8');
    } catch {
      throw new PonderError('NOT_FOUND', `kernel source wgsl/${file} is missing`);
    }
  }

  module(file: string): GPUShaderModule {
    let mod = this.modules.get(file);
    if (mod) return mod;
    mod = this.device.createShaderModule({ code: this.source(file), label: file });
    this.modules.set(file, mod);
    this.compiledModules++;
    const check = mod.getCompilationInfo().then((info) => {
      for (const m of info.messages) {
        if (m.type !== 'error') continue;
        this.errors.push(new PonderError('WGSL_COMPILE', `wgsl/${file}:${m.lineNum}:${m.linePos}: ${m.message}`));
      }
    });
    this.pending.push(check);
    return mod;
  }

  pipeline(ref: KernelRef): GPUComputePipeline {
    const entry = ref.entry ?? 'main';
    const constants = ref.constants ?? {};
    // the key in the constants' own order (a call site always writes them in one order; two orders
    // would only compile one pipeline twice): building it must cost little, it runs every dispatch
    let key = `${ref.file}#${entry}`;
    for (const k in constants) key += `#${k}=${constants[k]}`;
    let p = this.pipelines.get(key);
    if (p) return p;
    const numeric: Record<string, number> = {};
    for (const [k, v] of Object.entries(constants)) numeric[k] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
    p = this.device.createComputePipeline({
      layout: 'auto',
      compute: { module: this.module(ref.file), entryPoint: entry, constants: numeric },
      label: key,
    });
    this.pipelines.set(key, p);
    return p;
  }

  /** Waits for outstanding compilation checks and returns (and clears) the errors found. */
  async takeErrors(): Promise<PonderError[]> {
    if (this.pending.length) {
      const pending = this.pending;
      this.pending = [];
      await Promise.all(pending);
    }
    const errs = this.errors;
    this.errors = [];
    return errs;
  }
}
