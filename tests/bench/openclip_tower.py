#!/usr/bin/python3
"""OpenCLIP's ViT image tower (open_clip 3.x VisionTransformer: conv patch
embedding, class token, ln_pre, ResidualAttentionBlocks over nn.MultiheadAttention
with batch_first=True, ln_post on the class token, projection) re-stated in plain
PyTorch with random weights, so bench-engine can time what OpenCLIP runs beside
the engine, on the same libtorch and BLAS at the same moment.  open_clip itself is
not packaged for Debian; this is the same sequence of torch calls.

usage: openclip_tower.py b32|b16|l14 BATCH SECONDS  ->  one line of images/s"""
import sys
import time

import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(nn.Module):
    def __init__(self, image_size, patch, width=768, layers=12, heads=12, output_dim=512):
        super().__init__()
        grid = image_size // patch
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width) * width ** -0.5)
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, width) * width ** -0.5)
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, output_dim) * width ** -0.5)

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.view(1, 1, -1).expand(x.shape[0], -1, -1).to(x.dtype)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding)
        for b in self.blocks:
            x = b(x)
        return self.ln_post(x[:, 0]) @ self.proj


def blas():
    with open("/proc/self/maps") as f:
        libs = {l.split()[-1] for l in f if l.rstrip().endswith("/libblas.so.3")}
    return ",".join(sorted(libs)) or "BLAS ?"


def main():
    name, batch, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    torch.manual_seed(0)
    torch.set_num_threads(len(__import__("os").sched_getaffinity(0)))
    if name == "l14":
        m = VisionTransformer(224, 14, width=1024, layers=24, heads=16, output_dim=768).eval()
    else:
        m = VisionTransformer(224, 32 if name == "b32" else 16).eval()
    x = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        m(x)
        n, t0, c0 = 0, time.time(), time.process_time()
        while time.time() - t0 < secs:
            m(x)
            n += batch
        t, c = time.time() - t0, time.process_time() - c0
    print(f"OpenCLIP tower (PyTorch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{blas()}): {n / t:.2f} per second ({n / c:.2f} per CPU-second)")


if __name__ == "__main__":
    main()
