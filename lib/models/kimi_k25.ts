// Kimi-K2.5 (model_type kimi_k25): the DeepSeek-V3 text model nested under
// text_config and the `language_model.` prefix, plus the MoonViT vision tower
// and patch-merger projector, which are passed through unquantized.
// Shapes: ../shared/reference/kimi.md §1.3 (tensor listing of the release).
import type { JsonObject } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import { ConfigReader } from './config.js';
import { deepseekV3Table } from './deepseek_v3.js';
import { type Kind, type ModelTable, same, type TensorEntry } from './table.js';

function visionEntries(vision: JsonObject, textHidden: number): TensorEntry[] {
  const c = new ConfigReader(vision, 'config.json vision_config');
  const h = c.int('vt_hidden_size');
  const inter = c.int('vt_intermediate_size');
  const blocks = c.int('vt_num_hidden_layers');
  const patch = c.int('patch_size');
  const posH = c.int('init_pos_emb_height');
  const posW = c.int('init_pos_emb_width');
  const merge = (vision.merge_kernel_size as number[] | undefined) ?? [2, 2];
  const merged = h * merge[0]! * merge[1]!;
  const out: TensorEntry[] = [];
  const add = (name: string, shape: number[], kind: Kind = 'param') => out.push(same(name, kind, 'vision', null, shape));
  const linear = (name: string, o: number, i: number) => {
    add(`${name}.weight`, [o, i]);
    add(`${name}.bias`, [o]);
  };
  const layerNorm = (name: string, n: number) => {
    add(`${name}.weight`, [n]);
    add(`${name}.bias`, [n]);
  };
  add('vision_tower.patch_embed.proj.weight', [h, 3, patch, patch], 'conv');
  add('vision_tower.patch_embed.proj.bias', [h]);
  add('vision_tower.patch_embed.pos_emb.weight', [posH, posW, h]);
  for (let b = 0; b < blocks; b++) {
    const B = `vision_tower.encoder.blocks.${b}`;
    linear(`${B}.wqkv`, 3 * h, h);
    linear(`${B}.wo`, h, h);
    linear(`${B}.mlp.fc0`, inter, h);
    linear(`${B}.mlp.fc1`, h, inter);
    layerNorm(`${B}.norm0`, h);
    layerNorm(`${B}.norm1`, h);
  }
  layerNorm('vision_tower.encoder.final_layernorm', h);
  layerNorm('mm_projector.pre_norm', h);
  linear('mm_projector.proj.0', merged, merged);
  linear('mm_projector.proj.2', textHidden, merged);
  return out;
}

export function kimiK25Table(cfg: JsonObject, where = 'config.json'): ModelTable {
  const text = cfg.text_config;
  if (text === null || typeof text !== 'object' || Array.isArray(text)) throw new MlxkError(`${where}: kimi_k25 needs a "text_config" object`);
  const t = text as JsonObject;
  const table = deepseekV3Table({ torch_dtype: cfg.torch_dtype ?? cfg.dtype, ...t }, 'kimi_k25', 'language_model.', `${where} text_config`);
  const vision = cfg.vision_config;
  if (vision && typeof vision === 'object' && !Array.isArray(vision)) {
    table.entries.push(...visionEntries(vision as JsonObject, new ConfigReader(t, where).int('hidden_size')));
  }
  return table;
}
