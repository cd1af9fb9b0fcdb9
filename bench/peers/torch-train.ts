import type { TrainPeer, TrainPeerRun } from '../../src/engine/bench/types.js';
import { runPython } from './python.js';
import { PY_TORCH_DEVICE, torchPeerEnv, torchPython } from './torch.js';
import { PY_CONFIG_DIMS, PY_LOAD_SAFETENSORS } from './torch-model.js';

/**
 * PyTorch as a training peer (`ponder bench train --peers`): the same model trained the same way in
 * plain torch (no transformers), on CUDA when torch sees a GPU (TF32 off), else on the CPU with
 * torch.set_num_threads(every core this process may run on). The interpreter is the other PyTorch
 * peers' (python3, or $PONDER_PYTHON).
 *
 * The script reads the directory the train suite writes (types.ts, TrainPeer): config.json and
 * model.safetensors, ponder's initial weights (MTP modules left out: the bench trains the trunk), and
 * train.json, the optimizer settings and every step's token rows. Per step, as ponder's does:
 *
 *   zero_grad → logits = forward(B rows of T tokens) → mean cross-entropy over the B·T targets →
 *   backward → clip_grad_norm_(max norm) when grad_clip > 0 → AdamW.step → loss.item()
 *
 * The forward is the decode peer's (torch-model.ts) over a batch with the causal mask: RMSNorm, q/k/v
 * biases and Qwen3's q/k norms where the checkpoint has them, RoPE as HF computes it, GQA by repeating
 * KV heads, SwiGLU, the tied or untied head. torch.optim.AdamW with torch's defaults for everything
 * the recipe does not set (so: its per-tensor loop on the CPU, its multi-tensor path on CUDA), two
 * param groups as ponder's AdamW decays (`*norm.weight` and `*.bias` without weight decay).
 * clip_grad_norm_ scales by max_norm ÷ (norm + 1e-6) when that is < 1, as ponder's finalize does.
 *
 * The warm-up steps are run and not timed; then the timed steps, each ending with the loss read back
 * (and a CUDA synchronize), as ponder's timed steps read back theirs. It prints one JSON line: the
 * CPU facts (below), every step's loss (warm-up included: the first is the loss of the initial
 * weights, which the suite checks against ponder's), and the timed steps' ms.
 *
 * On the CPU the subprocess runs with OMP_WAIT_POLICY=PASSIVE unless the environment sets it: torch's
 * OpenMP threads otherwise spin after each parallel region on the cores OpenBLAS's own pthreads need
 * (two of each on two cores), which made the default-model step 5-9x slower in bench/RESULTS.md's
 * measurements; the probe line names the policy.
 *
 * A CPU figure is honest only on a real BLAS with every core in use: Debian's python3-torch calls
 * whatever libblas.so.3 the system's alternatives pick, and the reference (netlib) BLAS there makes it
 * several times slower. So the script reports what it runs on (PY_TORCH_FACTS) and judgeTorchBackend
 * decides whether the figure counts; a figure that does not is kept, its ratio is not.
 */

/**
 * Python source defining `facts()`: on the CPU it first sets torch's threads to the cores this
 * process may use (sched_getaffinity) and, when the mapped BLAS is OpenBLAS, OpenBLAS's own thread
 * count to the same (openblas_set_num_threads: its pthread build keeps a pool of its own). It returns
 * torch's version, the CUDA device (or None), BLAS_INFO from torch.__config__.show(), the cores, torch's
 * threads, OMP_WAIT_POLICY, the BLAS/LAPACK libraries mapped into the process (/proc/self/maps, after one matmul), and
 * OpenBLAS's openblas_get_config(), thread count and parallel mode (0 serial, 1 pthreads, 2 OpenMP).
 */
export const PY_TORCH_FACTS = `
import os, re, ctypes
def facts():
    f = {'torch': torch.__version__, 'cuda': torch.cuda.get_device_name(0) if cuda else None, 'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY')}
    m = re.search(r'BLAS_INFO=(\\w+)', torch.__config__.show())
    f['blas_info'] = m.group(1) if m else None
    f['cores'] = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)
    if not cuda:
        torch.set_num_threads(f['cores'])
    f['torch_threads'] = torch.get_num_threads()
    a = torch.ones(64, 64)
    float((a @ a)[0, 0])
    libs = []
    try:
        with open('/proc/self/maps') as maps:
            for line in maps:
                p = line.split(None, 5)[5].strip() if len(line.split(None, 5)) == 6 else ''
                if re.search(r'blas|lapack|mkl|blis|atlas', os.path.basename(p), re.I) and p not in libs:
                    libs.append(p)
    except OSError:
        pass
    f['libs'] = libs
    f['openblas'] = None
    for p in libs:
        if 'openblas' in os.path.basename(p).lower():
            try:
                lib = ctypes.CDLL(p)
                lib.openblas_get_config.restype = ctypes.c_char_p
                if not cuda:
                    lib.openblas_set_num_threads(f['cores'])
                f['openblas'] = {'config': lib.openblas_get_config().decode(), 'threads': lib.openblas_get_num_threads(), 'parallel': lib.openblas_get_parallel()}
            except (OSError, AttributeError):
                pass
            break
    return f
`;

const PROBE = `
import json
${PY_TORCH_DEVICE}
${PY_TORCH_FACTS}
print(json.dumps(facts()))
`;

const TRAIN = `
import sys, os, json, time
${PY_TORCH_DEVICE}
${PY_TORCH_FACTS}
${PY_LOAD_SAFETENSORS}
import torch.nn.functional as F
d = sys.argv[1]
env = facts()
cfg = json.load(open(os.path.join(d, 'config.json')))
spec = json.load(open(os.path.join(d, 'train.json')))
W = load(os.path.join(d, 'model.safetensors'))
${PY_CONFIG_DIMS}P = {name: torch.nn.Parameter(t) for name, t in W.items() if not (tied and name == 'lm_head.weight')}
del W
embed = P['model.embed_tokens.weight']
head = embed if tied else P['lm_head.weight']
layers = []
for l in range(L):
    g = lambda n: P.get('model.layers.%d.%s' % (l, n))
    layers.append(dict(
        ln1=g('input_layernorm.weight'), ln2=g('post_attention_layernorm.weight'),
        q=g('self_attn.q_proj.weight'), k=g('self_attn.k_proj.weight'), v=g('self_attn.v_proj.weight'), o=g('self_attn.o_proj.weight'),
        bq=g('self_attn.q_proj.bias'), bk=g('self_attn.k_proj.bias'), bv=g('self_attn.v_proj.bias'),
        qn=g('self_attn.q_norm.weight'), kn=g('self_attn.k_norm.weight'),
        gate=g('mlp.gate_proj.weight'), up=g('mlp.up_proj.weight'), down=g('mlp.down_proj.weight')))
norm = P['model.norm.weight']

B, T = spec['batch'], spec['seq_len']
inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float().to(dev) / D))
freqs = torch.arange(T, dtype=torch.float32, device=dev)[:, None] * inv_freq[None, :]
emb = torch.cat((freqs, freqs), dim=-1)
COS, SIN = emb.cos(), emb.sin()
causal = torch.ones(T, T, dtype=torch.bool, device=dev).tril()
sdpa = getattr(F, 'scaled_dot_product_attention', None)

def rms(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

def rot(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

def forward(ids):
    x = F.embedding(ids, embed)
    for w in layers:
        h = rms(x, w['ln1'])
        q = F.linear(h, w['q'], w['bq']).view(B, T, Hq, D)
        k = F.linear(h, w['k'], w['bk']).view(B, T, Hkv, D)
        v = F.linear(h, w['v'], w['bv']).view(B, T, Hkv, D)
        if w['qn'] is not None:
            q, k = rms(q, w['qn']), rms(k, w['kn'])
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q = q * COS + rot(q) * SIN
        k = k * COS + rot(k) * SIN
        k = k.repeat_interleave(Hq // Hkv, dim=1)
        v = v.repeat_interleave(Hq // Hkv, dim=1)
        if sdpa is not None:
            o = sdpa(q, k, v, is_causal=True)
        else:
            s = (q @ k.transpose(-1, -2)) * (D ** -0.5)
            o = torch.softmax(s.masked_fill(~causal, float('-inf')), dim=-1) @ v
        x = x + F.linear(o.transpose(1, 2).reshape(B, T, Hq * D), w['o'])
        h = rms(x, w['ln2'])
        x = x + F.linear(F.silu(F.linear(h, w['gate'])) * F.linear(h, w['up']), w['down'])
    return F.linear(rms(x, norm), head)

decay = [p for n, p in P.items() if not (n.endswith('norm.weight') or n.endswith('.bias'))]
keep = [p for n, p in P.items() if n.endswith('norm.weight') or n.endswith('.bias')]
groups = [{'params': decay, 'weight_decay': spec['weight_decay']}] + ([{'params': keep, 'weight_decay': 0.0}] if keep else [])
opt = torch.optim.AdamW(groups, lr=spec['lr'], betas=(spec['beta1'], spec['beta2']), eps=spec['eps'])
params = list(P.values())
rows = torch.tensor(spec['rows'], dtype=torch.int64, device=dev)
n = spec['warmup'] + spec['steps']
assert rows.shape == (n * B, T + 1), 'train.json: %d rows of %d tokens, expected %d of %d' % (rows.shape[0], rows.shape[1], n * B, T + 1)
V = head.shape[0]
losses, times = [], []
for s in range(n):
    batch = rows[s * B:(s + 1) * B]
    sync()
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(forward(batch[:, :T]).reshape(B * T, V), batch[:, 1:].reshape(B * T))
    loss.backward()
    if spec['grad_clip'] > 0:
        torch.nn.utils.clip_grad_norm_(params, spec['grad_clip'])
    opt.step()
    losses.append(loss.item())
    sync()
    if s >= spec['warmup']:
        times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({'env': env, 'losses': losses, 'step_ms': times}))
`;

/** What PY_TORCH_FACTS reports (see there). */
export interface TorchFacts {
  torch: string;
  cuda: string | null;
  blas_info: string | null;
  cores: number;
  torch_threads: number;
  /** the environment's OMP_WAIT_POLICY (absent in older facts) */
  omp_wait_policy?: string | null;
  libs: string[];
  openblas: { config: string; threads: number; parallel: number } | null;
}

/** Where a torch peer runs, in words, and whether its figure is a fair comparison (why not, if not). */
export interface TorchBackend {
  backend: string;
  counts: boolean;
  why?: string;
}

const OPENBLAS_MODES = ['serial', 'pthreads', 'OpenMP'];

/**
 * The verdict on a torch peer's facts. On CUDA it counts (cuBLAS). On the CPU it counts only on an
 * optimized BLAS (OpenBLAS, MKL, BLIS, Accelerate) that uses every core, with torch on every core too:
 *   - OpenBLAS when a libopenblas is mapped: its threads are OpenBLAS's own (pthreads build), torch's
 *     (OpenMP build: the OpenMP pool torch sizes) or one (serial build);
 *   - MKL / BLIS / Accelerate when torch was built against them (BLAS_INFO) or one is mapped, with
 *     torch's threads;
 *   - a libblas.so that is none of these (Debian's netlib reference BLAS under .../blas/), or no BLAS
 *     torch names, does not count: its matmuls are the unblocked loops.
 */
export function judgeTorchBackend(f: TorchFacts): TorchBackend {
  const version = `torch ${f.torch}`;
  if (f.cuda) return { backend: `${version}, cuda: ${f.cuda}, cuBLAS, TF32 off`, counts: true };
  const base = (p: string) => p.split('/').pop()!.toLowerCase();
  const mapped = (re: RegExp) => f.libs.find((p) => re.test(base(p)));
  const cores = `${f.cores} core${f.cores === 1 ? '' : 's'}`;
  const torchThreads = `torch ${f.torch_threads} thread${f.torch_threads === 1 ? '' : 's'}${f.omp_wait_policy ? ` (OMP_WAIT_POLICY=${f.omp_wait_policy})` : ''}`;
  let blas: string | undefined;
  let blasThreads = f.torch_threads;
  const openblas = mapped(/openblas/);
  if (openblas) {
    const ver = /OpenBLAS\s+(\S+)/.exec(f.openblas?.config ?? '')?.[1] ?? /r(\d+\.\d+\.\d+)/.exec(base(openblas))?.[1];
    const mode = f.openblas ? OPENBLAS_MODES[f.openblas.parallel] : /openblas-(pthread|openmp|serial)/.exec(openblas)?.[1];
    blas = `OpenBLAS${ver ? ` ${ver}` : ''}${mode ? ` (${mode})` : ''}`;
    if (f.openblas) blasThreads = f.openblas.parallel === 0 ? 1 : f.openblas.parallel === 1 ? f.openblas.threads : f.torch_threads;
  } else if (f.blas_info === 'mkl' || mapped(/mkl/)) blas = 'MKL';
  else if (f.blas_info === 'blis' || mapped(/blis/)) blas = 'BLIS';
  else if (f.blas_info === 'accelerate') blas = 'Accelerate';
  const where = `${version}, cpu: `;
  if (!blas) {
    const lib = mapped(/^lib(cblas|blas)\b/);
    const what = lib ? `the reference BLAS (${lib})` : `no optimized BLAS (BLAS_INFO=${f.blas_info ?? 'none'})`;
    return { backend: `${where}${lib ? 'reference BLAS' : 'no optimized BLAS'}, ${torchThreads}, ${cores}`, counts: false, why: `torch runs on ${what}` };
  }
  const backend = `${where}${blas} ${blasThreads} thread${blasThreads === 1 ? '' : 's'}, ${torchThreads}, ${cores}`;
  if (blasThreads < f.cores) return { backend, counts: false, why: `${blas} uses ${blasThreads} of ${cores}` };
  if (f.torch_threads < f.cores) return { backend, counts: false, why: `torch uses ${f.torch_threads} of ${cores}` };
  return { backend, counts: true };
}

function python(args: string[], timeoutMs: number): Promise<string> {
  return runPython(torchPython(), { import: 'torch', name: 'PyTorch' }, args, timeoutMs, torchPeerEnv());
}

/** The probe line: where the peer runs, and why its figures do not count when they do not. */
export function describeTorchBackend(b: TorchBackend): string {
  return b.counts ? b.backend : `${b.backend}; its figures do not count: ${b.why}`;
}

export function torchTrainPeer(): TrainPeer {
  return {
    name: 'pytorch',
    open: async () => describeTorchBackend(judgeTorchBackend(JSON.parse((await python(['-c', PROBE], 60_000)).split('\n').pop()!) as TorchFacts)),
    async timeTrain(dir: string, timeoutMs: number): Promise<TrainPeerRun> {
      const out = await python(['-c', TRAIN, dir], timeoutMs);
      const r = JSON.parse(out.split('\n').pop()!) as { env: TorchFacts; losses: number[]; step_ms: number[] };
      const total = r.step_ms.reduce((a, b) => a + b, 0);
      if (!(total > 0) || r.losses.length === 0) throw new Error(`pytorch gave an implausible run (${r.step_ms.length} timed steps, ${total} ms, ${r.losses.length} losses)`);
      const sorted = [...r.step_ms].sort((a, b) => a - b);
      const m = sorted.length >> 1;
      return {
        ...judgeTorchBackend(r.env),
        losses: r.losses,
        stepMs: r.step_ms,
        msMedian: sorted.length % 2 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2,
        totalMs: total,
      };
    },
    close: async () => {},
  };
}
