#!/usr/bin/python3
"""Exports the benchmark blocks (float32, opset 17, dynamic batch and sequence axes, seeded
weights) to bench/models/<name>/model.onnx, with an input x_<b>x<s>.npy of the benchmark shape.

    /usr/bin/python3 bench/export.py [OUT_DIR]

The blocks, as the performance issue defines them:
  ffn_d768                   Linear 768->3072, ReLU, Linear 3072->768; x 1x128x768
  mha_d768                   nn.MultiheadAttention, 12 heads, self-attention, batch_first; 1x128x768
  encoder_d768               nn.TransformerEncoderLayer d=768, 12 heads, ff 3072, post-norm ReLU,
                             dropout 0 (one BERT-base layer); 1x128x768
  encoder_d512_gelu_prenorm  d=512, 8 heads, ff 2048, norm_first, GELU; 4x64x512
  encoder_d256_t16           d=256, 4 heads, ff 1024; 1x16x256 (small: per-node overhead dominates)
"""
import os
import sys
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))


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
    return nn.TransformerEncoderLayer(d, heads, dim_feedforward=ff, dropout=0.0, activation=activation,
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
    model_dir = os.path.join(out_dir, name)
    os.makedirs(model_dir, exist_ok=True)
    module = make(name)
    x = input_for(name)
    path = os.path.join(model_dir, "model.onnx")
    # Gradients enabled: under no_grad PyTorch would trace its fused inference kernels, which
    # have no ONNX export.
    torch.onnx.export(module, (torch.from_numpy(x),), path, opset_version=17, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}})
    onnx.checker.check_model(path)
    np.save(os.path.join(model_dir, "x.npy"), x)
    print(f"exported {name} to {model_dir}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "models")
    for name in BLOCKS:
        export(name, out_dir)


if __name__ == "__main__":
    main()
