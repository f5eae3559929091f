#!/usr/bin/env python3
"""PyTorch CUDA baseline for bench/bench_cuda_elementwise.cpp (same shapes and ops, float32).

  python3 bench/pytorch_cuda_elementwise.py [--reps 20]

Prints one JSON line {"bench": "pytorch_cuda_elementwise", "<case>_fwd_ms": median, "<case>_fwdbwd_ms": median, ...}
with the cases of bench_cuda_elementwise: x, y (8, 2000, 768), bias (768), logits (64, 2000, 500):
  add (x + y), add_bias (x + bias), mul_scalar (x * 0.5), gelu (erf form), silu, sum_last (x.sum(-1)),
  sum_bt (x.sum((0, 1))), softmax (logits, dim -1), glu (x, dim -1), dropout (x, p 0.1, training)
Each case is timed forward only (no_grad) and forward + backward with a ones gradient, median of --reps after
3 warm-up calls, CUDA events.
"""
import argparse
import json
import statistics

import torch
import torch.nn.functional as F


def median_ms(fn, reps):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    torch.manual_seed(0)
    dev = "cuda"
    x = torch.randn(8, 2000, 768, device=dev)
    y = torch.randn(8, 2000, 768, device=dev)
    bias = torch.randn(768, device=dev)
    logits = torch.randn(64, 2000, 500, device=dev)
    cases = {
        "add": (lambda v: v[0] + v[1], [x, y]),
        "add_bias": (lambda v: v[0] + v[1], [x, bias]),
        "mul_scalar": (lambda v: v[0] * 0.5, [x]),
        "gelu": (lambda v: F.gelu(v[0]), [x]),
        "silu": (lambda v: F.silu(v[0]), [x]),
        "sum_last": (lambda v: v[0].sum(-1), [x]),
        "sum_bt": (lambda v: v[0].sum((0, 1)), [x]),
        "softmax": (lambda v: torch.softmax(v[0], -1), [logits]),
        "glu": (lambda v: F.glu(v[0], -1), [x]),
        "dropout": (lambda v: F.dropout(v[0], 0.1, training=True), [x]),
    }
    out = {"bench": "pytorch_cuda_elementwise"}
    for name, (f, inputs) in cases.items():
        def fwd():
            with torch.no_grad():
                f(inputs)

        out[name + "_fwd_ms"] = median_ms(fwd, args.reps)
        leaves = [t.detach().requires_grad_(True) for t in inputs]

        def fwdbwd():
            for t in leaves:
                t.grad = None
            r = f(leaves)
            r.backward(torch.ones_like(r))

        out[name + "_fwdbwd_ms"] = median_ms(fwdbwd, args.reps)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
