// JsonObjectPrefix against JSON.parse as the oracle: every prefix of a valid object is accepted
// whole; text cut anywhere closes to an object JSON.parse reads; a character that no continuation
// could make valid is where acceptance stops (checked by trying every completion the grammar has
// at that point: if the oracle parses one, the cut came too early).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JsonObjectPrefix } from '../../lib/server/anthropic/jsonPrefix.js';

function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
}

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 3 ? 5 : 7));
  if (k === 0) return Math.floor(r() * 2000) - 1000;
  if (k === 1) return (r() - 0.5) * 10 ** Math.floor(r() * 12 - 6);
  if (k === 2) return ['', 'a', 'Lisboa "quoted"', 'tab\there', '東京\\path', '\u0001ctl', '😀'][Math.floor(r() * 7)];
  if (k === 3) return [true, false, null][Math.floor(r() * 3)];
  if (k === 4) return `s${Math.floor(r() * 100)}`;
  if (k === 5) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  return randomObject(r, depth + 1);
}

function randomObject(r: () => number, depth: number): Record<string, unknown> {
  return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [`k${i}${r() < 0.2 ? '\n' : ''}`, randomValue(r, depth)]));
}

test('every prefix of 300 random objects (compact and indented) is accepted whole and closes to an object', () => {
  const r = rng(7);
  for (let n = 0; n < 300; n++) {
    const obj = randomObject(r, 0);
    const text = JSON.stringify(obj, null, n % 2 ? 2 : undefined);
    for (let cut = 0; cut <= text.length; cut += 1 + Math.floor(cut / 40)) {
      const p = new JsonObjectPrefix();
      const head = text.slice(0, cut);
      // Fed in uneven pieces, as a model's tokens arrive.
      let accepted = '';
      for (let i = 0; i < head.length; i += 3) accepted += p.push(head.slice(i, i + 3));
      assert.is(accepted, head);
      assert.ok(p.isValid);
      const closed = p.closed();
      if (cut === 0) assert.is(closed, '');
      else assert.type(JSON.parse(closed), 'object', closed);
    }
    const whole = new JsonObjectPrefix();
    whole.push(text);
    assert.equal(JSON.parse(whole.closed()), obj);
  }
});

test('acceptance stops exactly where no continuation can make an object', () => {
  const completions = ['', '"', '"}', '}', ']}', '"]}', '0}', '0]}', ':0}', '":0}', 'e}', 'ue}', 'l}', 'null}', '0"}', '00"}'];
  const r = rng(11);
  const alphabet = '{}[]":,0123456789.-+eEtrufalsn \\/u"x\n';
  let cutsChecked = 0;
  for (let n = 0; n < 2000; n++) {
    const base = JSON.stringify(randomObject(r, 0));
    const at = Math.floor(r() * (base.length + 1));
    const text = base.slice(0, at) + alphabet[Math.floor(r() * alphabet.length)] + base.slice(at);
    const p = new JsonObjectPrefix();
    const accepted = p.push(text);
    assert.ok(text.startsWith(accepted));
    if (p.isValid) continue;
    cutsChecked++;
    assert.not.ok(isObject(text), `a valid object was refused: ${text}`);
    const rejected = text.slice(0, accepted.length + 1);
    // Nothing short that could follow makes the refused text an object.
    assert.not.ok(completions.some((c) => isObject(rejected + c) || isObject(rejected + '0' + c) || isObject(rejected + '1"' + c)), `refused too early: ${rejected}`);
    assert.type(JSON.parse(p.closed() || '{}'), 'object');
  }
  assert.ok(cutsChecked > 500, `${cutsChecked} mutants were cut`);
});

test('text that is not an object is refused from its first character; trailing text after the object too', () => {
  for (const t of ['van', '[1]', '"a"', '1', 'null']) assert.is(new JsonObjectPrefix().push(t), '');
  const p = new JsonObjectPrefix();
  assert.is(p.push('{"a":1} {"b":2}'), '{"a":1} ');
  assert.is(p.closed(), '{"a":1}');
});

function isObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

test.run();
