// Stop sequences: never emitted, nothing after them emitted, found when split over chunks, and a
// held-back partial match released when it turns out not to be one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scanMarkers } from '../../lib/protocol/markerScanner.js';
import { THINK_TAGS } from '../../lib/protocol/reasoning.js';
import { StopMatcher } from '../../lib/protocol/stopStrings.js';
import { runSeed } from '../helpers.js';
import { parseChunks, sameUnderEveryCut } from './splits.js';

const seed = runSeed();

test('a stop sequence ends the text, under every cutting', () => {
  const r = sameUnderEveryCut('The answer is 4.\nObservation: more text', { stop: ['\nObservation'] }, seed);
  assert.equal(r.events, [{ type: 'text', text: 'The answer is 4.' }]);
  assert.is(r.stop, '\nObservation');
});

test('a partial match is released when the text goes another way', () => {
  const r = sameUnderEveryCut('END of ENDING? EN', { stop: ['ENDX'] }, seed);
  assert.equal(r.events, [{ type: 'text', text: 'END of ENDING? EN' }]);
  assert.is(r.stop, undefined);
});

test('the earliest stop wins; of two starting together, the one complete first', () => {
  assert.is(sameUnderEveryCut('xx abcd yy', { stop: ['cd', 'abc'] }, seed).stop, 'abc');
  const r = sameUnderEveryCut('xx abcd yy', { stop: ['abcd', 'ab'] }, seed);
  assert.is(r.stop, 'ab');
  assert.equal(r.events, [{ type: 'text', text: 'xx ' }]);
});

test('held-back text is not delayed longer than needed', () => {
  const m = new StopMatcher(['STOP']);
  assert.is(m.feed('abc S'), 'abc ');
  assert.is(m.feed('T'), '');
  assert.is(m.feed('x'), 'STx');
  assert.is(m.feed('STO'), '');
  assert.is(m.finish(), 'STO');
});

test('stop sequences apply to reasoning text too and end it', () => {
  const r = sameUnderEveryCut('thinking... HALT more', { reasoning: THINK_TAGS, startInReasoning: true, stop: ['HALT'] }, seed);
  assert.equal(r.events, [{ type: 'reasoning', text: 'thinking...' }]);
});

test('nothing is fed after a stop', () => {
  const r = parseChunks(['a', 'b|', 'c', 'd'], { stop: ['|'] });
  assert.equal(r.events, [{ type: 'text', text: 'ab' }]);
});

test('scanMarkers holds back only a tail that can still become a marker', () => {
  assert.equal(scanMarkers('hello <|to', ['<|tool_call_begin|>']), { text: 'hello ', rest: '<|to' });
  assert.equal(scanMarkers('hello <|tx', ['<|tool_call_begin|>']), { text: 'hello <|tx', rest: '' });
  assert.equal(scanMarkers('hello <|to', ['<|tool_call_begin|>'], true), { text: 'hello <|to', rest: '' });
  assert.equal(scanMarkers('a<b>c', ['<b>']), { text: 'a', marker: '<b>', rest: 'c' });
});

test.run();
