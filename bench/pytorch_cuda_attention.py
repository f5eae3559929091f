#!/usr/bin/env python3
"""PyTorch CUDA baseline for bench/bench_cuda_attention.cpp: torch.nn.functional.scaled_dot_product_attention.

Same shapes and dtypes as the C++ bench: (B, H, T, Dh) = (8, 12, T, 64) for T in 400 and 2000, float32 and
bfloat16, without a mask and with a key-padding mask (the last 10% of keys of every other utterance padded, passed
as a boolean attn_mask of shape (B, 1, 1, T), True = attend; SDPA then leaves its flash backend for the
memory-efficient one, as it would in a model). Modes: fwd (under no_grad) and fwdbwd (forward, then backward of a
fixed random gradient). Timed with CUDA events: 3 warm-ups, then the median of --reps runs, in milliseconds.
Prints one JSON line:
  {"device": ..., "torch": ..., "ms": {"T400_f32_nomask_fwd": 0.41, ...}}
"""
import argparse
import json
import statistics

import torch
import torch.nn.functional as F


def time_ms(fn, reps):
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", default="400,2000")
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    B, H, Dh = 8, 12, 64
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(0)
    result = {}
    for T in (int(t) for t in args.lengths.split(",")):
        for name in args.dtypes.split(","):
            dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[name]
            q, k, v, dout = (torch.randn(B, H, T, Dh, device=dev, dtype=dtype, generator=g) for _ in range(4))
            for t in (q, k, v):
                t.requires_grad_(True)
            keep = torch.ones(B, T, dtype=torch.bool, device=dev)
            keep[1::2, T - T // 10:] = False
            for mask_name, mask in (("nomask", None), ("pad", keep[:, None, None, :])):
                def fwd():
                    with torch.no_grad():
                        F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

                def fwdbwd():
                    for t in (q, k, v):
                        t.grad = None
                    F.scaled_dot_product_attention(q, k, v, attn_mask=mask).backward(dout)

                for mode, fn in (("fwd", fwd), ("fwdbwd", fwdbwd)):
                    result[f"T{T}_{name}_{mask_name}_{mode}"] = round(time_ms(fn, args.reps), 4)
            del q, k, v, dout
            torch.cuda.empty_cache()
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "ms": result}))


if __name__ == "__main__":
    main()
