#!/usr/bin/python3
"""PyTorch 1.13 baseline for bench/bench_normloss.cpp: same cases, shapes, dtype (f32) and thread count.

Prints `case median_ms` lines (read by bench_normloss). Run by hand:
    /usr/bin/python3 bench/pytorch_normloss.py --threads 2 --reps 5
"""
import argparse
import time

import torch
import torch.nn.functional as F


def leaf(*shape, grad):
    return torch.randn(*shape).requires_grad_(grad)


def cases(bwd):
    x, w, b = leaf(3200, 768, grad=bwd), leaf(768, grad=bwd), leaf(768, grad=bwd)
    yield "ln", (x, w, b), lambda: F.layer_norm(x, (768,), w, b, 1e-5)
    xg, wg, bg = leaf(4, 512, 3199, grad=bwd), leaf(512, grad=bwd), leaf(512, grad=bwd)
    yield "gn", (xg, wg, bg), lambda: F.group_norm(xg, 512, wg, bg, 1e-5)
    # torch has no masked batch norm; the plain training-mode BatchNorm1d over all frames is the closest baseline.
    xb, wb, bb = leaf(8, 256, 400, grad=bwd), leaf(256, grad=bwd), leaf(256, grad=bwd)
    rm, rv = torch.zeros(256), torch.ones(256)
    yield "bn", (xb, wb, bb), lambda: F.batch_norm(xb, rm, rv, wb, bb, True, 0.1, 1e-5)
    xu = leaf(8, 512, 400, grad=bwd)
    yield "glu", (xu,), lambda: F.glu(xu, 1)
    a, e = leaf(1600, 1, 256, grad=bwd), leaf(1, 500, 256, grad=bwd)
    yield "cos", (a, e), lambda: F.cosine_similarity(a, e, -1)
    xc = leaf(1600, 500, grad=bwd)
    t = torch.randint(0, 500, (1600,))
    yield "ce", (xc,), lambda: F.cross_entropy(xc, t)
    lp = F.log_softmax(torch.randn(400, 8, 32), -1).requires_grad_(bwd)
    tg = torch.randint(1, 32, (8, 80))
    il, tl = torch.full((8,), 400), torch.full((8,), 80)
    yield "ctc", (lp,), lambda: F.ctc_loss(lp, tg, il, tl)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for bwd in (False, True):
        for name, leaves, fn in cases(bwd):
            def step():
                y = fn()
                if bwd:
                    y.backward(torch.ones_like(y))
                    for t in leaves:
                        t.grad = None
            step()
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                for _ in range(3):
                    step()
                times.append((time.perf_counter() - t0) / 3 * 1e3)
            times.sort()
            print(f"{name}_{'fwdbwd' if bwd else 'fwd'} {times[len(times) // 2]:.4f}", flush=True)


if __name__ == "__main__":
    main()
