#!/usr/bin/python3
"""Baseline for bench/bench_mine.cpp: the MI estimator of the paper's analysis code (Tonyyouyou/
Mutual-Information-Analysis: analysis/MI_Calculator.py driving mine/mine.py `Mine(loss='mine_biased',
method='concat').optimize(X, Y, iters=100, batch_size=128)`), re-implemented in plain PyTorch 1.13 with the same
operations in the same order:
  * statistics network nn.Sequential(Linear(2D, 100), ReLU, Linear(100, 100), ReLU, Linear(100, 1)) on cat([x, y], 1);
  * per epoch: torch.randperm(T) shuffles the frame pairs, then T // 128 full minibatches (mine/utils/helpers.py
    `batch` drops the remainder); marginal = y[torch.randperm(n)] inside the minibatch;
  * loss = -mean(psi(x, y)) + logsumexp(psi(x, y_marg), 0) - log(n) (biased DV), Adam(lr=1e-4) built per call;
  * final estimate on all T frames under no_grad with one more randperm.
Timed per (utterance, layer) = one optimize() call, on CPU, threads fixed with torch.set_num_threads.

Prints one JSON object: median seconds per call over --repeats calls (after one warm-up call), every call's
seconds, and the MI estimates (nats).

  /usr/bin/python3 bench/pytorch_mine.py --x /tmp/hubmamba_mine_x.npy --y /tmp/hubmamba_mine_y.npy --threads 1
"""
import argparse
import json
import math
import statistics
import time

import numpy as np
import torch
import torch.nn as nn


def dv_loss(net, x, y, y_marg):
    joint = net(torch.cat([x, y], 1)).mean()
    marg = net(torch.cat([x, y_marg], 1))
    return -joint + torch.logsumexp(marg, 0) - math.log(marg.shape[0])


def optimize(net, x, y, epochs, batch_size, lr):
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n = x.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n)
        xs, ys = x[order], y[order]
        for i in range(n // batch_size):
            xb = xs[i * batch_size:(i + 1) * batch_size]
            yb = ys[i * batch_size:(i + 1) * batch_size]
            opt.zero_grad()
            loss = dv_loss(net, xb, yb, yb[torch.randperm(xb.shape[0])])
            loss.backward()
            opt.step()
    with torch.no_grad():
        return float(-dv_loss(net, x, y, y[torch.randperm(n)]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--x", required=True)
    ap.add_argument("--y", required=True)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x = torch.from_numpy(np.load(a.x)).float()
    y = torch.from_numpy(np.load(a.y)).float()
    assert x.ndim == 2 and y.ndim == 2 and x.shape[0] == y.shape[0], (x.shape, y.shape)
    times, mis = [], []
    for r in range(a.repeats + 1):
        torch.manual_seed(r)
        net = nn.Sequential(nn.Linear(x.shape[1] + y.shape[1], 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                            nn.Linear(100, 1))
        t0 = time.perf_counter()
        mi = optimize(net, x, y, a.epochs, a.batch_size, a.lr)
        if r > 0:  # call 0 warms up the allocator and the BLAS
            times.append(time.perf_counter() - t0)
            mis.append(mi)
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "threads": a.threads,
                      "frames": int(x.shape[0]), "dx": int(x.shape[1]), "dy": int(y.shape[1]),
                      "median_s": statistics.median(times), "times_s": times, "mi_nats": mis}))


if __name__ == "__main__":
    main()
