#!/usr/bin/env python3
"""PyTorch CUDA baseline for bench/bench_cuda_conv.cpp (same shapes; cuDNN with TF32 off, as our default).

  python3 bench/pytorch_cuda_conv.py [--reps 10]

Prints one JSON line {"bench": "pytorch_cuda_conv", "<case>_ms": median, ...} with the cases of bench_cuda_conv:
  stem0    HuBERT CNN layer 0: x (8, 1, 64000), w (512, 1, 10), stride 5, no bias; backward = dW only (the waveform
           needs no gradient), f32 and bf16
  dw31     Conformer depthwise conv: x (8, 256, 400), w (256, 1, 31), padding 15, groups 256; backward dX and dW
  causal4  Mamba causal depthwise conv: x (8, 1536, 2000), w (1536, 1, 4), bias, padding 3 then [..., :L]
  posconv  HuBERT positional conv: x (8, 768, 400), w (768, 48, 128), bias, padding 64, groups 16
Each case is timed forward only (no_grad) and forward + backward, median of --reps after warm-up, CUDA events.
"""
import argparse
import json
import statistics

import torch
import torch.nn.functional as F


def median_ms(fn, reps):
    for _ in range(3):  # warm-up: cuDNN algorithm choice, allocator
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def case(x, w, b, gy, conv, grad_x):
    x.requires_grad_(grad_x)
    w.requires_grad_(True)
    if b is not None:
        b.requires_grad_(True)

    def fwd():
        with torch.no_grad():
            conv(x, w, b)

    def fwdbwd():
        x.grad, w.grad = None, None
        if b is not None:
            b.grad = None
        conv(x, w, b).backward(gy)

    return fwd, fwdbwd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.manual_seed(0)
    dev = "cuda"
    r = lambda *s, dtype=torch.float32: torch.randn(*s, device=dev, dtype=dtype)  # noqa: E731

    cases = {}
    for name, dtype in (("stem0", torch.float32), ("stem0_bf16", torch.bfloat16)):
        cases[name] = case(r(8, 1, 64000, dtype=dtype), r(512, 1, 10, dtype=dtype), None,
                           r(8, 512, 12799, dtype=dtype), lambda x, w, b: F.conv1d(x, w, b, stride=5), False)
    cases["dw31"] = case(r(8, 256, 400), r(256, 1, 31), None, r(8, 256, 400),
                         lambda x, w, b: F.conv1d(x, w, b, padding=15, groups=256), True)
    cases["causal4"] = case(r(8, 1536, 2000), r(1536, 1, 4), r(1536), r(8, 1536, 2000),
                            lambda x, w, b: F.conv1d(x, w, b, padding=3, groups=1536)[..., :2000], True)
    cases["posconv"] = case(r(8, 768, 400), r(768, 48, 128), r(768), r(8, 768, 401),
                            lambda x, w, b: F.conv1d(x, w, b, padding=64, groups=16), True)

    out = {"bench": "pytorch_cuda_conv", "device": torch.cuda.get_device_name(), "torch": torch.__version__}
    for name, (fwd, fwdbwd) in cases.items():
        out[name + "_fwd_ms"] = round(median_ms(fwd, args.reps), 4)
        out[name + "_fwdbwd_ms"] = round(median_ms(fwdbwd, args.reps), 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
