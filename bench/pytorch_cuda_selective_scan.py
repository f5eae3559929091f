#!/usr/bin/env python3
"""PyTorch CUDA baselines for bench/bench_cuda_selective_scan.cpp: selective scan forward + backward (autograd) at
B=8, D=1536, L=2000, N=16, float32, with D skip, z gate, delta_bias and softplus, on the GPU. Prints one JSON line.

Three implementations of the same function (SPEC.md 2):
  ref_loop         state-spaces/mamba `selective_scan_ref` as written (tools/reference/fixtures_selective_scan.py):
                   a Python loop over time. Its backward is superlinear in L: every step's `delta_a[:, :, i]`
                   indexing scatters its gradient into a fresh zero (B, D, L, N) tensor.
  ref_loop_unbind  the same loop with unbind() slices (bench/pytorch_selective_scan.py), an O(L) backward: the
                   fairest plain-PyTorch loop, and the stricter comparison.
  parallel_scan    a recursive odd-even (Blelloch-style) parallel scan in torch ops over the (a, b) pairs, O(L)
                   work in log2(L) levels of elementwise kernels on (B, D, N, L) tensors; autograd backward. (A
                   log-space cumsum scan, Heinsen 2023, was tried first: in float32 its dA_log gradient was off by
                   7 % of max |dA_log| at L = 300, from cancellation between cumsum(delta * A) terms of size
                   ~1e3; the linear-space scan has no such cancellation.)
Before timing, parallel_scan is checked against ref_loop on a small shape (max error relative to max |ref|, in the
JSON as parallel_scan_check_rel_err).

ref_loop runs at --ref-length steps (default: the full L). If that is shorter than L its time is scaled linearly to
L, which underestimates it (the backward is superlinear), and the JSON says so (ref_loop_extrapolated).

Run: python3 bench/pytorch_cuda_selective_scan.py [--reps 5] [--ref-length 2000]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "reference"))
sys.path.insert(0, HERE)
from fixtures_selective_scan import selective_scan_ref  # noqa: E402
from pytorch_selective_scan import selective_scan_unbind  # noqa: E402


def pscan(a, b):
    """Inclusive scan of h_t = a_t * h_{t-1} + b_t (h_{-1} = 0) over the last dim, whose length is a power of 2:
    the recursive odd-even parallel scan. Pairs (2i, 2i+1) compose to (a_o a_e, a_o b_e + b_o), the half-length
    sequence is scanned recursively (giving h at the odd positions), and the even positions follow in one step,
    h_2i = a_2i h_{2i-1} + b_2i. O(L) work, log2(L) levels of elementwise ops on strided views, all in linear
    space (no cancellation), differentiated by autograd."""
    if a.shape[-1] == 1:
        return b
    a_e, a_o, b_e, b_o = a[..., 0::2], a[..., 1::2], b[..., 0::2], b[..., 1::2]
    h_o = pscan(a_o * a_e, a_o * b_e + b_o)                     # h at positions 1, 3, 5, ...
    h_prev = F.pad(h_o[..., :-1], (1, 0))                       # h at positions -1, 1, 3, ... (h_{-1} = 0)
    h_e = a_e * h_prev + b_e                                    # h at positions 0, 2, 4, ...
    return torch.stack((h_e, h_o), dim=-1).flatten(-2)


def selective_scan_parallel(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Same signature and result as selective_scan_ref, with the time loop replaced by pscan over L (padded to a
    power of 2 with identity steps a = 1, b = 0)."""
    if delta_bias is not None:
        delta = delta + delta_bias[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    length = u.shape[-1]
    padded = 1 << (length - 1).bit_length()
    a = torch.exp(torch.einsum("bdl,dn->bdnl", delta, A))       # (B, D, N, L)  a_t = exp(delta_t * A)
    b = torch.einsum("bdl,bnl,bdl->bdnl", delta, B, u)           # (B, D, N, L)  b_t = delta_t B_t u_t
    a = F.pad(a, (0, padded - length), value=1.0)
    b = F.pad(b, (0, padded - length))
    h = pscan(a, b)[..., :length]                                # (B, D, N, L) states
    y = torch.einsum("bdnl,bnl->bdl", h, C)
    out = y if D is None else y + u * D[:, None]
    if z is not None:
        out = out * F.silu(z)
    return out, h[..., -1]


def make_inputs(b, d, l, n, gen, device):
    def randn(*shape, scale=1.0, shift=0.0):
        return (torch.randn(*shape, generator=gen) * scale + shift).to(device).requires_grad_()

    a_log = (torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(d, 1)).to(device).requires_grad_()
    return [randn(b, d, l), randn(b, d, l, scale=0.5, shift=-1.0), a_log, randn(b, n, l), randn(b, n, l),
            randn(d), randn(b, d, l), randn(d, scale=0.3)]


def fwd_bwd(scan, inputs, dout):
    u, delta, a_log, bm, cm, dskip, z, bias = inputs
    for t in inputs:
        t.grad = None
    out, _ = scan(u, delta, -torch.exp(a_log), bm, cm, D=dskip, z=z, delta_bias=bias, delta_softplus=True)
    out.backward(dout)


def time_ms(fn, reps):
    """Median wall time of fn() in ms (synchronised) after one warm-up. A call slower than 2 s is repeated twice;
    one slower than 8 s is not repeated: its warm-up run is the measurement (start-up costs are then noise)."""
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    warm = time.perf_counter() - start
    if warm >= 8.0:
        return warm * 1e3
    reps = reps if warm < 2.0 else 2
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def check_parallel(device):
    """Max |parallel - ref| / max |ref| over the output and all eight gradients, on a small shape."""
    gen = torch.Generator().manual_seed(1)
    inputs = make_inputs(2, 8, 300, 16, gen, device)
    dout = torch.randn(2, 8, 300, generator=gen).to(device)
    results = []
    for scan in (selective_scan_ref, selective_scan_parallel):
        u, delta, a_log, bm, cm, dskip, z, bias = inputs
        for t in inputs:
            t.grad = None
        out, _ = scan(u, delta, -torch.exp(a_log), bm, cm, D=dskip, z=z, delta_bias=bias, delta_softplus=True)
        out.backward(dout)
        results.append([out.detach()] + [t.grad.clone() for t in inputs])
    return max(((p - r).abs().max() / r.abs().max()).item() for r, p in zip(*results))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--channels", type=int, default=1536)
    p.add_argument("--length", type=int, default=2000)
    p.add_argument("--state", type=int, default=16)
    p.add_argument("--ref-length", type=int, default=0, help="steps for ref_loop (0: --length)")
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    device = torch.device("cuda")
    b, d, l, n = args.batch, args.channels, args.length, args.state
    ref_l = args.ref_length or l
    result = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "B": b, "D": d, "L": l, "N": n,
              "dtype": "float32", "parallel_scan_check_rel_err": check_parallel(device)}

    gen = torch.Generator().manual_seed(0)
    inputs = make_inputs(b, d, l, n, gen, device)
    dout = torch.randn(b, d, l, generator=gen).to(device)
    result["parallel_scan_ms"] = time_ms(lambda: fwd_bwd(selective_scan_parallel, inputs, dout), args.reps)
    result["ref_loop_unbind_ms"] = time_ms(lambda: fwd_bwd(selective_scan_unbind, inputs, dout), args.reps)
    # ref_loop on the first ref_l steps (slices keep the same values), scaled linearly to L when shorter.
    ref_inputs = [t.detach()[..., :ref_l].clone().requires_grad_() if t.dim() == 3 else t for t in inputs]
    ref_ms = time_ms(lambda: fwd_bwd(selective_scan_ref, ref_inputs, dout[..., :ref_l].contiguous()), args.reps)
    result["ref_loop_length"] = ref_l
    result["ref_loop_extrapolated"] = ref_l != l
    result["ref_loop_ms"] = ref_ms * l / ref_l
    if ref_l != l:
        result["ref_loop_note"] = (f"measured at L={ref_l}, scaled linearly to L={l}: a lower bound, the loop's "
                                   "backward is superlinear in L")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
