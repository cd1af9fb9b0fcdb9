/**
 * Bind groups reused across dispatches. Recording a dispatch used to create a bind group every
 * time (a call into Dawn with its validation, plus the JS objects it takes): on a small model that
 * is most of a decode step's CPU time, since a step is a few hundred tiny dispatches that bind the
 * same buffers at the same offsets on every token. A bind group is fixed by its pipeline's layout,
 * the params-arena slot it reads and the (buffer, offset, size) of each tensor, so that tuple is the
 * cache key; a hit records the same bindings a fresh group would.
 *
 * Buffers are named by a number given on first sight (a WeakMap, so a destroyed buffer's number is
 * never reused and its entries can never be hit again; the pool's reused buffers keep theirs, and
 * their bind groups stay valid because the buffer is alive). The cache is bounded: when it holds
 * MAX_ENTRIES it is emptied and refills with what is in use.
 */
export const MAX_ENTRIES = 8192;

export interface Binding {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

export class BindGroupCache {
  private readonly groups = new Map<string, GPUBindGroup>();
  private readonly layouts = new WeakMap<GPUComputePipeline, { id: number; layout: GPUBindGroupLayout }>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextId = 1;
  hits = 0;
  misses = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxEntries = MAX_ENTRIES,
  ) {}

  get size(): number {
    return this.groups.size;
  }

  private idOf(buffer: GPUBuffer): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) {
      id = this.nextId++;
      this.bufferIds.set(buffer, id);
    }
    return id;
  }

  /** The bind group of `pipeline` over `bindings` (binding i at index i), made once per distinct tuple. */
  get(pipeline: GPUComputePipeline, bindings: readonly Binding[]): GPUBindGroup {
    let pl = this.layouts.get(pipeline);
    if (!pl) {
      pl = { id: this.nextId++, layout: pipeline.getBindGroupLayout(0) };
      this.layouts.set(pipeline, pl);
    }
    let key = `${pl.id}`;
    for (const b of bindings) key += `|${this.idOf(b.buffer)}:${b.offset}:${b.size}`;
    let group = this.groups.get(key);
    if (group) {
      this.hits++;
      return group;
    }
    this.misses++;
    if (this.groups.size >= this.maxEntries) this.groups.clear();
    group = this.device.createBindGroup({ layout: pl.layout, entries: bindings.map((b, i) => ({ binding: i, resource: { buffer: b.buffer, offset: b.offset, size: b.size } })) });
    this.groups.set(key, group);
    return group;
  }
}
