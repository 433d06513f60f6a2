#!/usr/bin/env python3
"""Token-by-token decoding with a KV cache: onyx against ONNX Runtime, per decode step and prefill.

    .venv/bin/python bench/decode.py [--rounds N] [--tokens T] [--threads 1,2] [--models tiny,bench]
    .venv/bin/python bench/decode.py --overhead [OTHER_ONYX...]   the per-step cost of planning

Models (LLaMA-family, grouped-query attention, exported by models/decoders.py with optimum's
interface: input_ids, attention_mask, position_ids, past_key_values.N.key/.value -> logits,
present.N.key/.value):
  tiny   models/decoder_llama (committed): d_model 64, 2 layers, 4 query / 2 kv heads, vocab 1000
  bench  bench/models/decoder_llama_bench (exported here when missing): d_model 768, 6 layers,
         12 query / 4 kv heads, intermediate 2048, vocabulary 32000

For each model, past length P in 16, 128, 512 and thread count: a prompt of P tokens (the same
seeded ids for both), then --tokens greedy decode steps, each step's present key/values the next
step's past without a copy through the host:
  onyx  `onyx generate MODEL --prompt-len P --tokens T --threads N --warmup 1 --json` (the cache
        carried inside the session, onyx_session_carry; each step has a new past length, so each
        step plans for new shapes: what is timed includes that; one untimed decode first);
  ORT   an onnxruntime.InferenceSession with IOBinding: the presents, OrtValues ORT allocated, bound
        as the next step's pasts; intra_op_num_threads N; one untimed decode first.
The figures: the median step time over the decode steps (past P .. P+T-1), and the prefill (the
P-token prompt) for P = 128, each the lowest of --rounds rounds, the systems alternating. The new
token ids of both are compared (equal for the tiny model; the bench model's random weights give
near-ties, so a difference there is reported, not fatal).

cases() lists fixed-shape runs for bench/compare.py's harness (`onyx bench` vs ORT on the same
inputs): one decode step at past 16/128/512 and the 128-token prefill, inputs written as .npy
under bench/models/decode_inputs/.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ONYX_CLI = os.path.join(ROOT, "build", "cli", "onyx")
MODELS = {
    "tiny": os.path.join(ROOT, "models", "decoder_llama", "model.onnx"),
    "bench": os.path.join(HERE, "models", "decoder_llama_bench", "model.onnx"),
}
PASTS = [16, 128, 512]
PREFILL = 128


def ensure_model(name):
    path = MODELS[name]
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(ROOT, "models", "decoders.py"), "--bench",
                        os.path.join(HERE, "models")], check=True)
    return path


def prompt_ids(n, vocab):
    """The ids `onyx generate --prompt-len n` makes (the same generator), so both see one prompt."""
    state, ids = 0x9E3779B97F4A7C15, []
    for _ in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) & (2 ** 64 - 1)
        ids.append((state >> 33) % vocab)
    return ids


def model_geometry(path):
    import onnx
    m = onnx.load(path, load_external_data=False)
    pasts = [i for i in m.graph.input if i.name.startswith("past_key_values")]
    d = pasts[0].type.tensor_type.shape.dim
    logits = [o for o in m.graph.output if o.name == "logits"][0].type.tensor_type.shape.dim
    return [p.name for p in pasts], d[1].dim_value, d[3].dim_value, logits[2].dim_value


# ---- cases() for the shared harness -----------------------------------------------------------

def step_inputs(path, past, seq, directory):
    names, kv_heads, head_dim, vocab = model_geometry(path)
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(past * 1000 + seq)
    arrays = {
        "input_ids": np.array([prompt_ids(past + seq, vocab)[past:]], dtype=np.int64),
        "attention_mask": np.ones((1, past + seq), dtype=np.int64),
        "position_ids": np.arange(past, past + seq, dtype=np.int64)[None],
    }
    for n in names:
        arrays[n] = rng.standard_normal((1, kv_heads, past, head_dim)).astype(np.float32)
    files = {}
    for n, a in arrays.items():
        files[n] = os.path.join(directory, n + ".npy")
        np.save(files[n], a)
    return files


def cases():
    out = []
    for name in ("tiny", "bench"):
        path = ensure_model(name)
        for past in PASTS:
            d = os.path.join(HERE, "models", "decode_inputs", f"{name}_past{past}")
            out.append({"name": f"decoder_llama_{name} decode step past {past}", "model": path,
                        "inputs": step_inputs(path, past, 1, d), "gflop": None,
                        "goal": 1.3 if name == "tiny" else 1.05})
        d = os.path.join(HERE, "models", "decode_inputs", f"{name}_prefill{PREFILL}")
        out.append({"name": f"decoder_llama_{name} prefill {PREFILL}", "model": path,
                    "inputs": step_inputs(path, 0, PREFILL, d), "gflop": None,
                    "goal": None if name == "tiny" else 1.05})
    return out


# ---- main(): the decode loop, both systems ----------------------------------------------------

def run_onyx(path, past, tokens, threads):
    # --warmup 1: one whole decode first, as ORT's session is warm too (its memory, threads).
    r = json.loads(subprocess.check_output([ONYX_CLI, "generate", path, "--prompt-len", str(past),
                                            "--tokens", str(tokens), "--threads", str(threads),
                                            "--warmup", "1", "--json"]))
    return r["tokens"], r["prefill_ms"], statistics.median(r["step_ms"])


class OrtDecoder:
    def __init__(self, path, threads):
        import onnxruntime as ort
        self.ort = ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self.pasts, self.kv_heads, self.head_dim, self.vocab = model_geometry(path)

    def run(self, past, tokens):
        ort, s = self.ort, self.sess
        ids = prompt_ids(past, self.vocab)
        empty = np.zeros((1, self.kv_heads, 0, self.head_dim), np.float32)
        cache = {n: ort.OrtValue.ortvalue_from_numpy(empty) for n in self.pasts}
        out_names = [o.name for o in s.get_outputs()]
        new, times, done, feed = [], [], 0, ids
        for step in range(tokens):
            b = s.io_binding()
            n = len(feed)
            b.bind_cpu_input("input_ids", np.array([feed], dtype=np.int64))
            b.bind_cpu_input("attention_mask", np.ones((1, done + n), dtype=np.int64))
            b.bind_cpu_input("position_ids", np.arange(done, done + n, dtype=np.int64)[None])
            for name, v in cache.items():
                b.bind_ortvalue_input(name, v)
            for name in out_names:
                b.bind_output(name, "cpu")
            start = time.perf_counter()
            s.run_with_iobinding(b)
            times.append((time.perf_counter() - start) * 1e3)
            outs = dict(zip(out_names, b.get_outputs()))
            logits = outs["logits"].numpy()
            tok = int(np.argmax(logits[0, -1]))
            new.append(tok)
            cache = {n: outs["present" + n[len("past_key_values"):]] for n in self.pasts}
            done += n
            feed = [tok]
        return new, times[0], statistics.median(times[1:])


def overhead(onyx_clis, models, rounds, tokens):
    """What a new shape costs per decode step: `onyx generate --host-buffers --rerun` runs each step
    twice, the second time on the same shapes (planned already); the difference of the medians. For
    each of `onyx_clis` (another build's onyx, to compare), rounds alternating."""
    print("per-step planning overhead (ms): median step minus median same-shape rerun, lowest of %d rounds"
          % rounds)
    for name in models:
        path = ensure_model(name)
        for past in PASTS:
            best = {c: 1e9 for c in onyx_clis}
            for _ in range(rounds):
                for cli in onyx_clis:
                    r = json.loads(subprocess.check_output([cli, "generate", path, "--prompt-len", str(past),
                                                            "--tokens", str(tokens), "--host-buffers", "--rerun",
                                                            "--json"]))
                    cost = statistics.median(r["step_ms"]) - statistics.median(r["rerun_ms"][1:])
                    best[cli] = min(best[cli], cost)
            print(f"{name:6} past {past:4}: " + "  ".join(f"{c}: {best[c]:.4f}" for c in onyx_clis),
                  flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=17, help="decode steps per run (the first is the prefill)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default="tiny,bench")
    ap.add_argument("--overhead", nargs="*", metavar="ONYX",
                    help="instead: the per-step cost of a new shape, for build/cli/onyx and the given onyx "
                         "executables (builds to compare)")
    args = ap.parse_args()
    if args.overhead is not None:
        overhead([ONYX_CLI] + args.overhead, args.models.split(","), args.rounds, args.tokens)
        return
    print("noisy shared machine: ratios from the lowest of %d alternating rounds" % args.rounds)
    print(f"{'model':6} {'thr':>3} {'past':>5} | {'onyx step ms':>12} {'ORT step ms':>11} {'ORT/onyx':>8} | "
          f"{'onyx prefill':>12} {'ORT prefill':>11} {'ORT/onyx':>8} | tokens")
    for name in args.models.split(","):
        path = ensure_model(name)
        for threads in [int(t) for t in args.threads.split(",")]:
            ort_dec = OrtDecoder(path, threads)
            for past in PASTS:
                best = {"onyx": [1e9, 1e9], "ort": [1e9, 1e9]}
                toks = {}
                for _ in range(args.rounds):
                    t, pre, step = run_onyx(path, past, args.tokens, threads)
                    toks["onyx"] = t
                    best["onyx"] = [min(best["onyx"][0], step), min(best["onyx"][1], pre)]
                    ort_dec.run(past, args.tokens)  # warm-up, as onyx's --warmup 1
                    t, pre, step = ort_dec.run(past, args.tokens)
                    toks["ort"] = t
                    best["ort"] = [min(best["ort"][0], step), min(best["ort"][1], pre)]
                same = sum(a == b for a, b in zip(toks["onyx"], toks["ort"]))
                o, r = best["onyx"][1], best["ort"][1]
                pre = (f"{o:12.3f} {r:11.3f} {r / o:8.2f}"
                       if past == PREFILL else f"{'':12} {'':11} {'':8}")
                print(f"{name:6} {threads:3} {past:5} | {best['onyx'][0]:12.4f} {best['ort'][0]:11.4f} "
                      f"{best['ort'][0] / best['onyx'][0]:8.2f} | {pre} | {same}/{len(toks['onyx'])} equal",
                      flush=True)


if __name__ == "__main__":
    main()
