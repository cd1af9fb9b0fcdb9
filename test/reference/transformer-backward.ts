/**
 * Float64 CPU loss and gradients of LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM
 * (test-only): a forward that keeps its activations (the same math as test/reference/transformer.ts,
 * from the HF modeling code), the summed token cross-entropy, and a hand-written backward through
 * every layer. `lossRef` is the same forward without the backward, for finite differences.
 *
 * Weights are a map of HF names to float64 (or float32) arrays so finite differences can perturb
 * them in float64. The loss is Σ over sequences and positions with a target != ignore of
 * logsumexp(logits) - logits[target]; gradients are of that sum (no averaging).
 */
import type { ModelConfig, Weights } from '../../src/model/config.js';

export type RefWeights = Map<string, ArrayLike<number>>;
type Vec = Float64Array;

const IGNORE = 0xffffffff;

/** Float64 copies of the weights (name → data). */
export function toRefWeights(w: Weights): Map<string, Float64Array> {
  return new Map([...w].map(([n, t]) => [n, Float64Array.from(t.data)]));
}

/** y[T, out] = x[T, in] · W[out, in]ᵀ (+ b) */
function linear(x: Vec, T: number, W: ArrayLike<number>, out: number, inp: number, b?: ArrayLike<number>): Vec {
  const y = new Float64Array(T * out);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inp; i++) s += x[t * inp + i] * W[o * inp + i];
      y[t * out + o] = s;
    }
  }
  return y;
}

/** Backward of linear: dW[out, in] += dyᵀ·x, db[out] += Σ dy, returns dx = dy·W. */
function linearBack(dy: Vec, x: Vec, T: number, W: ArrayLike<number>, out: number, inp: number, dW: Vec, db?: Vec): Vec {
  const dx = new Float64Array(T * inp);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < out; o++) {
      const g = dy[t * out + o];
      if (db) db[o] += g;
      for (let i = 0; i < inp; i++) {
        dW[o * inp + i] += g * x[t * inp + i];
        dx[t * inp + i] += g * W[o * inp + i];
      }
    }
  }
  return dx;
}

function rmsNorm(x: Vec, dim: number, w: ArrayLike<number>, eps: number): { y: Vec; rstd: Vec } {
  const rows = x.length / dim;
  const y = new Float64Array(x.length);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let d = 0; d < dim; d++) ss += x[r * dim + d] ** 2;
    const inv = (rstd[r] = 1 / Math.sqrt(ss / dim + eps));
    for (let d = 0; d < dim; d++) y[r * dim + d] = x[r * dim + d] * inv * w[d];
  }
  return { y, rstd };
}

/** y = x·r·w: dw += Σ dy·x·r, dx = r·dy·w − x·r³/D · Σ_d dy·w·x. */
function rmsNormBack(dy: Vec, x: Vec, rstd: Vec, dim: number, w: ArrayLike<number>, dw: Vec): Vec {
  const dx = new Float64Array(x.length);
  for (let r = 0; r < rstd.length; r++) {
    const o = r * dim;
    const inv = rstd[r];
    let dot = 0;
    for (let d = 0; d < dim; d++) {
      dot += dy[o + d] * w[d] * x[o + d];
      dw[d] += dy[o + d] * x[o + d] * inv;
    }
    for (let d = 0; d < dim; d++) dx[o + d] = inv * dy[o + d] * w[d] - (x[o + d] * inv ** 3 * dot) / dim;
  }
  return dx;
}

/** HF rotary angle table [T, D/2] (angles rounded to float32 as HF computes them). */
function ropeAngles(T: number, D: number, theta: number): { cos: Vec; sin: Vec } {
  const f = Math.fround;
  const half = D / 2;
  const cos = new Float64Array(T * half);
  const sin = new Float64Array(T * half);
  for (let i = 0; i < half; i++) {
    const inv = f(1 / f(f(theta) ** f(f(2 * i) / D)));
    for (let t = 0; t < T; t++) {
      const ang = f(f(t) * inv);
      cos[t * half + i] = Math.cos(ang);
      sin[t * half + i] = Math.sin(ang);
    }
  }
  return { cos, sin };
}

/**
 * Rotation of x [T, heads, D] (rotate_half convention), or its transpose (the backward) with
 * `inverse`: (a, b) → (a·c − b·s, b·c + a·s), inverse (a, b) → (a·c + b·s, b·c − a·s).
 */
function rope(x: Vec, T: number, heads: number, D: number, tab: { cos: Vec; sin: Vec }, inverse: boolean): Vec {
  const half = D / 2;
  const y = new Float64Array(x.length);
  const sgn = inverse ? -1 : 1;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * D;
      for (let i = 0; i < half; i++) {
        const c = tab.cos[t * half + i];
        const s = sgn * tab.sin[t * half + i];
        const a = x[base + i];
        const b = x[base + i + half];
        y[base + i] = a * c - b * s;
        y[base + i + half] = b * c + a * s;
      }
    }
  }
  return y;
}

/** Causal GQA attention; returns out [T, Hq, D] and the probabilities P [Hq, T, T]. */
function attention(q: Vec, k: Vec, v: Vec, T: number, Hq: number, Hkv: number, D: number): { out: Vec; P: Vec } {
  const out = new Float64Array(T * Hq * D);
  const P = new Float64Array(Hq * T * T);
  const G = Hq / Hkv;
  const scale = 1 / Math.sqrt(D);
  for (let h = 0; h < Hq; h++) {
    const kh = Math.floor(h / G);
    for (let i = 0; i < T; i++) {
      const row = (h * T + i) * T;
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += q[(i * Hq + h) * D + d] * k[(j * Hkv + kh) * D + d];
        P[row + j] = s * scale;
        max = Math.max(max, P[row + j]);
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) sum += P[row + j] = Math.exp(P[row + j] - max);
      for (let j = 0; j <= i; j++) {
        P[row + j] /= sum;
        for (let d = 0; d < D; d++) out[(i * Hq + h) * D + d] += P[row + j] * v[(j * Hkv + kh) * D + d];
      }
    }
  }
  return { out, P };
}

/** dS = P ∘ (dP − Σ_j P·dP) with dP = dout·vᵀ; dq = scale·dS·k, dk = scale·dSᵀ·q, dv = Pᵀ·dout. */
function attentionBack(dout: Vec, q: Vec, k: Vec, v: Vec, P: Vec, T: number, Hq: number, Hkv: number, D: number): { dq: Vec; dk: Vec; dv: Vec } {
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const G = Hq / Hkv;
  const scale = 1 / Math.sqrt(D);
  const dP = new Float64Array(T);
  for (let h = 0; h < Hq; h++) {
    const kh = Math.floor(h / G);
    for (let i = 0; i < T; i++) {
      const row = (h * T + i) * T;
      const qo = (i * Hq + h) * D;
      let dot = 0;
      for (let j = 0; j <= i; j++) {
        const vo = (j * Hkv + kh) * D;
        let s = 0;
        for (let d = 0; d < D; d++) {
          s += dout[qo + d] * v[vo + d];
          dv[vo + d] += P[row + j] * dout[qo + d];
        }
        dP[j] = s;
        dot += P[row + j] * s;
      }
      for (let j = 0; j <= i; j++) {
        const ds = P[row + j] * (dP[j] - dot) * scale;
        const ko = (j * Hkv + kh) * D;
        for (let d = 0; d < D; d++) {
          dq[qo + d] += ds * k[ko + d];
          dk[ko + d] += ds * q[qo + d];
        }
      }
    }
  }
  return { dq, dk, dv };
}

interface Grads {
  get(name: string): Vec;
}

/**
 * One sequence: loss (sum over valid targets) and, when `grads` is given, the gradient of that sum
 * added into grads (name → float64 array of the tensor's size).
 */
function sequence(c: ModelConfig, w: RefWeights, ids: readonly number[], targets: readonly number[], grads?: Grads): { loss: number; count: number } {
  const get = (n: string) => {
    const t = w.get(n);
    if (!t) throw new Error(`reference: missing ${n}`);
    return t;
  };
  const T = ids.length;
  const H = c.hidden_size;
  const D = c.head_dim;
  const Hq = c.num_attention_heads;
  const Hkv = c.num_key_value_heads;
  const I = c.intermediate_size;
  const V = c.vocab_size;
  const eps = c.rms_norm_eps;
  const tab = ropeAngles(T, D, c.rope_theta);
  const embed = get('model.embed_tokens.weight');

  // ---- forward, keeping activations
  let h: Vec = new Float64Array(T * H);
  ids.forEach((id, t) => {
    for (let d = 0; d < H; d++) h[t * H + d] = embed[id * H + d];
  });
  const saved: Record<string, Vec>[] = [];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const a = `${p}.self_attn`;
    const bias = (n: string) => (c.attention_bias ? get(`${a}.${n}.bias`) : undefined);
    const s: Record<string, Vec> = { x: h };
    const n1 = rmsNorm(h, H, get(`${p}.input_layernorm.weight`), eps);
    s.n1 = n1.y;
    s.rstd1 = n1.rstd;
    s.qRaw = linear(n1.y, T, get(`${a}.q_proj.weight`), Hq * D, H, bias('q_proj'));
    s.kRaw = linear(n1.y, T, get(`${a}.k_proj.weight`), Hkv * D, H, bias('k_proj'));
    s.v = linear(n1.y, T, get(`${a}.v_proj.weight`), Hkv * D, H, bias('v_proj'));
    let qn = s.qRaw;
    let kn = s.kRaw;
    if (c.qk_norm) {
      const qq = rmsNorm(s.qRaw, D, get(`${a}.q_norm.weight`), eps);
      const kk = rmsNorm(s.kRaw, D, get(`${a}.k_norm.weight`), eps);
      [qn, kn, s.rstdQ, s.rstdK] = [qq.y, kk.y, qq.rstd, kk.rstd];
    }
    s.q = rope(qn, T, Hq, D, tab, false);
    s.k = rope(kn, T, Hkv, D, tab, false);
    const at = attention(s.q, s.k, s.v, T, Hq, Hkv, D);
    s.attn = at.out;
    s.P = at.P;
    const o = linear(at.out, T, get(`${a}.o_proj.weight`), H, Hq * D);
    s.xm = h.map((x, i) => x + o[i]);
    const n2 = rmsNorm(s.xm, H, get(`${p}.post_attention_layernorm.weight`), eps);
    s.n2 = n2.y;
    s.rstd2 = n2.rstd;
    s.gate = linear(n2.y, T, get(`${p}.mlp.gate_proj.weight`), I, H);
    s.up = linear(n2.y, T, get(`${p}.mlp.up_proj.weight`), I, H);
    s.act = s.gate.map((g, i) => (g / (1 + Math.exp(-g))) * s.up[i]);
    const down = linear(s.act, T, get(`${p}.mlp.down_proj.weight`), H, I);
    h = s.xm.map((x, i) => x + down[i]);
    saved.push(s);
  }
  const nf = rmsNorm(h, H, get('model.norm.weight'), eps);
  const headName = c.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const head = get(headName);
  const logits = linear(nf.y, T, head, V, H);

  // ---- loss and dlogits
  let loss = 0;
  let count = 0;
  const dlogits = new Float64Array(T * V);
  for (let t = 0; t < T; t++) {
    const tg = targets[t];
    if (tg === IGNORE) continue;
    const o = t * V;
    let max = -Infinity;
    for (let i = 0; i < V; i++) max = Math.max(max, logits[o + i]);
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(logits[o + i] - max);
    const lse = max + Math.log(sum);
    loss += lse - logits[o + tg];
    count++;
    for (let i = 0; i < V; i++) dlogits[o + i] = Math.exp(logits[o + i] - lse) - (i === tg ? 1 : 0);
  }
  if (!grads) return { loss, count };

  // ---- backward
  const dnf = linearBack(dlogits, nf.y, T, head, V, H, grads.get(headName));
  let dh = rmsNormBack(dnf, h, nf.rstd, H, get('model.norm.weight'), grads.get('model.norm.weight'));
  for (let l = c.num_hidden_layers - 1; l >= 0; l--) {
    const p = `model.layers.${l}`;
    const a = `${p}.self_attn`;
    const s = saved[l];
    // MLP: dh is d/d x_{l+1} = d/d xm through the residual, plus the branch
    const dact = linearBack(dh, s.act, T, get(`${p}.mlp.down_proj.weight`), H, I, grads.get(`${p}.mlp.down_proj.weight`));
    const dgate = new Float64Array(T * I);
    const dup = new Float64Array(T * I);
    for (let i = 0; i < T * I; i++) {
      const g = s.gate[i];
      const sig = 1 / (1 + Math.exp(-g));
      dup[i] = dact[i] * g * sig;
      dgate[i] = dact[i] * s.up[i] * sig * (1 + g * (1 - sig));
    }
    const dn2 = linearBack(dgate, s.n2, T, get(`${p}.mlp.gate_proj.weight`), I, H, grads.get(`${p}.mlp.gate_proj.weight`));
    const dn2u = linearBack(dup, s.n2, T, get(`${p}.mlp.up_proj.weight`), I, H, grads.get(`${p}.mlp.up_proj.weight`));
    for (let i = 0; i < dn2.length; i++) dn2[i] += dn2u[i];
    const dxm2 = rmsNormBack(dn2, s.xm, s.rstd2, H, get(`${p}.post_attention_layernorm.weight`), grads.get(`${p}.post_attention_layernorm.weight`));
    const dxm = dh.map((x, i) => x + dxm2[i]);
    // attention
    const dattn = linearBack(dxm, s.attn, T, get(`${a}.o_proj.weight`), H, Hq * D, grads.get(`${a}.o_proj.weight`));
    const g = attentionBack(dattn, s.q, s.k, s.v, s.P, T, Hq, Hkv, D);
    let dq = rope(g.dq, T, Hq, D, tab, true);
    let dk = rope(g.dk, T, Hkv, D, tab, true);
    if (c.qk_norm) {
      dq = rmsNormBack(dq, s.qRaw, s.rstdQ, D, get(`${a}.q_norm.weight`), grads.get(`${a}.q_norm.weight`));
      dk = rmsNormBack(dk, s.kRaw, s.rstdK, D, get(`${a}.k_norm.weight`), grads.get(`${a}.k_norm.weight`));
    }
    const bias = (n: string) => (c.attention_bias ? grads.get(`${a}.${n}.bias`) : undefined);
    const dn1 = linearBack(dq, s.n1, T, get(`${a}.q_proj.weight`), Hq * D, H, grads.get(`${a}.q_proj.weight`), bias('q_proj'));
    const dn1k = linearBack(dk, s.n1, T, get(`${a}.k_proj.weight`), Hkv * D, H, grads.get(`${a}.k_proj.weight`), bias('k_proj'));
    const dn1v = linearBack(g.dv, s.n1, T, get(`${a}.v_proj.weight`), Hkv * D, H, grads.get(`${a}.v_proj.weight`), bias('v_proj'));
    for (let i = 0; i < dn1.length; i++) dn1[i] += dn1k[i] + dn1v[i];
    const dx1 = rmsNormBack(dn1, s.x, s.rstd1, H, get(`${p}.input_layernorm.weight`), grads.get(`${p}.input_layernorm.weight`));
    dh = dxm.map((x, i) => x + dx1[i]);
  }
  const dEmbed = grads.get('model.embed_tokens.weight');
  ids.forEach((id, t) => {
    for (let d = 0; d < H; d++) dEmbed[id * H + d] += dh[t * H + d];
  });
  return { loss, count };
}

/**
 * Loss (Σ over valid targets of every row) and its gradient for every weight, float64.
 * inputs/targets: B rows of T tokens each (targets may hold 0xffffffff = ignored).
 */
export function transformerLossAndGrads(
  c: ModelConfig,
  w: RefWeights,
  inputs: readonly number[][],
  targets: readonly number[][],
): { loss: number; count: number; grads: Map<string, Float64Array> } {
  const grads = new Map<string, Float64Array>();
  for (const [name, data] of w) grads.set(name, new Float64Array(data.length));
  const g: Grads = {
    get: (n) => {
      const t = grads.get(n);
      if (!t) throw new Error(`reference: no gradient for ${n}`);
      return t;
    },
  };
  let loss = 0;
  let count = 0;
  inputs.forEach((ids, b) => {
    const r = sequence(c, w, ids, targets[b], g);
    loss += r.loss;
    count += r.count;
  });
  return { loss, count, grads };
}

/** The loss alone (Σ over valid targets), float64: for finite differences. */
export function lossRef(c: ModelConfig, w: RefWeights, inputs: readonly number[][], targets: readonly number[][]): number {
  let loss = 0;
  inputs.forEach((ids, b) => (loss += sequence(c, w, ids, targets[b]).loss));
  return loss;
}
