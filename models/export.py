#!/usr/bin/env python3
"""Exports the PyTorch transformer blocks onyx is tested on, both ways, with reference data.

Each block is exported twice by the project's PyTorch (2.13, in .venv):
  OUT/<name>/model.onnx          the TorchScript exporter (dynamo=False) at opset 17, dynamic batch
                                 and sequence axes given as dynamic_axes (the names these models have
                                 always had). encoder_postnorm_relu_op14 is exported at opset 14, the
                                 oldest at which PyTorch 2.13 exports scaled_dot_product_attention
                                 (nn.MultiheadAttention calls it); like opset 13 (its opset before)
                                 it has no LayerNormalization, so the model keeps the LayerNorm
                                 written out (ReduceMean, Sub, Pow, Sqrt, Div);
  OUT/<block>_dynamo/model.onnx  torch.onnx.export's default, the dynamo exporter (torch.export, then
                                 onnxscript), at the opset it picks, dynamic batch and sequence axes
                                 given as dynamic_shapes (torch.export.Dim); weights inside the file.
OUT/<dir>/test_data_set_N/{input,output}_K.pb hold inputs and the outputs PyTorch computes for them
(ONNX test-data layout), for several batch and sequence sizes; both exports of a block get the
same data sets.

Run from anywhere with the project's virtual environment (tools/setup.sh makes it):
    .venv/bin/python models/export.py [OUT [NAME...]]
OUT defaults to the directory of this script; NAMEs (block names, as in the table below) limit the
export to those blocks. Deterministic: weights and inputs are seeded. Run with another Python, the
script starts itself again with .venv/bin/python.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(os.path.dirname(HERE), ".venv")
if os.path.realpath(sys.prefix) != os.path.realpath(VENV) and os.path.exists(os.path.join(VENV, "bin", "python")):
    os.execv(os.path.join(VENV, "bin", "python"), [os.path.join(VENV, "bin", "python"), os.path.abspath(__file__)]
             + sys.argv[1:])

import contextlib
import logging
import math
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

warnings.filterwarnings("ignore")
# The dynamo exporter's progress lines and notes on torchvision operators it skips.
logging.disable(logging.WARNING)
torch.set_num_threads(1)

# (batch, seq) of each data set: different sizes, so dynamic axes are exercised.
DATA_SETS = [(2, 7), (1, 16), (3, 1)]


# ---- the blocks --------------------------------------------------------------------------------

class Head(nn.Module):
    """One head of self-attention, as in the usual tutorial (bias-free projections, causal
    mask from a tril buffer, masked_fill with -inf, softmax, dropout)."""

    def __init__(self, d_model, head_size, block_size, dropout):
        super().__init__()
        self.key = nn.Linear(d_model, head_size, bias=False)
        self.query = nn.Linear(d_model, head_size, bias=False)
        self.value = nn.Linear(d_model, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        k = self.key(x)
        q = self.query(x)
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        wei = F.softmax(wei, dim=-1)
        wei = self.dropout(wei)
        v = self.value(x)
        return wei @ v


class TutorialMultiHeadAttention(nn.Module):
    def __init__(self, d_model=64, n_heads=4, block_size=32, dropout=0.1):
        super().__init__()
        head_size = d_model // n_heads
        self.heads = nn.ModuleList([Head(d_model, head_size, block_size, dropout) for _ in range(n_heads)])
        self.proj = nn.Linear(head_size * n_heads, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        out = torch.cat([h(x) for h in self.heads], dim=-1)
        return self.dropout(self.proj(out))


class TorchSelfAttention(nn.Module):
    """nn.MultiheadAttention used for self-attention, batch_first, optionally with a key
    padding mask (True marks padding)."""

    def __init__(self, d_model=64, n_heads=4, with_mask=False):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=0.1, batch_first=True)
        self.with_mask = with_mask

    def forward(self, x, key_padding_mask=None):
        out, _ = self.attn(x, x, x, key_padding_mask=key_padding_mask, need_weights=False)
        return out


class FeedForward(nn.Module):
    def __init__(self, d_model=64, d_ff=256, activation="relu"):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff)
        self.act = nn.ReLU() if activation == "relu" else nn.GELU()
        self.fc2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x):
        return self.dropout(self.fc2(self.act(self.fc1(x))))


class EncoderLayer(nn.TransformerEncoderLayer):
    """nn.TransformerEncoderLayer with x as its only argument: the TorchScript exporter passes
    every argument of forward, its defaults too, as traced values, and is_causal=False as a
    tensor is refused by scaled_dot_product_attention in PyTorch 2.13."""

    def forward(self, x):
        return super().forward(x)


class GPT2Block(nn.Module):
    """A GPT-2 style block: fused QKV projection split into heads, causal mask, tanh-GELU
    MLP, pre-norm LayerNorms and residuals."""

    def __init__(self, d_model=64, n_heads=4, block_size=32):
        super().__init__()
        self.n_heads = n_heads
        self.ln_1 = nn.LayerNorm(d_model)
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)
        self.ln_2 = nn.LayerNorm(d_model)
        self.c_fc = nn.Linear(d_model, 4 * d_model)
        self.mlp_proj = nn.Linear(4 * d_model, d_model)
        self.register_buffer("bias", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))

    def attention(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        hs = C // self.n_heads
        q = q.view(B, T, self.n_heads, hs).transpose(1, 2)
        k = k.view(B, T, self.n_heads, hs).transpose(1, 2)
        v = v.view(B, T, self.n_heads, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        h = F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")
        return x + self.mlp_proj(h)


# ---- the models ------------------------------------------------------------------------------

D_MODEL = 64


def models():
    """name -> (constructor, TorchScript opset, input kinds, name of the dynamo export)."""
    d = D_MODEL
    return {
        "mha_tutorial": (lambda: TutorialMultiHeadAttention(d, 4), 17, ["x"], "mha_tutorial_dynamo"),
        "mha_torch": (lambda: TorchSelfAttention(d, 4), 17, ["x"], "mha_torch_dynamo"),
        "mha_torch_padding_mask": (lambda: TorchSelfAttention(d, 4, with_mask=True), 17, ["x", "key_padding_mask"],
                                   "mha_torch_padding_mask_dynamo"),
        "ffn_relu": (lambda: FeedForward(d, 4 * d, "relu"), 17, ["x"], "ffn_relu_dynamo"),
        "ffn_gelu": (lambda: FeedForward(d, 4 * d, "gelu"), 17, ["x"], "ffn_gelu_dynamo"),
        "encoder_postnorm_relu_op14": (
            lambda: EncoderLayer(d, 4, dim_feedforward=4 * d, dropout=0.1, activation="relu",
                                 batch_first=True, norm_first=False), 14, ["x"],
            "encoder_postnorm_relu_dynamo"),
        "encoder_prenorm_gelu_op17": (
            lambda: EncoderLayer(d, 4, dim_feedforward=4 * d, dropout=0.1, activation="gelu",
                                 batch_first=True, norm_first=True), 17, ["x"],
            "encoder_prenorm_gelu_dynamo"),
        "gpt2_block": (lambda: GPT2Block(d, 4), 17, ["x"], "gpt2_block_dynamo"),
    }


def make_inputs(kinds, batch, seq, d, rng):
    inputs = []
    for kind in kinds:
        if kind == "x":
            inputs.append(torch.from_numpy(rng.standard_normal((batch, seq, d)).astype(np.float32)))
        else:
            # Padding at the end of each sequence, never a whole row (that is NaN in PyTorch).
            mask = np.zeros((batch, seq), dtype=bool)
            for b in range(batch):
                pad = int(rng.integers(0, seq))
                if pad:
                    mask[b, seq - pad:] = True
            inputs.append(torch.from_numpy(mask))
    return inputs


def save_tensor(array, name, path):
    tensor = numpy_helper.from_array(np.ascontiguousarray(array), name)
    with open(path, "wb") as f:
        f.write(tensor.SerializeToString())


@contextlib.contextmanager
def traced_unflatten():
    """Tensor.unflatten as a reshape over the tensor's own sizes, while tracing. PyTorch 2.13's
    tracer records unflatten's output sizes as constants, and nn.MultiheadAttention's packed
    in-projection unflattens Q, K and V out of one product: K's sequence length (k.shape[0]
    in F.multi_head_attention_forward) would be exported as the sample's, not the input's."""
    original = torch.Tensor.unflatten

    def unflatten(self, dim, sizes):
        dim = dim % self.dim()
        shape = list(self.shape)
        return self.reshape(shape[:dim] + list(sizes) + shape[dim + 1:])

    torch.Tensor.unflatten = unflatten
    try:
        yield
    finally:
        torch.Tensor.unflatten = original


def export_torchscript(module, sample, input_names, opset, path):
    dynamic = {name: {0: "batch", 1: "seq"} for name in input_names + ["y"]}
    with traced_unflatten():
        torch.onnx.export(module, tuple(sample), path, dynamo=False, opset_version=opset, input_names=input_names,
                          output_names=["y"], dynamic_axes=dynamic, do_constant_folding=True)


def export_dynamo(module, sample, input_names, path):
    # The exporter's defaults (opset, decompositions, its ONNX optimizer); only the dynamic axes,
    # the names the data sets use, and the weights kept inside model.onnx are asked for.
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    torch.onnx.export(module, tuple(sample), path, input_names=input_names, output_names=["y"],
                      dynamic_shapes=tuple({0: batch, 1: seq} for _ in sample), external_data=False,
                      verbose=False)


def export(name, make_module, opset, kinds, dynamo_name, out_dir, d=D_MODEL):
    torch.manual_seed(0)  # the same weights on every machine
    module = make_module().eval()
    rng = np.random.default_rng(sum(map(ord, name)))
    input_names = ["x", "key_padding_mask"][: len(kinds)]
    sample = make_inputs(kinds, 2, 5, d, rng)
    data_sets = []
    for batch, seq in DATA_SETS:
        inputs = make_inputs(kinds, batch, seq, d, rng)
        with torch.no_grad():
            data_sets.append((inputs, module(*inputs)))
    for model_name, exporter in ((name, "torchscript"), (dynamo_name, "dynamo")):
        model_dir = os.path.join(out_dir, model_name)
        os.makedirs(model_dir, exist_ok=True)
        path = os.path.join(model_dir, "model.onnx")
        # Exported with gradients enabled: under no_grad, PyTorch's fused inference kernels for
        # nn.MultiheadAttention and nn.TransformerEncoderLayer would be traced, and they have no
        # ONNX export.
        if exporter == "torchscript":
            export_torchscript(module, sample, input_names, opset, path)
        else:
            export_dynamo(module, sample, input_names, path)
        model = onnx.load(path)
        onnx.checker.check_model(model)
        for i, (inputs, y) in enumerate(data_sets):
            set_dir = os.path.join(model_dir, f"test_data_set_{i}")
            os.makedirs(set_dir, exist_ok=True)
            for k, (tensor, input_name) in enumerate(zip(inputs, input_names)):
                save_tensor(tensor.numpy(), input_name, os.path.join(set_dir, f"input_{k}.pb"))
            save_tensor(y.numpy(), "y", os.path.join(set_dir, "output_0.pb"))
        version = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        print(f"exported {model_name} ({exporter}, opset {version}) to {model_dir}", flush=True)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else HERE
    only = sys.argv[2:]
    unknown = [n for n in only if n not in models()]
    if unknown:
        sys.exit(f"export.py: no block named {', '.join(unknown)} (blocks: {', '.join(models())})")
    for name, (make_module, opset, kinds, dynamo_name) in models().items():
        if not only or name in only:
            export(name, make_module, opset, kinds, dynamo_name, out_dir)


if __name__ == "__main__":
    main()
