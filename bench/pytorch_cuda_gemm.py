#!/usr/bin/env python3
"""PyTorch CUDA baseline for bench/bench_cuda_gemm.cpp: torch.matmul on the same shapes and precisions.

  python3 bench/pytorch_cuda_gemm.py [--reps 20]

Shapes (M x K x N): proj 3200x768x768, ffn_up 3200x768x3072, ffn_down 3200x3072x768, attn 96 x (400x64x400)
batched. Precisions: f32 (TF32 off, as our default), tf32 (torch.backends.cuda.matmul.allow_tf32 = True), bf16.
Timing as the C++ bench: CUDA events around 10 back-to-back calls, 3 warm-up rounds, median of --reps.
Prints one JSON line {"bench": "pytorch_cuda_gemm", "<shape>_<precision>_us": median per call, ...}.
"""
import argparse
import json
import statistics

import torch

SHAPES = {"proj": (1, 3200, 768, 768), "ffn_up": (1, 3200, 768, 3072), "ffn_down": (1, 3200, 3072, 768),
          "attn": (96, 400, 64, 400)}
INNER = 10


def sample_us(fn):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(INNER):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) * 1e3 / INNER


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"bench": "pytorch_cuda_gemm", "skipped": "no GPU"}))
        return
    torch.manual_seed(0)
    out = {"bench": "pytorch_cuda_gemm", "torch": torch.__version__}
    for precision in ("f32", "tf32", "bf16"):
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        for name, (batch, m, k, n) in SHAPES.items():
            lead = (batch,) if batch > 1 else ()
            a = torch.randn(*lead, m, k, device="cuda", dtype=dtype)
            b = torch.randn(*lead, k, n, device="cuda", dtype=dtype)
            with torch.no_grad():
                for _ in range(3):
                    sample_us(lambda: torch.matmul(a, b))
                out[f"{name}_{precision}_us"] = round(
                    statistics.median(sample_us(lambda: torch.matmul(a, b)) for _ in range(args.reps)), 2)
    torch.backends.cuda.matmul.allow_tf32 = False
    print(json.dumps(out))


if __name__ == "__main__":
    main()
