// Tensors copied into memory the process maps itself (native/src/anon_map.cc), for data kept
// long and dropped at known times: the prompt cache's entries. Their buffers are a few MB, which
// glibc serves from its heap once its dynamic mmap threshold has risen past them, and freed heap
// pages stay resident: evicted entries would keep counting in RSS. A mapping of our own leaves
// at release(), at once and without waiting for the collector, while every other allocation
// keeps glibc's fast path (a fixed threshold cost ~0.57× prefill, see benchmarks/results/soak.md).
import type { KeptTensors } from '../ops.js';
import { modelOps } from './addon.js';
import { f32Data, HostTensor, type NativeTensor, rowMajorStrides, sizeOf } from './tensor.js';

interface AnonMapAddon {
  mapAnonymous(bytes: number): ArrayBuffer;
  unmapAnonymous(buffer: ArrayBuffer): number;
  anonymousMapped(): { mappings: number; bytes: number };
}

const addon = () => modelOps() as unknown as AnonMapAddon;

/** float32 copies of `xs` in one anonymous mapping. */
export function keepTensors(xs: NativeTensor[]): KeptTensors<HostTensor> {
  const total = xs.reduce((a, x) => a + sizeOf(x.shape), 0);
  const buffer = addon().mapAnonymous(Math.max(1, total * 4));
  const bytes = buffer.byteLength;
  let at = 0;
  const tensors = xs.map((x) => {
    const n = sizeOf(x.shape);
    const data = new Float32Array(buffer, at * 4, n);
    data.set(f32Data(x));
    at += n;
    // Every element counts as seen: a write into a kept tensor copies it out (tensor.ts).
    return new HostTensor('F32', { data, viewLo: 0, viewHi: n }, 0, [...x.shape], rowMajorStrides(x.shape));
  });
  let released = false;
  return {
    tensors,
    bytes,
    release() {
      if (released) return;
      released = true;
      addon().unmapAnonymous(buffer);
    },
  };
}

/** Mappings made by keepTensors and not yet released (or collected), for tests. */
export function keptMappings(): { mappings: number; bytes: number } {
  return addon().anonymousMapped();
}
