// Times ONNX Runtime (onnxruntime-node's bundled CPU library) on one model, for bench/compare.py.
//
//   node bench/ort_run.js MODEL INPUT.npy THREADS RUNS WARMUP [OUTPUT.bin]
//
// Prints one JSON line: session creation time (a fresh process, first model load to ready), the
// time of each run (measured around session.run, so it includes the Node.js binding's small
// per-call cost), and peak RSS less Node.js's own. With OUTPUT.bin, writes the first output as
// raw float32 for the agreement check.
"use strict";
// Node.js's own memory before ONNX Runtime is loaded: subtracted from the peak, so that the
// figure is ONNX Runtime's (its library, session and buffers), not the JavaScript engine's.
const nodeBaselineKb = Math.round(process.memoryUsage().rss / 1024);
const fs = require("fs");
const path = require("path");
const ort = require(path.join(__dirname, "node_modules", "onnxruntime-node"));

function readNpy(file) {
  const buf = fs.readFileSync(file);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.toString("latin1", 10, 10 + headerLen);
  if (!header.includes("'<f4'") || header.includes("'fortran_order': True")) throw new Error(`${file}: float32 C-order only`);
  const shape = header.match(/\(([^)]*)\)/)[1].split(",").map((s) => s.trim()).filter((s) => s).map(Number);
  const start = 10 + headerLen;
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length));
  return new ort.Tensor("float32", data, shape);
}

// Peak resident memory in KiB from /proc (maxRSS would also count what the parent process
// held before the exec that started this one).
function peakRssKb() {
  const m = fs.readFileSync("/proc/self/status", "latin1").match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) : process.resourceUsage().maxRSS;
}

function options(threads) {
  return {intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: "all", executionMode: "sequential"};
}

async function main() {
  const [model, input, threadsArg, runsArg, warmupArg, outFile] = process.argv.slice(2);
  const threads = Number(threadsArg), runs = Number(runsArg), warmup = Number(warmupArg);
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, options(threads));
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const feeds = {[session.inputNames[0]]: readNpy(input)};
  let result;
  for (let i = 0; i < warmup; i++) result = await session.run(feeds);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    result = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  if (outFile) fs.writeFileSync(outFile, Buffer.from(result[session.outputNames[0]].data.buffer));
  console.log(JSON.stringify({times_ms: times, load_ms: loadMs, peak_rss_kb: peakRssKb() - nodeBaselineKb,
                              version: require(path.join(__dirname, "node_modules", "onnxruntime-node", "package.json")).version}));
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
