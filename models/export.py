#!/usr/bin/python3
"""Exports the PyTorch transformer blocks onyx is tested on, with reference data.

Each model goes to OUT/<name>/model.onnx, exported with dynamic batch and sequence axes, and
OUT/<name>/test_data_set_N/{input,output}_K.pb hold inputs and the outputs PyTorch computes
for them (ONNX test-data layout), for several batch and sequence sizes.

Run with Debian's Python, torch and onnx:  /usr/bin/python3 models/export.py [OUT]
(OUT defaults to the directory of this script). Deterministic: weights and inputs are seeded.
"""
import math
import os
import sys
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

warnings.filterwarnings("ignore")
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


# ---- the models: name -> (constructor, opset, inputs) -----------------------------------------

D_MODEL = 64


def models():
    d = D_MODEL
    return {
        "mha_tutorial": (lambda: TutorialMultiHeadAttention(d, 4), 13, ["x"]),
        "mha_torch": (lambda: TorchSelfAttention(d, 4), 13, ["x"]),
        "mha_torch_padding_mask": (lambda: TorchSelfAttention(d, 4, with_mask=True), 13, ["x", "key_padding_mask"]),
        "ffn_relu": (lambda: FeedForward(d, 4 * d, "relu"), 13, ["x"]),
        "ffn_gelu": (lambda: FeedForward(d, 4 * d, "gelu"), 13, ["x"]),
        "encoder_postnorm_relu_op13": (
            lambda: nn.TransformerEncoderLayer(d, 4, dim_feedforward=4 * d, dropout=0.1, activation="relu",
                                               batch_first=True, norm_first=False), 13, ["x"]),
        "encoder_prenorm_gelu_op17": (
            lambda: nn.TransformerEncoderLayer(d, 4, dim_feedforward=4 * d, dropout=0.1, activation="gelu",
                                               batch_first=True, norm_first=True), 17, ["x"]),
        "gpt2_block": (lambda: GPT2Block(d, 4), 17, ["x"]),
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


def export(name, make_module, opset, kinds, out_dir, d=D_MODEL):
    torch.manual_seed(0)  # the same weights on every machine
    module = make_module().eval()
    rng = np.random.default_rng(sum(map(ord, name)))
    model_dir = os.path.join(out_dir, name)
    os.makedirs(model_dir, exist_ok=True)
    input_names = ["x", "key_padding_mask"][: len(kinds)]
    dynamic = {"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}, "key_padding_mask": {0: "batch", 1: "seq"}}
    sample = make_inputs(kinds, 2, 5, d, rng)
    path = os.path.join(model_dir, "model.onnx")
    # Exported with gradients enabled: under no_grad, PyTorch's fused inference kernels for
    # nn.MultiheadAttention and nn.TransformerEncoderLayer would be traced, and they have no
    # ONNX export.
    torch.onnx.export(module, tuple(sample), path, opset_version=opset, input_names=input_names,
                      output_names=["y"], dynamic_axes={k: dynamic[k] for k in input_names + ["y"]},
                      do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    for i, (batch, seq) in enumerate(DATA_SETS):
        inputs = make_inputs(kinds, batch, seq, d, rng)
        with torch.no_grad():
            y = module(*inputs)
        set_dir = os.path.join(model_dir, f"test_data_set_{i}")
        os.makedirs(set_dir, exist_ok=True)
        for k, (tensor, input_name) in enumerate(zip(inputs, input_names)):
            save_tensor(tensor.numpy(), input_name, os.path.join(set_dir, f"input_{k}.pb"))
        save_tensor(y.numpy(), "y", os.path.join(set_dir, f"output_0.pb"))
    print(f"exported {name} (opset {opset}) to {model_dir}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    only = sys.argv[2:]
    for name, (make_module, opset, kinds) in models().items():
        if not only or name in only:
            export(name, make_module, opset, kinds, out_dir)


if __name__ == "__main__":
    main()
