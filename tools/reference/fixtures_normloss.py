#!/usr/bin/python3
"""Reference fixtures for the norm/loss op family (ops/norm.cpp, ops/glu.cpp, ops/similarity.cpp, ops/loss.cpp).

Run with Debian's PyTorch 1.13:  /usr/bin/python3 tools/reference/fixtures_normloss.py
Writes small float64 .npy files to tests/fixtures/normloss/<case>_<name>.npy. Every case stores its inputs, the
forward output(s), the upstream gradient `gy` used for backward and the gradient of every differentiable input
(`g<name>`). The C++ tests (tests/test_norm.cpp, tests/test_loss.cpp) load them, run the op in float64 and float32,
and compare.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "normloss")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(20240907)
D = torch.float64


def save(case, **arrays):
    for name, value in arrays.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().numpy()
        np.save(os.path.join(OUT, f"{case}_{name}.npy"), np.array(value, order="C"))


def leaf(*shape, scale=1.0, shift=0.0):
    return (torch.randn(*shape, dtype=D) * scale + shift).requires_grad_()


def backward(y, *inputs):
    """Backpropagate a random upstream gradient; returns gy and the input gradients."""
    gy = torch.randn_like(y)
    y.backward(gy)
    return gy, [t.grad for t in inputs]


# ---- layer_norm: F.layer_norm over the last dim -------------------------------------------------------------
def layer_norm_case(case, shape, affine):
    x = leaf(*shape, scale=2.0, shift=0.5)
    c = shape[-1]
    w = leaf(c) if affine else None
    b = leaf(c) if affine else None
    y = F.layer_norm(x, (c,), w, b, 1e-5)
    gy, grads = backward(y, x, *([w, b] if affine else []))
    save(case, x=x, y=y, gy=gy, gx=grads[0], **({"w": w, "b": b, "gw": grads[1], "gb": grads[2]} if affine else {}))


layer_norm_case("layer_norm_affine", (2, 3, 7), True)
layer_norm_case("layer_norm_plain", (5, 33), False)


# ---- group_norm: F.group_norm on (B, C, *) -----------------------------------------------------------------
def group_norm_case(case, shape, groups):
    x = leaf(*shape, scale=1.5, shift=-0.3)
    w, b = leaf(shape[1]), leaf(shape[1])
    y = F.group_norm(x, groups, w, b, 1e-5)
    gy, (gx, gw, gb) = backward(y, x, w, b)
    save(case, x=x, w=w, b=b, y=y, gy=gy, gx=gx, gw=gw, gb=gb, groups=np.array([groups], dtype=np.int64))


group_norm_case("group_norm_g3", (2, 6, 5), 3)
group_norm_case("group_norm_hubert", (2, 4, 9), 4)  # GroupNorm(C, C) as in HuBERT's first conv layer
group_norm_case("group_norm_4d", (2, 4, 3, 2), 2)


# ---- batch_norm: F.batch_norm on (B, C, L) -----------------------------------------------------------------
def batch_norm_case(case, shape, training):
    x = leaf(*shape, scale=1.3, shift=0.4)
    c = shape[1]
    w, b = leaf(c), leaf(c)
    rm = torch.randn(c, dtype=D) * 0.1
    rv = torch.rand(c, dtype=D) + 0.5
    rm0, rv0 = rm.clone(), rv.clone()
    y = F.batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5)
    gy, (gx, gw, gb) = backward(y, x, w, b)
    save(case, x=x, w=w, b=b, rm0=rm0, rv0=rv0, rm1=rm, rv1=rv, y=y, gy=gy, gx=gx, gw=gw, gb=gb)


batch_norm_case("batch_norm_train", (3, 4, 5), True)
batch_norm_case("batch_norm_train2d", (6, 3), True)
batch_norm_case("batch_norm_eval", (2, 3, 4), False)


def masked_batch_norm_case(case, shape, lengths):
    """Batch norm whose statistics exclude padded frames (mask 1 = padded), written out by hand in torch so the
    gradient includes the padded outputs' dependence on the statistics. Running stats: momentum 0.1, unbiased
    variance over the valid frames, as nn.BatchNorm1d does over all frames."""
    x = leaf(*shape, scale=1.1, shift=-0.2)
    bsz, c, length = shape
    w, b = leaf(c), leaf(c)
    mask = torch.zeros(bsz, length, dtype=torch.uint8)
    for i, n in enumerate(lengths):
        mask[i, n:] = 1
    valid = (1 - mask).to(D).unsqueeze(1)  # (B, 1, L)
    n = valid.sum() * 1.0
    mean = (x * valid).sum((0, 2)) / n
    var = (((x - mean[None, :, None]) ** 2) * valid).sum((0, 2)) / n
    rstd = 1.0 / torch.sqrt(var + 1e-5)
    y = (x - mean[None, :, None]) * rstd[None, :, None] * w[None, :, None] + b[None, :, None]
    rm0 = torch.randn(c, dtype=D) * 0.1
    rv0 = torch.rand(c, dtype=D) + 0.5
    rm1 = 0.9 * rm0 + 0.1 * mean.detach()
    rv1 = 0.9 * rv0 + 0.1 * var.detach() * n / (n - 1)
    gy, (gx, gw, gb) = backward(y, x, w, b)
    save(case, x=x, w=w, b=b, mask=mask.numpy(), rm0=rm0, rv0=rv0, rm1=rm1, rv1=rv1, y=y, gy=gy, gx=gx, gw=gw,
         gb=gb)


masked_batch_norm_case("batch_norm_masked", (3, 2, 6), [6, 4, 1])


# ---- glu ---------------------------------------------------------------------------------------------------
def glu_case(case, shape, dim):
    x = leaf(*shape)
    y = F.glu(x, dim)
    gy, (gx,) = backward(y, x)
    save(case, x=x, y=y, gy=gy, gx=gx, dim=np.array([dim], dtype=np.int64))


glu_case("glu_dim1", (3, 8, 5), 1)
glu_case("glu_last", (2, 3, 6), -1)


# ---- cosine_similarity (PyTorch 1.13: x1.x2 / (max(|x1|, eps) * max(|x2|, eps))) ---------------------------
def cosine_case(case, a_shape, b_shape, dim, a_scale=1.0, b_scale=1.0):
    a, b = leaf(*a_shape, scale=a_scale), leaf(*b_shape, scale=b_scale)
    y = F.cosine_similarity(a, b, dim, 1e-8)
    gy, (ga, gb) = backward(y, a, b)
    save(case, a=a, b=b, y=y, gy=gy, ga=ga, gb=gb, dim=np.array([dim], dtype=np.int64))


cosine_case("cosine_hubert", (4, 1, 6), (1, 3, 6), -1)  # HuBERT logits: (T, 1, D) vs (1, C, D)
cosine_case("cosine_dim1", (2, 5, 3), (2, 5, 3), 1)
cosine_case("cosine_rank", (5,), (3, 5), -1)
cosine_case("cosine_bcast_dim", (3, 1), (3, 4), 1)      # a broadcast along the reduced dim
cosine_case("cosine_tiny", (3, 4), (3, 4), 1, a_scale=1e-10)  # |a| < eps: the per-norm clamp decides

# Rows that tell the candidate formulas apart: per-norm clamp gives (1, 0.1); max(|a| |b|, eps) would give (0.01, 0.1).
a = torch.tensor([[1e-5, 0.0], [1e-9, 0.0]], dtype=D, requires_grad=True)
b = torch.tensor([[1e-5, 0.0], [1.0, 0.0]], dtype=D, requires_grad=True)
y = F.cosine_similarity(a, b, 1, 1e-8)
gy, (ga, gb) = backward(y, a, b)
save("cosine_clamp", a=a, b=b, y=y, gy=gy, ga=ga, gb=gb, dim=np.array([1], dtype=np.int64))


# ---- cross_entropy ----------------------------------------------------------------------------------------
def cross_entropy_case(case, n, c, reduction, ignore_index=-100, weighted=False, ignored=()):
    x = leaf(n, c, scale=2.0)
    t = torch.randint(0, c, (n,))
    for i in ignored:
        t[i] = ignore_index
    w = (torch.rand(c, dtype=D) + 0.2) if weighted else None
    y = F.cross_entropy(x, t, weight=w, ignore_index=ignore_index, reduction=reduction)
    gy, (gx,) = backward(y, x)
    save(case, x=x, t=t, y=y, gy=gy, gx=gx, ignore=np.array([ignore_index], dtype=np.int64),
         **({"w": w} if weighted else {}))


cross_entropy_case("cross_entropy_mean_weighted", 7, 5, "mean", weighted=True, ignored=(1, 4))
cross_entropy_case("cross_entropy_sum", 6, 4, "sum", ignored=(0,))
cross_entropy_case("cross_entropy_none_weighted", 5, 3, "none", weighted=True, ignored=(2,))
cross_entropy_case("cross_entropy_ignore2", 8, 6, "mean", ignore_index=2, ignored=(3, 5))


# ---- ctc_loss ---------------------------------------------------------------------------------------------
def ctc_case(case, t_len, c, input_lengths, target_lengths, reduction, zero_infinity, concat=False, targets=None):
    bsz = len(input_lengths)
    logits = torch.randn(t_len, bsz, c, dtype=D)
    lp = F.log_softmax(logits, -1).detach().requires_grad_()
    s = max(target_lengths)
    if targets is None:
        targets = torch.randint(1, c, (bsz, max(s, 1)))
    il = torch.tensor(input_lengths)
    tl = torch.tensor(target_lengths)
    tg = torch.cat([targets[i, :tl[i]] for i in range(bsz)]) if concat else targets
    y = F.ctc_loss(lp, tg, il, tl, blank=0, reduction=reduction, zero_infinity=zero_infinity)
    gy, (glp,) = backward(y, lp)
    save(case, lp=lp, targets=tg, il=il, tl=tl, y=y, gy=gy, glp=glp,
         zero_inf=np.array([int(zero_infinity)], dtype=np.int64))


# The last element is infeasible: 3 labels with a repeat need 4 frames, it has 3.
rep = torch.tensor([[1, 2, 2], [3, 1, 4], [2, 4, 1], [1, 1, 3]])
ctc_case("ctc_none", 8, 5, [8, 6, 5, 3], [3, 2, 0, 3], "none", False, targets=rep)
ctc_case("ctc_none_zeroinf", 8, 5, [8, 6, 5, 3], [3, 2, 0, 3], "none", True, targets=rep)
ctc_case("ctc_mean_zeroinf", 8, 5, [8, 6, 5, 3], [3, 2, 0, 3], "mean", True, targets=rep)
ctc_case("ctc_sum_concat", 9, 6, [9, 7, 9], [4, 1, 2], "sum", False, concat=True)
ctc_case("ctc_mean", 10, 4, [10, 9], [5, 3], "mean", False)

print("wrote", len(os.listdir(OUT)), "files to", os.path.normpath(OUT))
