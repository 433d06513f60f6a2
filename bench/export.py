#!/usr/bin/env python3
"""Exports the benchmark blocks (float32, dynamic batch and sequence axes, seeded weights) both
ways PyTorch exports, as models/export.py does for the test blocks:
  OUT_DIR/<name>/model.onnx         the TorchScript exporter (dynamo=False), opset 17;
  OUT_DIR/<name>_dynamo/model.onnx  torch.onnx.export's default, the dynamo exporter (opset 20);
each with x.npy, an input of the benchmark shape.

    .venv/bin/python bench/export.py [OUT_DIR]      (OUT_DIR defaults to bench/models)

The blocks, as the performance issue defines them:
  ffn_d768                   Linear 768->3072, ReLU, Linear 3072->768; x 1x128x768
  mha_d768                   nn.MultiheadAttention, 12 heads, self-attention, batch_first; 1x128x768
  encoder_d768               nn.TransformerEncoderLayer d=768, 12 heads, ff 3072, post-norm ReLU,
                             dropout 0 (one BERT-base layer); 1x128x768
  encoder_d512_gelu_prenorm  d=512, 8 heads, ff 2048, norm_first, GELU; 4x64x512
  encoder_d256_t16           d=256, 4 heads, ff 1024; 1x16x256 (small: per-node overhead dominates)
"""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(ROOT, ".venv")
if os.path.realpath(sys.prefix) != os.path.realpath(VENV) and os.path.exists(os.path.join(VENV, "bin", "python")):
    os.execv(os.path.join(VENV, "bin", "python"), [os.path.join(VENV, "bin", "python"), os.path.abspath(__file__)]
             + sys.argv[1:])

import numpy as np
import onnx
import torch
import torch.nn as nn

# models/export.py: the two exporters as the test blocks are exported (its workarounds for
# PyTorch 2.13's TorchScript exporter included) and its TransformerEncoderLayer taking x alone.
_spec = importlib.util.spec_from_file_location("model_export", os.path.join(ROOT, "models", "export.py"))
model_export = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(model_export)


class FFN(nn.Module):
    def __init__(self, d, ff):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, ff), nn.Linear(ff, d)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class SelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, dropout=0.0, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


def encoder(d, heads, ff, activation, norm_first):
    return model_export.EncoderLayer(d, heads, dim_feedforward=ff, dropout=0.0, activation=activation,
                                     batch_first=True, norm_first=norm_first)


# name -> (constructor, (batch, seq, d), matmul FLOPs per run as a function of (b, s))
BLOCKS = {
    "ffn_d768": (lambda: FFN(768, 3072), (1, 128, 768)),
    "mha_d768": (lambda: SelfAttention(768, 12), (1, 128, 768)),
    "encoder_d768": (lambda: encoder(768, 12, 3072, "relu", False), (1, 128, 768)),
    "encoder_d512_gelu_prenorm": (lambda: encoder(512, 8, 2048, "gelu", True), (4, 64, 512)),
    "encoder_d256_t16": (lambda: encoder(256, 4, 1024, "relu", False), (1, 16, 256)),
}


def flops(name, b, s):
    """Multiply-add FLOPs of the matrix products of one run (2 per multiply-add)."""
    d = {"ffn_d768": 768, "mha_d768": 768, "encoder_d768": 768, "encoder_d512_gelu_prenorm": 512,
         "encoder_d256_t16": 256}[name]
    ff = 4 * d
    proj = 2 * b * s * d * d * 4          # Q, K, V and output projections
    attn = 2 * b * s * s * d * 2          # Q K^T and (softmax) V over all heads
    ffn = 2 * b * s * d * ff * 2
    if name == "ffn_d768":
        return ffn
    if name == "mha_d768":
        return proj + attn
    return proj + attn + ffn


def make(name):
    torch.manual_seed(0)
    return BLOCKS[name][0]().eval()


def input_for(name):
    b, s, d = BLOCKS[name][1]
    return np.random.default_rng(0).standard_normal((b, s, d)).astype(np.float32)


def export(name, out_dir):
    module = make(name)
    x = input_for(name)
    # Gradients enabled: under no_grad PyTorch would trace its fused inference kernels, which
    # have no ONNX export.
    for model_name, exporter in ((name, "torchscript"), (name + "_dynamo", "dynamo")):
        model_dir = os.path.join(out_dir, model_name)
        os.makedirs(model_dir, exist_ok=True)
        path = os.path.join(model_dir, "model.onnx")
        if exporter == "torchscript":
            model_export.export_torchscript(module, [torch.from_numpy(x)], ["x"], 17, path)
        else:
            model_export.export_dynamo(module, [torch.from_numpy(x)], ["x"], path)
        onnx.checker.check_model(path)
        np.save(os.path.join(model_dir, "x.npy"), x)
        print(f"exported {model_name} ({exporter}) to {model_dir}", flush=True)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "models")
    for name in BLOCKS:
        export(name, out_dir)


if __name__ == "__main__":
    main()
