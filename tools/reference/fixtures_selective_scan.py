#!/usr/bin/python3
"""Reference fixtures for the selective scan op (tests/test_selective_scan.cpp, SelectiveScan.MatchesPyTorchFixture).

Implements the SPEC.md 2 loop in PyTorch the way state-spaces/mamba's `selective_scan_ref`
(mamba_ssm/ops/selective_scan_interface.py) does, differentiates it with autograd and writes small float32
inputs, outputs and gradients to tests/fixtures/selective_scan/<case>_<name>.npy. The reference is evaluated in
float64 from the float32 inputs, so the fixture's own rounding error is far below the C++ f32 tolerance.

Run: /usr/bin/python3 tools/reference/fixtures_selective_scan.py   (torch 1.13, numpy)
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures",
                                       "selective_scan"))


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """u, delta, z: (b, d, l); A: (d, n); B, C: (b, n, l); D, delta_bias: (d,). Returns out, last_state."""
    if delta_bias is not None:
        delta = delta + delta_bias[..., None]
    if delta_softplus:
        delta = F.softplus(delta)  # beta 1, threshold 20: x if x > 20 else log1p(exp(x))
    batch, dim, dstate = u.shape[0], A.shape[0], A.shape[1]
    x = A.new_zeros((batch, dim, dstate))
    delta_a = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    delta_b_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    ys = []
    for i in range(u.shape[2]):
        x = delta_a[:, :, i] * x + delta_b_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    y = torch.stack(ys, dim=2)
    out = y if D is None else y + u * D[:, None]
    if z is not None:
        out = out * F.silu(z)
    return out, x


def write_case(name, b, d, l, n, extras, gen):
    def randn(*shape, scale=1.0, shift=0.0):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale + shift).float()

    inputs = {
        "u": randn(b, d, l),
        # With softplus the raw delta is centred below 0 (typical dt ~ 0.3); without it keep steps positive.
        "delta": randn(b, d, l, scale=0.5, shift=-1.0) if extras else randn(b, d, l, scale=0.1).abs() + 0.05,
        # mamba's S4D-real init A_log[d, n] = log(n + 1), perturbed so channels differ.
        "A_log": (torch.log(torch.arange(1, n + 1, dtype=torch.float64)).repeat(d, 1)
                  + torch.randn(d, n, generator=gen, dtype=torch.float64) * 0.1).float(),
        "Bm": randn(b, n, l),
        "Cm": randn(b, n, l),
    }
    if extras:
        inputs["Dskip"] = randn(d)
        inputs["z"] = randn(b, d, l)
        inputs["delta_bias"] = randn(d, scale=0.3)
    dout = randn(b, d, l)
    dlast = randn(b, d, n)

    leaves = {k: v.double().requires_grad_(True) for k, v in inputs.items()}
    A = -torch.exp(leaves["A_log"])
    out, last = selective_scan_ref(leaves["u"], leaves["delta"], A, leaves["Bm"], leaves["Cm"],
                                   D=leaves.get("Dskip"), z=leaves.get("z"), delta_bias=leaves.get("delta_bias"),
                                   delta_softplus=extras)
    torch.autograd.backward([out, last], [dout.double(), dlast.double()])

    arrays = dict(inputs)
    arrays.update({"out": out.detach().float(), "last_state": last.detach().float(), "dout": dout, "dlast": dlast})
    arrays.update({"grad_" + k: v.grad.float() for k, v in leaves.items()})
    for key, value in arrays.items():
        np.save(os.path.join(OUT_DIR, f"{name}_{key}.npy"), value.numpy().astype(np.float32))


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    gen = torch.Generator().manual_seed(2409)
    # "full": z, Dskip, delta_bias, softplus; L = 70 crosses the 64-step recompute chunk; N = 16.
    write_case("full", 2, 3, 70, 16, True, gen)
    # "plain": no optional inputs, no softplus; N = 5 is not a multiple of any vector width.
    write_case("plain", 1, 2, 33, 5, False, gen)
    print("wrote", OUT_DIR)


if __name__ == "__main__":
    main()
