#!/usr/bin/env python3
"""PyTorch eager baseline for bench/bench_cuda_normloss.cpp: forward + backward of layer / group / batch norm,
cross-entropy and CTC on the same shapes, f32, CUDA-event timed, median of --repeats after 3 warm-up runs.
Prints one JSON line (milliseconds per op; the keys match the bench's).
    python3 bench/pytorch_cuda_normloss.py [--repeats 20]
"""
import argparse
import json

import torch
import torch.nn.functional as F


def time_ms(step, repeats):
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    ms = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        torch.cuda.synchronize()
        ms.append(start.elapsed_time(end))
    ms.sort()
    return ms[len(ms) // 2]


def leaf(*shape, scale=1.0):
    return (torch.randn(*shape, device="cuda") * scale + 1e-3).requires_grad_(True)


def fwd_bwd(f, leaves):
    for t in leaves:
        t.grad = None
    y = f()
    y.backward(torch.ones_like(y))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"impl": "pytorch", "skipped": "no GPU"}))
        return
    torch.manual_seed(1)
    r = a.repeats
    out = {"impl": "pytorch", "torch": torch.__version__}

    x, w, b = leaf(4000, 768), leaf(768), leaf(768)
    out["layer_norm"] = time_ms(lambda: fwd_bwd(lambda: F.layer_norm(x, (768,), w, b), [x, w, b]), r)

    x, w, b = leaf(8, 512, 3199), leaf(512), leaf(512)
    out["group_norm"] = time_ms(lambda: fwd_bwd(lambda: F.group_norm(x, 512, w, b), [x, w, b]), r)

    x, w, b = leaf(8, 768, 500), leaf(768), leaf(768)
    rm, rv = torch.zeros(768, device="cuda"), torch.ones(768, device="cuda")
    out["batch_norm"] = time_ms(lambda: fwd_bwd(lambda: F.batch_norm(x, rm, rv, w, b, training=True), [x, w, b]), r)

    x = leaf(4000, 504, scale=3.0)
    t = (7 * torch.arange(4000, device="cuda") + 31) % 504
    out["cross_entropy"] = time_ms(lambda: fwd_bwd(lambda: F.cross_entropy(x, t), [x]), r)

    lp = torch.randn(500, 8, 32).log_softmax(-1).cuda().requires_grad_(True)
    tg = (1 + (13 * torch.arange(800) + 5) % 31).view(8, 100).cuda()
    il, tl = torch.full((8,), 500, dtype=torch.long), torch.full((8,), 100, dtype=torch.long)
    out["ctc_loss"] = time_ms(lambda: fwd_bwd(lambda: F.ctc_loss(lp, tg, il, tl), [lp]), r)

    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}))


if __name__ == "__main__":
    main()
