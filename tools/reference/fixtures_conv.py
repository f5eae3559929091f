#!/usr/bin/env python3
"""Reference fixtures for the conv op family (tests/test_conv.cpp), computed with PyTorch 1.13 in float64.

Run from the repository root:  /usr/bin/python3 tools/reference/fixtures_conv.py
Writes tests/fixtures/conv/<case>.<tensor>.npy: the inputs, the forward output `y`, a random upstream gradient `gy`
and the gradient of sum(gy * y) with respect to every input (`g_<input>`). The cases are the convolutions the
speech models use, at small sizes (the C++ test repeats each case's stride / padding / groups):

  stem0         HuBERT CNN layer 0: Conv1d(1 -> C, k=10, s=5, no bias); the last window is partial
  stem_k3s2     HuBERT CNN layers 1-4: k=3, s=2, no bias
  stem_k2s2     HuBERT CNN layers 5-6: k=2, s=2, no bias
  posconv       HuBERT positional conv: weight_norm(v, g, dim=2) then Conv1d(k, pad=k/2, groups=16, bias)
  conformer_dw  Conformer depthwise conv: k=31, same padding (15), groups=channels, no bias
  mamba_causal  Mamba causal depthwise conv: k=4, padding=3 then [..., :L] (= left pad 3), bias
  general       stride 2, dilation 2, asymmetric padding (2 left, 1 right), groups 2, bias
  sub1, sub2    ESPnet Conv2dSubsampling: two Conv2d(k=3, s=2, bias)
  conv2d_general  Conv2d stride (2, 1), padding (1, 2), dilation (1, 2), bias
  wn_dim0       weight_norm(v (6, 3, 5), g (6, 1, 1), dim=0)
  wn_dim2       weight_norm(v (4, 3, 5), g (1, 1, 5), dim=2)
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "conv")


def save(case, tensors):
    os.makedirs(OUT, exist_ok=True)
    for name, t in tensors.items():
        np.save(os.path.join(OUT, f"{case}.{name}.npy"), t.detach().numpy().astype(np.float64))


def run_case(case, fn, inputs):
    """inputs: dict name -> tensor (requires grad). fn(**inputs) -> y. Saves inputs, y, gy, g_<name>."""
    y = fn(**inputs)
    gy = torch.randn(y.shape, dtype=torch.float64)
    grads = torch.autograd.grad(y, list(inputs.values()), gy)
    out = dict(inputs)
    out["y"] = y
    out["gy"] = gy
    for (name, _), g in zip(inputs.items(), grads):
        out["g_" + name] = g
    save(case, out)


def param(*shape):
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


def main():
    torch.manual_seed(0)
    # fairseq ConvFeatureExtractionModel: nn.Conv1d(n_in, dim, k, stride=stride, bias=False)
    run_case("stem0", lambda x, w: F.conv1d(x, w, stride=5), {"x": param(2, 1, 57), "w": param(6, 1, 10)})
    run_case("stem_k3s2", lambda x, w: F.conv1d(x, w, stride=2), {"x": param(2, 6, 14), "w": param(5, 6, 3)})
    run_case("stem_k2s2", lambda x, w: F.conv1d(x, w, stride=2), {"x": param(2, 5, 9), "w": param(4, 5, 2)})
    # fairseq TransformerEncoder.pos_conv: nn.utils.weight_norm(Conv1d(d, d, k, padding=k // 2, groups=16),
    # name="weight", dim=2) -> w = g * v / ||v|| with the norm over dims (0, 1).
    run_case("posconv",
             lambda x, v, g, b: F.conv1d(x, torch._weight_norm(v, g, 2), b, padding=4, groups=16),
             {"x": param(2, 32, 11), "v": param(32, 2, 8), "g": param(1, 1, 8), "b": param(32)})
    # fairseq ConvolutionModule.depthwise_conv: Conv1d(C, C, 31, stride=1, padding=15, groups=C, bias=False)
    run_case("conformer_dw", lambda x, w: F.conv1d(x, w, padding=15, groups=6),
             {"x": param(2, 6, 19), "w": param(6, 1, 31)})
    # mamba_simple.Mamba: self.act(self.conv1d(x)[..., :seqlen]) with Conv1d(d, d, 4, groups=d, padding=3, bias)
    run_case("mamba_causal", lambda x, w, b: F.conv1d(x, w, b, padding=3, groups=5)[..., :13],
             {"x": param(2, 5, 13), "w": param(5, 1, 4), "b": param(5)})
    run_case("general",
             lambda x, w, b: F.conv1d(F.pad(x, (2, 1)), w, b, stride=2, dilation=2, groups=2),
             {"x": param(2, 6, 17), "w": param(4, 3, 3), "b": param(4)})
    # espnet Conv2dSubsampling: Conv2d(1, odim, 3, 2), ReLU, Conv2d(odim, odim, 3, 2), ReLU
    run_case("sub1", lambda x, w, b: F.conv2d(x, w, b, stride=2),
             {"x": param(2, 1, 13, 11), "w": param(4, 1, 3, 3), "b": param(4)})
    run_case("sub2", lambda x, w, b: F.conv2d(x, w, b, stride=2),
             {"x": param(2, 4, 6, 5), "w": param(4, 4, 3, 3), "b": param(4)})
    run_case("conv2d_general", lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
             {"x": param(1, 3, 7, 8), "w": param(2, 3, 3, 2), "b": param(2)})
    run_case("wn_dim0", lambda v, g: torch._weight_norm(v, g, 0), {"v": param(6, 3, 5), "g": param(6, 1, 1)})
    run_case("wn_dim2", lambda v, g: torch._weight_norm(v, g, 2), {"v": param(4, 3, 5), "g": param(1, 1, 5)})
    # Cross-check torch._weight_norm against the module API the models use.
    conv = torch.nn.utils.weight_norm(torch.nn.Conv1d(4, 4, 5, groups=2).double(), name="weight", dim=2)
    assert torch.allclose(conv.weight, torch._weight_norm(conv.weight_v, conv.weight_g, 2))
    print("wrote", len(os.listdir(OUT)), "files to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
