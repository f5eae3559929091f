#!/usr/bin/python3
"""MINE fixtures for tests/test_mine.cpp (tier-3 parity, DESIGN.md 6): a few training steps of the paper's
estimator in PyTorch 1.13, float32 like the original (Tonyyouyou/Mutual-Information-Analysis mine/mine.py,
loss='mine_biased', method='concat'; Adam from torch.optim with its defaults), with the minibatch rows and the
in-batch permutations written out so the C++ side can replay exactly the same steps.

Writes tests/fixtures/mine/*.npy:
  x (T, dx), y (T, dy)                   inputs (float32)
  w1 b1 w2 b2 w3 b3                      initial parameters (torch nn.Linear layout)
  rows (S, n) int64, perms (S, n) int64  step s uses rows[s] of x and y; y_marg = y[rows[s]][perms[s]]
  losses (S,) float64                    loss of each step before its update: -mean(t) + logsumexp(t_marg) - log n
  w1_after ... b3_after                  parameters after the S Adam steps (lr = LR)
  final_perm (T,) int64, final_mi ()     the bound on all T frames after training: -loss(x, y, y[final_perm])

  /usr/bin/python3 tools/reference/fixtures_mine.py
"""
import math
import os

import numpy as np
import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "mine")
T, DX, DY, H, N, STEPS, LR = 40, 3, 2, 7, 16, 5, 1e-2


def loss_fn(net, x, y, y_marg):
    t = net(torch.cat([x, y], 1)).mean()
    t_marg = net(torch.cat([x, y_marg], 1))
    return -t + torch.logsumexp(t_marg, 0) - math.log(t_marg.shape[0])


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    x = torch.randn(T, DX)
    y = 0.8 * x[:, :DY] + 0.6 * torch.randn(T, DY)
    net = nn.Sequential(nn.Linear(DX + DY, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU(), nn.Linear(H, 1))
    names = ["w1", "b1", "w2", "b2", "w3", "b3"]
    params = [net[0].weight, net[0].bias, net[2].weight, net[2].bias, net[4].weight, net[4].bias]
    save = lambda name, a: np.save(os.path.join(OUT, name + ".npy"), a)
    save("x", x.numpy())
    save("y", y.numpy())
    for n, p in zip(names, params):
        save(n, p.detach().numpy().copy())
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    rows = torch.stack([torch.randperm(T)[:N] for _ in range(STEPS)])
    perms = torch.stack([torch.randperm(N) for _ in range(STEPS)])
    losses = []
    for s in range(STEPS):
        xb, yb = x[rows[s]], y[rows[s]]
        opt.zero_grad()
        loss = loss_fn(net, xb, yb, yb[perms[s]])
        loss.backward()
        opt.step()
        losses.append(float(loss))
    save("rows", rows.numpy())
    save("perms", perms.numpy())
    save("losses", np.array(losses, dtype=np.float64))
    for n, p in zip(names, params):
        save(n + "_after", p.detach().numpy().copy())
    final_perm = torch.randperm(T)
    with torch.no_grad():
        final = -loss_fn(net, x, y, y[final_perm])
    save("final_perm", final_perm.numpy())
    save("final_mi", np.array(float(final), dtype=np.float64))
    print("losses", losses, "final", float(final))


if __name__ == "__main__":
    main()
