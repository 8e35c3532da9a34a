// One-thread CPU rates of the GPTQ kernels (Hessian, factor, GPTQ, refit + learned rounding) on random data: node benchmarks/gptq-kernels.mjs
import { gptqFactor, gptqQuantize, hessianAccumulate, setThreads } from '../dist/lib/backend/native/addon.js';
setThreads(1);
const n = 2048, rows = 512, tokens = 1024;
const x = Float32Array.from({ length: tokens * n }, () => Math.random() - 0.5);
const h = new Float64Array(n * n);
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
let t = cpu(); hessianAccumulate(h, n, x, tokens); const th = cpu() - t;
for (let j = 0; j < n; j++) h[j * n + j] += 1;
const perm = Int32Array.from({ length: n }, (_, j) => j);
t = cpu(); const u = gptqFactor(h, n, perm); const tf = cpu() - t;
const w = Float32Array.from({ length: rows * n }, () => (Math.random() - 0.5) * 0.05);
t = cpu(); gptqQuantize(w, rows, n, h, u, perm, 3, 64, 'bf16', 0, 0); const tq = cpu() - t;
t = cpu(); gptqQuantize(w, rows, n, h, u, perm, 3, 64, 'bf16', 2, 4); const tl = cpu() - t;
console.log(JSON.stringify({ n, rows, tokens, hessianSeconds: th, hessianGflops: (tokens * n * n) / th / 1e9, factorSeconds: tf, factorGflops: (2 * n ** 3 / 3) / tf / 1e9, gptqSeconds: tq, gptqGmaddPerRowN2: (rows * n * n / 2) / tq / 1e9, refitLearned4Seconds: tl - tq }));
