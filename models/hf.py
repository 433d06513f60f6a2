#!/usr/bin/env python3
"""Exports small Hugging Face transformers models, random weights, both ways, with reference data.

Each architecture is built by the project's transformers (5.23, in .venv) from a tiny
configuration (hidden size 64, two layers, a vocabulary of 96; nothing is downloaded) with seeded
random weights, in its default attention implementation (sdpa), and exported twice by PyTorch 2.13:
  OUT/hf_<arch>/model.onnx         the TorchScript exporter (dynamo=False) at opset 17, dynamic axes
                                   given as dynamic_axes;
  OUT/hf_<arch>_dynamo/model.onnx  torch.onnx.export's default, the dynamo exporter, at the opset it
                                   picks, dynamic axes given as dynamic_shapes; weights inside the file.
OUT/<dir>/test_data_set_N/{input,output}_K.pb hold inputs and the outputs PyTorch computes for them
(ONNX test-data layout), for several shapes; both exports of a model get the same data sets.

The architectures:
  bert     BertModel: input_ids and an attention_mask with padding at the end of rows (the padding
           mask); output last_hidden_state.
  gpt2     GPT2Model without cache: input_ids (the causal mask is built inside); last_hidden_state.
  llama    LlamaModel without cache, grouped-query attention (4 query heads, 2 key/value heads),
           rotary embeddings, RMSNorm, SwiGLU MLP, eager attention (see Llama): input_ids;
           last_hidden_state.
  whisper  WhisperModel, the whole forward: input_features [batch, 16 mel bins, 32 frames] (the
           encoder's length is fixed by its position table) and decoder_input_ids (causal
           self-attention and cross-attention over the encoder's output); the decoder's
           last_hidden_state.
  vit      ViTModel: pixel_values [batch, 3, 32, 32] (patches of 8); last_hidden_state.

Run from anywhere with the project's virtual environment (tools/setup.sh makes it):
    .venv/bin/python models/hf.py [OUT [NAME...]]
OUT defaults to the directory of this script; NAMEs (bert, gpt2, ...) limit the export to those.
Deterministic: weights and inputs are seeded. Run with another Python, the script starts itself
again with .venv/bin/python.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(os.path.dirname(HERE), ".venv")
if os.path.realpath(sys.prefix) != os.path.realpath(VENV) and os.path.exists(os.path.join(VENV, "bin", "python")):
    os.execv(os.path.join(VENV, "bin", "python"), [os.path.join(VENV, "bin", "python"), os.path.abspath(__file__)]
             + sys.argv[1:])

import copy
import logging
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np
import onnx
import torch
import torch.nn as nn
import transformers
from onnx import numpy_helper

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
torch.set_num_threads(1)

# While tracing, transformers cannot tell that position ids make one sequence per row (it does
# eagerly, then returns None) and builds a packed-sequence mask with torch.diff, which the
# TorchScript exporter has no ONNX for; the data sets are never packed, so the eager answer is
# given while tracing too.
transformers.masking_utils.find_packed_sequence_indices = lambda position_ids: None

VOCAB = 96
# The fraction of the tests' tolerance PyTorch's float32 outputs must meet (see export).
TOLERANCE = 0.5
HIDDEN = 64


# ---- the models: each a module with positional tensor inputs and one output --------------------

class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=2,
                                         num_attention_heads=4, intermediate_size=128, max_position_embeddings=64,
                                         type_vocab_size=2)
        self.model = transformers.BertModel(config, add_pooling_layer=False)

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class GPT2(nn.Module):
    def __init__(self):
        super().__init__()
        config = transformers.GPT2Config(vocab_size=VOCAB, n_embd=HIDDEN, n_layer=2, n_head=4, n_positions=64,
                                         use_cache=False)
        self.model = transformers.GPT2Model(config)

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, use_cache=False).last_hidden_state


class Llama(nn.Module):
    def __init__(self):
        super().__init__()
        config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=128,
                                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                          max_position_embeddings=64, use_cache=False)
        # Eager attention: without a mask, sdpa would run with enable_gqa, which the TorchScript
        # exporter cannot convert; eager repeats the key/value heads (repeat_kv) and adds the
        # causal mask, as exports of LLaMA-family models commonly look.
        config._attn_implementation = "eager"
        self.model = transformers.LlamaModel(config)

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, use_cache=False).last_hidden_state


class Whisper(nn.Module):
    def __init__(self):
        super().__init__()
        config = transformers.WhisperConfig(vocab_size=VOCAB, d_model=HIDDEN, encoder_layers=2, decoder_layers=2,
                                            encoder_attention_heads=4, decoder_attention_heads=4,
                                            encoder_ffn_dim=128, decoder_ffn_dim=128, num_mel_bins=16,
                                            max_source_positions=16, max_target_positions=64, use_cache=False,
                                            pad_token_id=0, bos_token_id=1, eos_token_id=2,
                                            decoder_start_token_id=1)
        self.model = transformers.WhisperModel(config)

    def forward(self, input_features, decoder_input_ids):
        return self.model(input_features=input_features, decoder_input_ids=decoder_input_ids,
                          use_cache=False).last_hidden_state


class ViT(nn.Module):
    def __init__(self):
        super().__init__()
        config = transformers.ViTConfig(hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=128, image_size=32, patch_size=8, num_channels=3)
        self.model = transformers.ViTModel(config, add_pooling_layer=False)

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values).last_hidden_state


# Per model: constructor; inputs as (name, kind, dynamic axes {axis: name}); the (batch, seq)
# of each data set; the (batch, seq) of the sample the exporters trace.
MODELS = {
    "bert": (Bert, [("input_ids", "ids", {0: "batch", 1: "seq"}), ("attention_mask", "padding", {0: "batch", 1: "seq"})],
             [(2, 7), (1, 16), (3, 5)], (2, 5)),
    "gpt2": (GPT2, [("input_ids", "ids", {0: "batch", 1: "seq"})], [(2, 7), (1, 16), (3, 1)], (2, 5)),
    "llama": (Llama, [("input_ids", "ids", {0: "batch", 1: "seq"})], [(2, 7), (1, 16), (3, 1)], (2, 5)),
    "whisper": (Whisper, [("input_features", "features", {0: "batch"}), ("decoder_input_ids", "ids", {0: "batch", 1: "seq"})],
                [(2, 7), (1, 16), (3, 1)], (2, 5)),
    "vit": (ViT, [("pixel_values", "image", {0: "batch"})], [(2, 0), (1, 0), (3, 0)], (2, 0)),
}


def make_inputs(specs, batch, seq, rng):
    inputs = []
    for _, kind, _ in specs:
        if kind == "ids":
            inputs.append(torch.from_numpy(rng.integers(3, VOCAB, (batch, seq)).astype(np.int64)))
        elif kind == "padding":
            # 1 for tokens, 0 for padding at the end of a row; never a whole row of padding.
            mask = np.ones((batch, seq), dtype=np.int64)
            for b in range(batch):
                pad = int(rng.integers(0, seq))
                if pad:
                    mask[b, seq - pad:] = 0
            inputs.append(torch.from_numpy(mask))
        elif kind == "features":
            inputs.append(torch.from_numpy(rng.standard_normal((batch, 16, 32)).astype(np.float32)))
        else:
            inputs.append(torch.from_numpy(rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)))
    return inputs


def save_tensor(array, name, path):
    tensor = numpy_helper.from_array(np.ascontiguousarray(array), name)
    with open(path, "wb") as f:
        f.write(tensor.SerializeToString())


def export_torchscript(module, sample, specs, path):
    names = [name for name, _, _ in specs]
    dynamic = {name: axes for name, _, axes in specs}
    dynamic["last_hidden_state"] = {0: "batch"} if all(len(a) == 1 for _, _, a in specs) else {0: "batch", 1: "seq"}
    torch.onnx.export(module, tuple(sample), path, dynamo=False, opset_version=17, input_names=names,
                      output_names=["last_hidden_state"], dynamic_axes=dynamic, do_constant_folding=True)


def export_dynamo(module, sample, specs, path):
    # The exporter's defaults (opset, decompositions, its ONNX optimizer); only the dynamic axes,
    # the names the data sets use, and the weights kept inside model.onnx are asked for.
    dims = {}
    shapes = tuple({axis: dims.setdefault(name, torch.export.Dim(name, min=1, max=64)) for axis, name in axes.items()}
                   for _, _, axes in specs)
    torch.onnx.export(module, tuple(sample), path, input_names=[name for name, _, _ in specs],
                      output_names=["last_hidden_state"], dynamic_shapes=shapes, external_data=False, verbose=False)
    # Each node carries the exporter's notes (stack trace with this checkout's paths, module
    # names): a third of the file, and different on every machine. They go; the graph stays.
    model = onnx.load(path)
    for node in model.graph.node:
        del node.metadata_props[:]
    onnx.save(model, path)


def export(arch, out_dir):
    make_module, specs, shapes, sample_shape = MODELS[arch]
    torch.manual_seed(0)  # the same weights on every machine
    module = make_module().eval()
    rng = np.random.default_rng(sum(map(ord, arch)))
    sample = make_inputs(specs, *sample_shape, rng)
    # The expected outputs are PyTorch's in double precision, rounded to float. float32's rounding
    # leaves errors of about 1e-6 after a LayerNorm, more than the tests' tolerance (1e-7 + 1e-3
    # |expected|) for an output within about 1e-4 of zero; inputs for which PyTorch's own float32
    # result misses the reference so are drawn again (they test rounding luck, not the runtime).
    reference = copy.deepcopy(module).double()
    data_sets = []
    for batch, seq in shapes:
        for attempt in range(20):
            inputs = make_inputs(specs, batch, seq, rng)
            wide = [t.double() if t.is_floating_point() else t for t in inputs]
            with torch.no_grad():
                want, got = reference(*wide).float(), module(*inputs)
            if np.all(np.abs(got - want).numpy() <= TOLERANCE * (1e-7 + 1e-3 * np.abs(want.numpy()))):
                break
        data_sets.append((inputs, want))
    for model_name, exporter in ((f"hf_{arch}", export_torchscript), (f"hf_{arch}_dynamo", export_dynamo)):
        model_dir = os.path.join(out_dir, model_name)
        os.makedirs(model_dir, exist_ok=True)
        path = os.path.join(model_dir, "model.onnx")
        with torch.no_grad():
            exporter(module, sample, specs, path)
        model = onnx.load(path)
        onnx.checker.check_model(model)
        for i, (inputs, y) in enumerate(data_sets):
            set_dir = os.path.join(model_dir, f"test_data_set_{i}")
            os.makedirs(set_dir, exist_ok=True)
            for k, (tensor, (input_name, _, _)) in enumerate(zip(inputs, specs)):
                save_tensor(tensor.numpy(), input_name, os.path.join(set_dir, f"input_{k}.pb"))
            save_tensor(y.numpy(), "last_hidden_state", os.path.join(set_dir, "output_0.pb"))
        version = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        print(f"exported {model_name} (opset {version}, {os.path.getsize(path)} bytes) to {model_dir}", flush=True)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else HERE
    only = sys.argv[2:]
    unknown = [n for n in only if n not in MODELS]
    if unknown:
        sys.exit(f"hf.py: no model named {', '.join(unknown)} (models: {', '.join(MODELS)})")
    for arch in MODELS:
        if not only or arch in only:
            export(arch, out_dir)


if __name__ == "__main__":
    main()
