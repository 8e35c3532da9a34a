// Stop strings over streamed pieces that split them anywhere.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StopStrings } from '../../lib/engine/stop.js';

function run(stops: string[], pieces: string[]): { emitted: string[]; stopped: string | null; rest: string } {
  const s = new StopStrings(stops);
  const emitted: string[] = [];
  for (const p of pieces) {
    const r = s.push(p);
    emitted.push(r.text);
    if (r.stopped) return { emitted, stopped: r.stopped, rest: '' };
  }
  return { emitted, stopped: null, rest: s.flush() };
}

test('a stop string split over several pieces ends the text before it', () => {
  const r = run(['<|end|>'], ['Hel', 'lo <', '|e', 'nd|> more']);
  assert.is(r.stopped, '<|end|>');
  assert.is(r.emitted.join(''), 'Hello ');
  assert.equal(r.emitted, ['Hel', 'lo ', '', '']);
});

test('a partial match is held back, then released when it fails', () => {
  const r = run(['###'], ['a #', '#', 'b', 'c']);
  assert.is(r.stopped, null);
  assert.equal(r.emitted, ['a ', '', '##b', 'c']);
});

test('the held tail comes out at the end', () => {
  const r = run(['STOP'], ['x', 'ST']);
  assert.equal(r.emitted, ['x', '']);
  assert.is(r.rest, 'ST');
});

test('the earliest of several stop strings wins, even inside one piece', () => {
  const r = run(['world', 'lo w'], ['hello world']);
  assert.is(r.stopped, 'lo w');
  assert.is(r.emitted.join(''), 'hel');
});

test('no stop strings: pieces pass straight through', () => {
  assert.equal(run([], ['a', '', 'b']).emitted, ['a', '', 'b']);
});

test.run();
