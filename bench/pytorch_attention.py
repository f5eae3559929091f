#!/usr/bin/python3
"""PyTorch 1.13 CPU baseline for bench/bench_attention.cpp (run by it; also usable alone).

Path timed: the explicit formula with autograd, as HuBERT/fairseq's MultiheadAttention computes it on CPU:
    s = (q @ k^T) * scale; s.masked_fill(key_padding_mask, -inf); p = softmax(s); p = dropout(p); out = p @ v
torch 1.13 has no fused scaled_dot_product_attention for training on CPU, so this is what a 1.13 training step
runs. Inputs (B, H, T, Dh) float32, B=8, H=12, T=400, Dh=64 by default.

Configs: plain (no mask, no dropout) and train (key padding on the last 10% of keys of every other utterance,
dropout 0.1 in training mode). Prints one line per (config, threads, mode):
    torch config=plain threads=1 mode=fwdbwd median_ms=123.456 cpu_ms=120.1
(median wall time and median process CPU time; the CPU time is robust to other load on a shared machine).
"""
import argparse
import math
import statistics
import time

import torch


def attention(q, k, v, pad, dropout_p):
    s = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if pad is not None:
        s = s.masked_fill(pad[:, None, None, :], float("-inf"))
    p = torch.softmax(s, dim=-1)
    if dropout_p > 0:
        p = torch.nn.functional.dropout(p, dropout_p, training=True)
    return torch.matmul(p, v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--configs", default="plain,train")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--shape", default="8,12,400,64", help="B,H,T,Dh")
    args = ap.parse_args()
    B, H, T, Dh = (int(x) for x in args.shape.split(","))
    g = torch.Generator().manual_seed(0)
    q = torch.randn(B, H, T, Dh, generator=g, requires_grad=True)
    k = torch.randn(B, H, T, Dh, generator=g, requires_grad=True)
    v = torch.randn(B, H, T, Dh, generator=g, requires_grad=True)
    dout = torch.randn(B, H, T, Dh, generator=g)
    pad = torch.zeros(B, T, dtype=torch.bool)
    pad[1::2, T - T // 10:] = True
    for config in args.configs.split(","):
        mask, p = (None, 0.0) if config == "plain" else (pad, 0.1)
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            for mode in ("fwd", "fwdbwd"):
                times, cpu = [], []
                for rep in range(args.reps + 1):  # first run is warm-up
                    for t in (q, k, v):
                        t.grad = None
                    start, start_cpu = time.perf_counter(), time.process_time()
                    if mode == "fwd":
                        with torch.no_grad():
                            attention(q, k, v, mask, p)
                    else:
                        attention(q, k, v, mask, p).backward(dout)
                    if rep:
                        times.append(time.perf_counter() - start)
                        cpu.append(time.process_time() - start_cpu)
                print(f"torch config={config} threads={threads} mode={mode} "
                      f"median_ms={1e3 * statistics.median(times):.3f} cpu_ms={1e3 * statistics.median(cpu):.3f}",
                      flush=True)


if __name__ == "__main__":
    main()
