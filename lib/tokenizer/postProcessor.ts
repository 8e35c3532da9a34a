// tokenizer.json "post_processor": the ids HF's encode(add_special_tokens=True) wraps around a
// single sequence (Llama-3's TemplateProcessing adds <|begin_of_text|>). Pairs are not used here.
import { MlxkError } from '../io/errors.js';
import { field, isArray, isObject, type Spec } from './spec.js';

export type PostProcess = (ids: number[]) => number[];

function templateProcessing(spec: Spec, where: string): PostProcess {
  const single = field(spec, 'single', where, isArray, 'an array');
  const specials = spec.special_tokens;
  if (!isObject(specials)) throw new MlxkError(`${where}.special_tokens must be an object`);
  const parts = single.map((p, i): number[] | 'sequence' => {
    const w = `${where}.single[${i}]`;
    if (isObject(p) && isObject(p.Sequence)) return 'sequence';
    if (isObject(p) && isObject(p.SpecialToken) && typeof p.SpecialToken.id === 'string') {
      const entry = specials[p.SpecialToken.id];
      if (!isObject(entry) || !isArray(entry.ids) || !entry.ids.every((x) => Number.isInteger(x))) {
        throw new MlxkError(`${w}: special token ${JSON.stringify(p.SpecialToken.id)} has no ids in ${where}.special_tokens`);
      }
      return entry.ids as number[];
    }
    throw new MlxkError(`${w} must be {"Sequence": …} or {"SpecialToken": {"id": …}}, got ${JSON.stringify(p)}`);
  });
  return (ids) => parts.flatMap((p) => (p === 'sequence' ? ids : p));
}

/** RobertaProcessing / BertProcessing: cls + sequence + sep, each given as [token, id]. */
function clsSep(spec: Spec, where: string): PostProcess {
  const id = (name: string) => {
    const v = spec[name];
    if (!isArray(v) || v.length !== 2 || !Number.isInteger(v[1])) throw new MlxkError(`${where}.${name} must be [token, id], got ${JSON.stringify(v)}`);
    return v[1] as number;
  };
  const cls = id('cls'), sep = id('sep');
  return (ids) => [cls, ...ids, sep];
}

export function buildPostProcessor(spec: unknown, where: string): PostProcess {
  if (spec === null || spec === undefined) return (ids) => ids;
  if (!isObject(spec)) throw new MlxkError(`${where} must be an object or null`);
  switch (spec.type) {
    case 'ByteLevel':
      return (ids) => ids;
    case 'TemplateProcessing':
      return templateProcessing(spec, where);
    case 'RobertaProcessing':
    case 'BertProcessing':
      return clsSep(spec, where);
    case 'Sequence': {
      const steps = field(spec, 'processors', where, isArray, 'an array').map((p, i) => buildPostProcessor(p, `${where}.processors[${i}]`));
      return (ids) => steps.reduce((acc, step) => step(acc), ids);
    }
    default:
      throw new MlxkError(`${where}: post_processor type ${JSON.stringify(spec.type)} is not supported`);
  }
}
