#!/usr/bin/python3
"""Reference fixtures for hm::attention (tests/test_attention.cpp, Attention.MatchesPyTorchFixture).

Run with Debian's python3-torch 1.13:  /usr/bin/python3 tools/reference/fixtures_attention.py
Writes float64 .npy files to tests/fixtures/attention/<case>_<name>.npy: inputs q, k, v, key_padding_mask (u8,
1 = padded), the upstream gradient dout, and torch's out, dq, dk, dv.

The reference is the explicit formula with autograd, not a fused kernel:
    out = softmax(q @ k^T / sqrt(Dh) + mask) @ v
Causal is top-left aligned (torch.tril(ones(Tq, Tk)), as scaled_dot_product_attention(is_causal=True)). A row
whose keys are all masked is NaN in torch; hubmamba defines it as 0 with zero gradient (cpu/attention.h), so the
reference replaces such rows' scores by a constant and multiplies their output by 0, which gives exactly that
value and gradient.
"""
import math
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "attention")


def reference(q, k, v, pad, causal):
    tq, tk = q.shape[2], k.shape[2]
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, Tq, Tk)
    allowed = torch.ones(tq, tk, dtype=torch.bool)
    if causal:
        allowed = torch.tril(allowed)
    allowed = allowed[None, None] & ~pad.bool()[:, None, None, :]  # (B, 1, Tq, Tk)
    s = s.masked_fill(~allowed, float("-inf"))
    dead = ~allowed.any(-1, keepdim=True)  # (B, 1, Tq, 1) rows with no visible key
    s = s.masked_fill(dead, 0.0)
    p = torch.softmax(s, dim=-1)
    return (p @ v) * (~dead).to(v.dtype)


def make_case(name, B, H, Tq, Tk, Dh, causal, pad_rows, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, Tq, Dh, dtype=torch.float64, generator=g, requires_grad=True)
    k = torch.randn(B, H, Tk, Dh, dtype=torch.float64, generator=g, requires_grad=True)
    v = torch.randn(B, H, Tk, Dh, dtype=torch.float64, generator=g, requires_grad=True)
    pad = torch.zeros(B, Tk, dtype=torch.uint8)
    for b, keys in pad_rows.items():
        pad[b, keys] = 1
    dout = torch.randn(B, H, Tq, Dh, dtype=torch.float64, generator=g)
    out = reference(q, k, v, pad, causal)
    out.backward(dout)
    arrays = {"q": q, "k": k, "v": v, "mask": pad, "dout": dout, "out": out, "dq": q.grad, "dk": k.grad,
              "dv": v.grad}
    for key, t in arrays.items():
        np.save(os.path.join(OUT, f"{name}_{key}.npy"), t.detach().numpy())
    print(name, {k_: tuple(t.shape) for k_, t in arrays.items()})


def main():
    os.makedirs(OUT, exist_ok=True)
    # No mask, square.
    make_case("plain", B=2, H=2, Tq=5, Tk=5, Dh=4, causal=False, pad_rows={}, seed=1)
    # Causal + key padding, Tq != Tk; batch 1 pads key 0 so its query row 0 sees no key (zero row).
    make_case("causal_padded", B=2, H=3, Tq=4, Tk=7, Dh=5, causal=True, pad_rows={0: [5, 6], 1: [0, 3]}, seed=2)
    # Cross attention (Tq < Tk), batch 1 entirely padded (all rows zero).
    make_case("cross_padded", B=2, H=2, Tq=3, Tk=6, Dh=3, causal=False, pad_rows={0: [4], 1: list(range(6))},
              seed=3)
    # Rows longer than a few SIMD vectors plus a tail, causal with Tq < Tk.
    make_case("long_causal", B=1, H=2, Tq=11, Tk=19, Dh=6, causal=True, pad_rows={0: [2, 13]}, seed=4)


if __name__ == "__main__":
    main()
