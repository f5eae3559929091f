#!/usr/bin/python3
"""PyTorch baseline for bench/bench_selective_scan.cpp: the reference selective scan loop (state-spaces/mamba
`selective_scan_ref`, the same code as tools/reference/fixtures_selective_scan.py) forward + backward in float32.

The full shape (B=8, D=1536, L=500, N=16) takes minutes through autograd on 2 cores, so by default the scan runs
on a slice of the channels (--channels) and the time is scaled linearly to --full-channels. Channels are
independent in the scan and every op is elementwise or a reduction over N, so the work is linear in D; the
per-op Python/dispatch overhead is not, which makes the scaled number an upper bound of the true PyTorch time
when the slice is small. Run at two slice sizes to see how close to linear it is.

Run: /usr/bin/python3 bench/pytorch_selective_scan.py --threads 2 --variant ref --channels 24 --reps 1
     /usr/bin/python3 bench/pytorch_selective_scan.py --threads 2 --variant unbind --channels 192 --reps 3
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "reference"))
from fixtures_selective_scan import selective_scan_ref  # noqa: E402


def selective_scan_unbind(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """selective_scan_ref with one change: the per-step slices come from unbind() instead of indexing
    delta_a[:, :, i]. Indexing makes autograd scatter each step's gradient into a zero (B, D, L, N) tensor, an
    O(L^2) backward; unbind's backward is one stack. Same math, the fairest plain-PyTorch loop."""
    if delta_bias is not None:
        delta = delta + delta_bias[..., None]
    if delta_softplus:
        delta = torch.nn.functional.softplus(delta)
    x = A.new_zeros((u.shape[0], A.shape[0], A.shape[1]))
    delta_a = torch.exp(torch.einsum("bdl,dn->bdln", delta, A)).unbind(2)
    delta_b_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u).unbind(2)
    cs = C.unbind(2)
    ys = []
    for i in range(u.shape[2]):
        x = delta_a[i] * x + delta_b_u[i]
        ys.append(torch.einsum("bdn,bn->bd", x, cs[i]))
    y = torch.stack(ys, dim=2)
    out = y if D is None else y + u * D[:, None]
    if z is not None:
        out = out * torch.nn.functional.silu(z)
    return out, x


SCANS = {"ref": selective_scan_ref, "unbind": selective_scan_unbind}


def make_inputs(b, d, l, n, gen):
    def randn(*shape):
        return torch.randn(*shape, generator=gen)

    u = randn(b, d, l).requires_grad_()
    delta = (randn(b, d, l) * 0.5 - 1.0).requires_grad_()
    a_log = (torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(d, 1)).requires_grad_()
    bm, cm = randn(b, n, l).requires_grad_(), randn(b, n, l).requires_grad_()
    dskip, z = randn(d).requires_grad_(), randn(b, d, l).requires_grad_()
    bias = (randn(d) * 0.3).requires_grad_()
    return [u, delta, a_log, bm, cm, dskip, z, bias]


def run(scan, inputs, dout, backward):
    u, delta, a_log, bm, cm, dskip, z, bias = inputs
    out, _ = scan(u, delta, -torch.exp(a_log), bm, cm, D=dskip, z=z, delta_bias=bias,
                                delta_softplus=True)
    if backward:
        out.backward(dout)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--channels", type=int, default=192, help="D actually run")
    p.add_argument("--full-channels", type=int, default=1536, help="D the time is scaled to")
    p.add_argument("--length", type=int, default=500)
    p.add_argument("--state", type=int, default=16)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--variant", choices=sorted(SCANS), default="ref",
                   help="ref: mamba's selective_scan_ref as written; unbind: the same loop with an O(L) backward")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    b, d, l, n = args.batch, args.channels, args.length, args.state
    inputs = make_inputs(b, d, l, n, gen)
    dout = torch.randn(b, d, l, generator=gen)
    scale = args.full_channels / d
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, variant {args.variant}, "
          f"B={b} D={d} L={l} N={n} f32, "
          f"scaled x{scale:g} to D={args.full_channels}")
    for name, backward in (("fwd", False), ("fwd+bwd", True)):
        times = []
        for _ in range(args.reps):
            for t in inputs:
                t.grad = None
            start = time.perf_counter()
            if backward:
                run(SCANS[args.variant], inputs, dout, True)
            else:
                with torch.no_grad():
                    run(SCANS[args.variant], inputs, dout, False)
            times.append(time.perf_counter() - start)
        med = statistics.median(times)
        print(f"pytorch_selective_scan_{args.variant} {name:8s} median {med * 1e3:10.1f} ms at D={d}  ->  "
              f"{med * scale * 1e3:10.1f} ms scaled to D={args.full_channels}")


if __name__ == "__main__":
    main()
