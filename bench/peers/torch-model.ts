import type { ModelPeer, ModelPeerRun } from '../../src/engine/bench/types.js';
import { runPython } from './python.js';
import { PY_TORCH_DEVICE, torchPeer, torchPeerEnv, torchPython } from './torch.js';

/**
 * Python source defining `load(path)`: one model.safetensors read into a dict of float32 tensors on
 * `dev` (from PY_TORCH_DEVICE), parsed here (an 8-byte little-endian header length, the JSON header,
 * then the data; F32, F16 or BF16), so the peers need nothing beyond torch. The training peer
 * (torch-train.ts) reads its initial weights with it too.
 */
export const PY_LOAD_SAFETENSORS = `
import os, json, struct
def load(path):
    buf = bytearray(os.path.getsize(path))
    with open(path, 'rb') as f:
        f.readinto(buf)
    n = struct.unpack('<Q', bytes(buf[:8]))[0]
    header = json.loads(bytes(buf[8:8 + n]).decode('utf-8'))
    kinds = {'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16}
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        if e['dtype'] not in kinds:
            raise ValueError('%s: dtype %s is not supported' % (name, e['dtype']))
        dt = kinds[e['dtype']]
        a, b = e['data_offsets']
        size = torch.tensor([], dtype=dt).element_size()
        t = torch.frombuffer(buf, dtype=dt, count=(b - a) // size, offset=8 + n + a) if b > a else torch.empty(0, dtype=dt)
        t = t.reshape(e['shape']).to(dtype=torch.float32)
        # a copy either way: on the CPU the tensor must not keep the whole file's buffer alive
        out[name] = t.to(dev) if cuda else t.clone()
    return out
`;

/**
 * PyTorch as a model peer (`ponder bench model --peers`): the same model's prefill and greedy decode,
 * in plain torch (no transformers), on CUDA when torch sees a GPU, else on torch's CPU path. The
 * interpreter is the matmul peer's (python3, or $PONDER_PYTHON), and so is the probe line.
 *
 * The script reads an HF-style directory as the model suite writes it: config.json and one
 * model.safetensors (read by PY_LOAD_SAFETENSORS, computed in float32). Its forward is the HF
 * modeling code's for Llama / Qwen2 / Qwen3 (and MiMo's trunk), the same as
 * test/reference/transformer.ts:
 *   RMSNorm in float32 with rms_norm_eps; q/k/v biases where the checkpoint has them (attention_bias);
 *   Qwen3's per-head q/k RMSNorm before RoPE where it has q_norm/k_norm; head_dim from the config;
 *   RoPE as HF computes it (inv_freq and position · inv_freq in float32, rotate_half); GQA by repeating
 *   each KV head over its query heads; softmax attention with the causal mask; SwiGLU MLP; the final
 *   norm and lm_head (or the tied embedding) on the last position only, as ponder's decode does.
 * Attention uses torch's scaled_dot_product_attention where the torch version has it (2.0+: the fused
 * kernels HF uses by default on a GPU), else the explicit softmax(q·kᵀ/√D)·v.
 *
 * Timing, under torch.no_grad in float32 (TF32 off on CUDA, so matmuls are f32 like ponder's): a
 * preallocated KV cache; an untimed warm-up (a 2-token prefill and one decode step: allocator, kernel
 * selection); then the timed prefill of the prompt, its argmax read back to the CPU, and `steps`
 * greedy decode steps, each feeding the last token, reading its argmax back and (on CUDA)
 * synchronizing, as a real decode loop must. It prints one JSON line: prefill_ms, the decode steps'
 * median and total ms, the greedy tokens (the prefill's, then one per step) and, when asked, the
 * prefill's last-position logits.
 */
/**
 * Python source reading the dimensions both torch peers (decode here, training in torch-train.ts)
 * take from a parsed `cfg` (config.json), with HF's defaults: H, L, Hq, Hkv, D, eps, theta, tied.
 */
export const PY_CONFIG_DIMS = `
H = cfg['hidden_size']
L = cfg['num_hidden_layers']
Hq = cfg['num_attention_heads']
Hkv = cfg.get('num_key_value_heads') or Hq
D = cfg.get('head_dim') or H // Hq
eps = cfg.get('rms_norm_eps', 1e-6)
theta = float(cfg.get('rope_theta', 10000.0))
tied = cfg.get('tie_word_embeddings', False)
`;

const DECODE = `
import sys, os, json, time
${PY_TORCH_DEVICE}
import torch.nn.functional as F
d, prompt, steps, want_logits = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == '1'
assert len(prompt) > 0, 'empty prompt'
cfg = json.load(open(os.path.join(d, 'config.json')))

${PY_LOAD_SAFETENSORS}
W = load(os.path.join(d, 'model.safetensors'))
${PY_CONFIG_DIMS}embed = W['model.embed_tokens.weight']
head = embed if tied else W['lm_head.weight']
layers = []
for l in range(L):
    p = 'model.layers.%d.' % l
    g = lambda n: W.get(p + n)
    layers.append(dict(
        ln1=g('input_layernorm.weight'), ln2=g('post_attention_layernorm.weight'),
        q=g('self_attn.q_proj.weight'), k=g('self_attn.k_proj.weight'), v=g('self_attn.v_proj.weight'), o=g('self_attn.o_proj.weight'),
        bq=g('self_attn.q_proj.bias'), bk=g('self_attn.k_proj.bias'), bv=g('self_attn.v_proj.bias'),
        qn=g('self_attn.q_norm.weight'), kn=g('self_attn.k_norm.weight'),
        gate=g('mlp.gate_proj.weight'), up=g('mlp.up_proj.weight'), down=g('mlp.down_proj.weight')))
norm = W['model.norm.weight']
del W

P = len(prompt)
cap = P + steps + 2
# HF's rotary embedding: inv_freq and the angles in float32, cos/sin of cat(freqs, freqs)
inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float().to(dev) / D))
freqs = torch.arange(cap, dtype=torch.float32, device=dev)[:, None] * inv_freq[None, :]
emb = torch.cat((freqs, freqs), dim=-1)
COS, SIN = emb.cos(), emb.sin()
kc = torch.zeros(L, Hkv, cap, D, device=dev)
vc = torch.zeros(L, Hkv, cap, D, device=dev)
sdpa = getattr(F, 'scaled_dot_product_attention', None)

def rms(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

def rot(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

def forward(ids, start):
    T = len(ids)
    x = embed[torch.tensor(ids, device=dev)]
    cos, sin = COS[start:start + T], SIN[start:start + T]
    S = start + T
    mask = torch.ones(T, S, dtype=torch.bool, device=dev).tril(diagonal=start) if T > 1 else None
    for l, w in enumerate(layers):
        h = rms(x, w['ln1'])
        q = F.linear(h, w['q'], w['bq']).view(T, Hq, D)
        k = F.linear(h, w['k'], w['bk']).view(T, Hkv, D)
        v = F.linear(h, w['v'], w['bv']).view(T, Hkv, D)
        if w['qn'] is not None:
            q, k = rms(q, w['qn']), rms(k, w['kn'])
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
        q = q * cos + rot(q) * sin
        k = k * cos + rot(k) * sin
        kc[l, :, start:S] = k
        vc[l, :, start:S] = v
        keys = kc[l, :, :S].repeat_interleave(Hq // Hkv, dim=0)
        vals = vc[l, :, :S].repeat_interleave(Hq // Hkv, dim=0)
        if sdpa is not None:
            o = sdpa(q[None], keys[None], vals[None], attn_mask=mask)[0]
        else:
            s = (q @ keys.transpose(-1, -2)) * (D ** -0.5)
            if mask is not None:
                s = s.masked_fill(~mask, float('-inf'))
            o = torch.softmax(s, dim=-1) @ vals
        x = x + F.linear(o.transpose(0, 1).reshape(T, Hq * D), w['o'])
        h = rms(x, w['ln2'])
        x = x + F.linear(F.silu(F.linear(h, w['gate'])) * F.linear(h, w['up']), w['down'])
    return F.linear(rms(x[-1:], norm), head)[0]

with torch.no_grad():
    forward(prompt[:2], 0)
    forward(prompt[:1], min(2, P))
    sync()
    t0 = time.perf_counter()
    logits = forward(prompt, 0)
    tok = int(logits.argmax())
    sync()
    prefill = time.perf_counter() - t0
    tokens, times = [tok], []
    for i in range(steps):
        t0 = time.perf_counter()
        tok = int(forward([tok], P + i).argmax())
        sync()
        times.append(time.perf_counter() - t0)
        tokens.append(tok)
s = sorted(times)
m = len(s) // 2
out = {'prefill_ms': prefill * 1000, 'decode_ms_median': (s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2) * 1000 if s else None,
       'decode_ms_total': sum(times) * 1000, 'steps': steps, 'tokens': tokens}
if want_logits:
    out['logits'] = logits.tolist()
print(json.dumps(out))
`;

function python(args: string[], timeoutMs: number): Promise<string> {
  return runPython(torchPython(), { import: 'torch', name: 'PyTorch' }, args, timeoutMs, torchPeerEnv());
}

export function torchModelPeer(): ModelPeer {
  return {
    name: 'pytorch',
    // the same probe as the matmul peer: one line naming torch's version and where it runs
    open: () => torchPeer().open(),
    async timeDecode(dir: string, prompt: number[], decodeTokens: number, timeoutMs: number, opts: { logits?: boolean } = {}): Promise<ModelPeerRun> {
      if (prompt.length === 0) throw new Error('pytorch: the prompt is empty');
      const out = await python(['-c', DECODE, dir, JSON.stringify(prompt), String(decodeTokens), opts.logits ? '1' : '0'], timeoutMs);
      const r = JSON.parse(out.split('\n').pop()!) as { prefill_ms: number; decode_ms_median: number | null; decode_ms_total: number; steps: number; tokens: number[]; logits?: number[] };
      if (!(r.prefill_ms > 0) || (decodeTokens > 0 && !(r.decode_ms_total > 0)) || r.tokens.length !== decodeTokens + 1) {
        throw new Error(`pytorch gave an implausible run (prefill ${r.prefill_ms} ms, decode ${r.decode_ms_total} ms, ${r.tokens.length} tokens)`);
      }
      return {
        prefillMs: r.prefill_ms,
        decodeMsMedian: r.decode_ms_median ?? 0,
        decodeMsTotal: r.decode_ms_total,
        steps: r.steps,
        tokens: r.tokens,
        ...(r.logits ? { logits: r.logits } : {}),
      };
    },
    close: async () => {},
  };
}
