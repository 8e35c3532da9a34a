// Rotary position embedding parameters from config.json, as transformers computes
// them (modeling_rope_utils.py: default, linear, llama3, yarn). Configs spell them
// two ways: transformers 5 writes `rope_parameters` (rope_theta and rope_type inside),
// hub configs `rope_theta` plus an optional `rope_scaling` (with `type` or `rope_type`).
import type { JsonObject } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';

export type RopeType = 'default' | 'linear' | 'llama3' | 'yarn';

export interface RopeConfig {
  type: RopeType;
  theta: number;
  /** The scaling fields (factor, beta_fast, …); empty for default. */
  params: JsonObject;
  maxPositionEmbeddings: number;
}

export function ropeConfig(cfg: JsonObject, where = 'config.json'): RopeConfig {
  const nested = cfg.rope_parameters as JsonObject | undefined | null;
  const scaling = (cfg.rope_scaling ?? null) as JsonObject | null;
  const params: JsonObject = { ...(scaling ?? {}), ...(nested ?? {}) };
  const theta = params.rope_theta ?? cfg.rope_theta ?? 10000;
  if (typeof theta !== 'number' || !(theta > 0)) throw new MlxkError(`${where}: rope_theta must be a positive number, got ${JSON.stringify(theta)}`);
  const type = String(params.rope_type ?? params.type ?? 'default');
  if (!['default', 'linear', 'llama3', 'yarn'].includes(type)) throw new MlxkError(`${where}: rope type "${type}" is not supported (supported: default, linear, llama3, yarn)`);
  const max = cfg.max_position_embeddings;
  return { type: type as RopeType, theta, params, maxPositionEmbeddings: typeof max === 'number' ? max : 4096 };
}

function num(rc: RopeConfig, key: string, fallback?: number): number {
  const v = rc.params[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new MlxkError(`config.json: ${rc.type} rope scaling needs "${key}"`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new MlxkError(`config.json: rope scaling "${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/** yarn_get_mscale: the attention-temperature correction for a context stretched by `scale`. */
export function yarnMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

export interface RopeFrequencies {
  /** dims/2 inverse frequencies, rounded to float32 as transformers holds them. */
  invFreq: number[];
  /** Factor on cos and sin (yarn's attention_factor; 1 otherwise). */
  attentionScaling: number;
}

export function ropeFrequencies(rc: RopeConfig, dims: number): RopeFrequencies {
  // transformers computes these in float32 tensors; each step is rounded like it.
  const f = Math.fround;
  const power = Array.from({ length: dims / 2 }, (_, i) => f(rc.theta ** f((2 * i) / dims)));
  const base = power.map((p) => f(1 / p));
  const f32 = (xs: number[]) => xs.map(f);
  switch (rc.type) {
    case 'default':
      return { invFreq: f32(base), attentionScaling: 1 };
    case 'linear': {
      const factor = num(rc, 'factor');
      return { invFreq: f32(base.map((b) => b / factor)), attentionScaling: 1 };
    }
    case 'llama3': {
      const factor = num(rc, 'factor');
      const low = num(rc, 'low_freq_factor');
      const high = num(rc, 'high_freq_factor');
      const old = num(rc, 'original_max_position_embeddings');
      const lowWavelen = old / low;
      const highWavelen = old / high;
      const inv = base.map((b) => {
        const wavelen = f(f(2 * Math.PI) / b);
        if (wavelen < highWavelen) return b;
        if (wavelen > lowWavelen) return f(b / factor);
        const smooth = f(f(f(old / wavelen) - low) / (high - low));
        return f(f(f(f(1 - smooth) * b) / factor) + f(smooth * b));
      });
      return { invFreq: f32(inv), attentionScaling: 1 };
    }
    case 'yarn': {
      const factor = num(rc, 'factor');
      const original = num(rc, 'original_max_position_embeddings', rc.maxPositionEmbeddings);
      const betaFast = num(rc, 'beta_fast', 32) || 32;
      const betaSlow = num(rc, 'beta_slow', 1) || 1;
      const corrDim = (rot: number) => (dims * Math.log(original / (rot * 2 * Math.PI))) / (2 * Math.log(rc.theta));
      const truncate = rc.params.truncate !== false;
      let low = corrDim(betaFast);
      let high = corrDim(betaSlow);
      if (truncate) {
        low = Math.floor(low);
        high = Math.ceil(high);
      }
      low = Math.max(low, 0);
      high = Math.min(high, dims - 1);
      if (low === high) high += 0.001;
      const inv = base.map((extrap, i) => {
        const interp = f(1 / f(factor * power[i]!));
        const ramp = f(Math.min(1, Math.max(0, (i - low) / (high - low))));
        const extrapolation = f(1 - ramp);
        return f(f(interp * f(1 - extrapolation)) + f(extrap * extrapolation));
      });
      const explicit = rc.params.attention_factor;
      const mscale = num(rc, 'mscale', 0);
      const mscaleAllDim = num(rc, 'mscale_all_dim', 0);
      const attentionScaling = typeof explicit === 'number' ? explicit : mscale && mscaleAllDim ? yarnMscale(factor, mscale) / yarnMscale(factor, mscaleAllDim) : yarnMscale(factor);
      return { invFreq: f32(inv), attentionScaling };
    }
  }
}

/**
 * DeepSeek-V3's extra softmax factor under yarn: mscale(factor, mscale_all_dim)², folded
 * into the attention scale (transformers DeepseekV3Attention; ../shared/reference/kimi.md §2.8).
 */
export function deepseekSoftmaxMscale(rc: RopeConfig): number {
  if (rc.type === 'default') return 1;
  const all = num(rc, 'mscale_all_dim', 0);
  if (!all) return 1;
  const m = yarnMscale(num(rc, 'factor'), all);
  return m * m;
}
