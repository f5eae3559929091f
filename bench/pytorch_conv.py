#!/usr/bin/env python3
"""PyTorch 1.13 CPU baseline for bench/bench_conv.cpp (same shapes, same thread count).

  /usr/bin/python3 bench/pytorch_conv.py --threads 2 [--reps 7]

Prints one line per case, `case median_ms`, which bench_conv reads:
  stem0_fwd / stem0_fwdbwd   HuBERT CNN layer 0: x (8, 1, 64000), w (512, 1, 10), stride 5, no bias; the waveform
                             needs no gradient (as in training), so backward computes dW only
  dw31_fwd / dw31_fwdbwd     Conformer depthwise conv: x (8, 256, 400), w (256, 1, 31), padding 15, groups 256,
                             no bias; backward computes dX and dW
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def median_ms(fn, reps):
    fn()  # warm-up (oneDNN primitive creation, allocator)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    x = torch.randn(8, 1, 64000)
    w = torch.randn(512, 1, 10, requires_grad=True)
    gy = torch.randn(8, 512, (64000 - 10) // 5 + 1)

    def stem_fwd():
        with torch.no_grad():
            F.conv1d(x, w, stride=5)

    def stem_fwdbwd():
        w.grad = None
        F.conv1d(x, w, stride=5).backward(gy)

    xd = torch.randn(8, 256, 400, requires_grad=True)
    wd = torch.randn(256, 1, 31, requires_grad=True)
    gyd = torch.randn(8, 256, 400)

    def dw_fwd():
        with torch.no_grad():
            F.conv1d(xd, wd, padding=15, groups=256)

    def dw_fwdbwd():
        xd.grad = None
        wd.grad = None
        F.conv1d(xd, wd, padding=15, groups=256).backward(gyd)

    for name, fn in [("stem0_fwd", stem_fwd), ("stem0_fwdbwd", stem_fwdbwd), ("dw31_fwd", dw_fwd),
                     ("dw31_fwdbwd", dw_fwdbwd)]:
        print(f"{name} {median_ms(fn, args.reps):.4f}", flush=True)


if __name__ == "__main__":
    main()
