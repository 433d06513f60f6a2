#!/usr/bin/env python3
"""Exports tiny Hugging Face decoders with a KV cache, as optimum exports them, with reference data.

Two causal language models, built with transformers (5.23, in .venv) from a config (no download) with
random seeded weights:
  decoder_gpt2   GPT2LMHeadModel: 2 layers, d_model 64, 4 heads, learned positions, vocabulary 1000
  decoder_llama  LlamaForCausalLM: 2 layers, d_model 64, 4 query heads and 2 kv heads (grouped-query
                 attention), rotary positions, RMSNorm, SwiGLU MLP (128), vocabulary 1000
Each is wrapped so that its ONNX graph has optimum's interface:
  inputs   input_ids [batch, seq] int64, attention_mask [batch, past+seq] int64,
           position_ids [batch, seq] int64,
           past_key_values.{i}.key / .value [batch, kv_heads, past, head_dim] float, per layer i
  outputs  logits [batch, seq, vocab] float, present.{i}.key / .value [batch, kv_heads, past+seq, head_dim]
The wrapper builds a transformers DynamicCache from the flat past tensors inside forward and returns the
cache's tensors flat. Exported with the TorchScript exporter (dynamo=False) at opset 17, dynamic axes
batch, seq and past (past_seq, total_seq = past + seq). The past length may be 0 (a prompt with no
cache): the exported Concat of an empty past and the new keys is exercised by test_data_set_0.

OUT/<name>_dynamo/model.onnx is the same model exported by the dynamo exporter (torch.export), which
handles the cache too (at the opset it picks, 20 with torch 2.13), with the same names, dynamic axes and
data sets (copied).

OUT/<name>/model.onnx
OUT/<name>/test_data_set_0   a prefill: batch 1, an 8-token prompt, past length 0
OUT/<name>/test_data_set_1   a decode step: batch 1, one token, past length 8 (the prefill's present)
OUT/<name>/test_data_set_2   a decode step: batch 2, one token, past length 5, the second row padded
                             on the left (attention_mask 0 on its first 2 positions)
OUT/<name>/greedy.json       PyTorch's greedy decode of 64 new tokens from a fixed 8-token prompt with the
                             same weights (prefill, then one token a step with the cache, argmax of the last
                             logits): prompt ids, new ids, and the smallest gap between the best and the
                             second-best logit over the steps (how far from a tie the decode stays;
                             logits are about 0.05 in size, see make_model)

With --bench DIR it instead writes DIR/decoder_llama_bench/model.onnx: a LLaMA of bench size (d_model 768,
6 layers, 12 query and 4 kv heads, intermediate 2048, vocabulary 32000), weights in the file, no data.

    .venv/bin/python models/decoders.py [OUT [NAME...]]
    .venv/bin/python models/decoders.py --bench bench/models
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(os.path.dirname(HERE), ".venv")
if os.path.realpath(sys.prefix) != os.path.realpath(VENV) and os.path.exists(os.path.join(VENV, "bin", "python")):
    os.execv(os.path.join(VENV, "bin", "python"), [os.path.join(VENV, "bin", "python"), os.path.abspath(__file__)]
             + sys.argv[1:])

import json
import logging
import shutil
import warnings

import numpy as np
import torch
from onnx import numpy_helper

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
torch.set_num_threads(1)

PROMPT_LEN = 8
NEW_TOKENS = 64


def make_model(kind, bench=False):
    import transformers
    torch.manual_seed(1234 if kind == "gpt2" else 4321)
    if kind == "gpt2":
        cfg = transformers.GPT2Config(vocab_size=1000, n_positions=1024, n_embd=64, n_layer=2, n_head=4,
                                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                      # Larger than the default 0.02: logits spread wide enough that greedy
                                      # choices are far from ties (see greedy.json's min_gap).
                                      initializer_range=0.2)
        model = transformers.GPT2LMHeadModel(cfg)
    elif bench:
        cfg = transformers.LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048,
                                       num_hidden_layers=6, num_attention_heads=12, num_key_value_heads=4,
                                       max_position_embeddings=4096, rms_norm_eps=1e-6,
                                       tie_word_embeddings=False, initializer_range=0.02)
        model = transformers.LlamaForCausalLM(cfg)
    else:
        cfg = transformers.LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128,
                                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                       max_position_embeddings=4096, rms_norm_eps=1e-6,
                                       tie_word_embeddings=False, initializer_range=0.2)
        model = transformers.LlamaForCausalLM(cfg)
    if not bench:
        # The final norm's scale (and GPT-2's bias) divided by 100: logits about 0.05 in size, so
        # that a float rounding of a logit near 0 falls within `onyx test`'s absolute tolerance
        # (1e-7) where the relative one (1e-3) is too tight for it. Greedy choices are unchanged
        # (argmax of a positive multiple).
        # Likewise keys and values (the presents) are made about 0.02 in size: keys and values
        # divided by 100, queries and the attention's output projection multiplied by 100, which
        # leaves the function the same (attention scores are q.k, the output linear in v).
        final = model.transformer.ln_f if kind == "gpt2" else model.model.norm
        with torch.no_grad():
            for p in final.parameters():
                p.mul_(0.01)
            if kind == "gpt2":
                d = cfg.n_embd
                for block in model.transformer.h:
                    block.attn.c_attn.weight[:, :d] *= 100  # Conv1D: [in, 3 * d], q k v
                    block.attn.c_attn.bias[:d] *= 100
                    block.attn.c_attn.weight[:, d:] *= 0.01
                    block.attn.c_attn.bias[d:] *= 0.01
                    block.attn.c_proj.weight *= 100
            else:
                for layer in model.model.layers:
                    layer.self_attn.q_proj.weight *= 100
                    layer.self_attn.k_proj.weight *= 0.01
                    layer.self_attn.v_proj.weight *= 0.01
                    layer.self_attn.o_proj.weight *= 100
    model.config._attn_implementation = "eager"
    return model.eval()


def cache_geometry(model):
    cfg = model.config
    if cfg.model_type == "gpt2":
        return cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head
    return (cfg.num_hidden_layers, cfg.num_key_value_heads,
            getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads)


class WithPast(torch.nn.Module):
    """input_ids, attention_mask, position_ids, past k/v flat -> logits, present k/v flat."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.n_layers = cache_geometry(model)[0]

    def forward(self, input_ids, attention_mask, position_ids, *past):
        from transformers import DynamicCache
        cache = DynamicCache(ddp_cache_data=[(past[2 * i], past[2 * i + 1]) for i in range(self.n_layers)])
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True, return_dict=True)
        flat = []
        for layer in out.past_key_values.layers:
            flat += [layer.keys, layer.values]
        return (out.logits, *flat)


def names(n_layers):
    past = [f"past_key_values.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]
    present = [f"present.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]
    return ["input_ids", "attention_mask", "position_ids"] + past, ["logits"] + present


def step_inputs(model, ids, mask, past):
    """position_ids from the mask as optimum computes them (cumsum - 1, 1 on padding), for the new tokens."""
    pos = mask.long().cumsum(-1) - 1
    pos = pos.masked_fill(mask == 0, 1)[:, -ids.shape[1]:]
    return [ids, mask, pos] + list(past)


def empty_past(model, batch, length=0):
    n_layers, kv_heads, head_dim = cache_geometry(model)
    g = torch.Generator().manual_seed(99)
    return [torch.randn(batch, kv_heads, length, head_dim, generator=g) for _ in range(2 * n_layers)]


def export_onnx(model, path):
    wrapper = WithPast(model)
    n_layers = cache_geometry(model)[0]
    in_names, out_names = names(n_layers)
    # Traced with a non-empty past (2) and 3 new tokens, so that no size is 0 or 1 while tracing.
    ids = torch.randint(0, model.config.vocab_size, (2, 3))
    mask = torch.ones(2, 5, dtype=torch.long)
    sample = step_inputs(model, ids, mask, empty_past(model, 2, 2))
    dynamic = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total_seq"},
               "position_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
    for n in in_names[3:]:
        dynamic[n] = {0: "batch", 2: "past_seq"}
    for n in out_names[1:]:
        dynamic[n] = {0: "batch", 2: "total_seq"}
    with torch.no_grad():
        torch.onnx.export(wrapper, tuple(sample), path, dynamo=False, opset_version=17, input_names=in_names,
                          output_names=out_names, dynamic_axes=dynamic, do_constant_folding=True)


def export_dynamo(model, path):
    """torch.onnx.export's default, the dynamo exporter (torch.export, then onnxscript), at the opset it
    picks, with the same names and dynamic axes (given as torch.export.Dim) and weights inside the file."""
    wrapper = WithPast(model)
    n_layers = cache_geometry(model)[0]
    in_names, out_names = names(n_layers)
    ids = torch.randint(0, model.config.vocab_size, (2, 3))
    mask = torch.ones(2, 5, dtype=torch.long)
    sample = step_inputs(model, ids, mask, empty_past(model, 2, 2))
    Dim = torch.export.Dim
    batch, seq, past, total = Dim("batch"), Dim("seq"), Dim("past_seq"), Dim("total_seq")
    dynamic = ({0: batch, 1: seq}, {0: batch, 1: total}, {0: batch, 1: seq},
               tuple({0: batch, 2: past} for _ in in_names[3:]))  # *past is one argument
    with torch.no_grad():
        torch.onnx.export(wrapper, tuple(sample), path, input_names=in_names, output_names=out_names,
                          dynamic_shapes=dynamic, external_data=False)


def save(arrays, names_, directory, prefix):
    os.makedirs(directory, exist_ok=True)
    for k, (a, n) in enumerate(zip(arrays, names_)):
        t = numpy_helper.from_array(np.ascontiguousarray(a.detach().numpy()), n)
        with open(os.path.join(directory, f"{prefix}_{k}.pb"), "wb") as f:
            f.write(t.SerializeToString())


def run(model, inputs):
    with torch.no_grad():
        return WithPast(model)(*inputs)


def write_data(model, out):
    n_layers = cache_geometry(model)[0]
    in_names, out_names = names(n_layers)
    g = torch.Generator().manual_seed(7)
    vocab = model.config.vocab_size
    # 0: prefill, past 0.
    ids = torch.randint(0, vocab, (1, PROMPT_LEN), generator=g)
    mask = torch.ones(1, PROMPT_LEN, dtype=torch.long)
    inputs = step_inputs(model, ids, mask, empty_past(model, 1))
    outputs = run(model, inputs)
    save(inputs, in_names, os.path.join(out, "test_data_set_0"), "input")
    save(outputs, out_names, os.path.join(out, "test_data_set_0"), "output")
    # 1: one decode step on the prefill's cache.
    nxt = outputs[0][:, -1:].argmax(-1)
    mask = torch.ones(1, PROMPT_LEN + 1, dtype=torch.long)
    inputs = step_inputs(model, nxt, mask, outputs[1:])
    save(inputs, in_names, os.path.join(out, "test_data_set_1"), "input")
    save(run(model, inputs), out_names, os.path.join(out, "test_data_set_1"), "output")
    # 2: batch 2, past 5, the second row left-padded by 2.
    ids = torch.randint(0, vocab, (2, 1), generator=g)
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, :2] = 0
    inputs = step_inputs(model, ids, mask, empty_past(model, 2, 5))
    save(inputs, in_names, os.path.join(out, "test_data_set_2"), "input")
    save(run(model, inputs), out_names, os.path.join(out, "test_data_set_2"), "output")


def greedy(model):
    """The same step-by-step loop a host runs: prefill, then one token a step with the cache."""
    g = torch.Generator().manual_seed(11)
    prompt = torch.randint(0, model.config.vocab_size, (1, PROMPT_LEN), generator=g)
    past = empty_past(model, 1)
    ids, new, gaps = prompt, [], []
    for step in range(NEW_TOKENS):
        total = PROMPT_LEN + step
        mask = torch.ones(1, total, dtype=torch.long)
        out = run(model, step_inputs(model, ids, mask, past))
        last = out[0][0, -1]
        top = torch.topk(last, 2).values
        gaps.append(float(top[0] - top[1]))
        tok = int(last.argmax())
        new.append(tok)
        ids, past = torch.tensor([[tok]]), out[1:]
    with torch.no_grad():  # the same with transformers' own generate, as a check of the loop
        ref = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW_TOKENS,
                             min_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0)
    assert ref[0, PROMPT_LEN:].tolist() == new, "the step loop and model.generate disagree"
    return {"prompt_ids": prompt[0].tolist(), "new_ids": new, "min_gap": min(gaps)}


def main():
    args = sys.argv[1:]
    if args[:1] == ["--bench"]:
        out = os.path.join(args[1] if len(args) > 1 else "bench/models", "decoder_llama_bench")
        os.makedirs(out, exist_ok=True)
        export_onnx(make_model("llama", bench=True), os.path.join(out, "model.onnx"))
        print(out)
        return
    out_root = args[0] if args else HERE
    kinds = args[1:] or ["gpt2", "llama"]
    for kind in kinds:
        model = make_model(kind)
        out = os.path.join(out_root, "decoder_" + kind)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        export_onnx(model, os.path.join(out, "model.onnx"))
        write_data(model, out)
        result = greedy(model)
        with open(os.path.join(out, "greedy.json"), "w") as f:
            json.dump(result, f)
            f.write("\n")
        print(out, "min gap %.3g" % result["min_gap"], result["new_ids"][:10])
        dyn = out + "_dynamo"
        shutil.rmtree(dyn, ignore_errors=True)
        shutil.copytree(out, dyn, ignore=shutil.ignore_patterns("model.onnx"))
        export_dynamo(model, os.path.join(dyn, "model.onnx"))
        print(dyn)


if __name__ == "__main__":
    main()
