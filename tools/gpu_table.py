#!/usr/bin/env python3
"""The short table tools/gpu_check.sh prints last: each GPU benchmark as a ratio against its baseline measured in
the same run (issue 8 targets in brackets). Reads the logs gpu_check.sh wrote (last JSON line of each).
    python3 tools/gpu_table.py OUT_DIR "GPU name"
"""
import json
import os
import sys


def last_json(path):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def row(what, value, target, note=""):
    if value is None:
        print(f"  {what:<58} {'n/a':>8}   {target:<10} {note}")
    else:
        met = "" if not target else ("met" if value >= float(target.lstrip(">=")) else "MISSED")
        print(f"  {what:<58} {value:8.2f}x  {target:<10} {met} {note}")


def main():
    out, gpu = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "GPU"
    print(f"== GPU benchmark ratios ({gpu}); >1 = hubmamba faster / closer to the baseline")
    scan, ref = last_json(f"{out}/bench_cuda_selective_scan.log"), last_json(f"{out}/pytorch_cuda_selective_scan.log")
    if scan and ref:
        for dt in ("f32", "bf16"):
            ours = scan.get(f"cuda_chunked_{dt}_fwdbwd_ms")
            for key, label, target in (("ref_loop_ms", "reference loop", ">=50"),
                                       ("ref_loop_unbind_ms", "reference loop, O(L) backward", ""),
                                       ("parallel_scan_ms", "PyTorch parallel scan", ">=2")):
                if ours and ref.get(key):
                    row(f"selective scan fwd+bwd {dt} vs {label}", ref[key] / ours, target,
                        f"({ref[key]:.1f} vs {ours:.2f} ms)")
    else:
        row("selective scan", None, "", "(log missing)")
    gemm = last_json(f"{out}/bench_cuda_gemm.log")
    if gemm:
        for k, v in gemm.items():
            if k.endswith("_direct_us"):
                base = k[: -len("_direct_us")]
                if gemm.get(base + "_us"):
                    row(f"GEMM engine vs direct cuBLAS {base}", v / gemm[base + "_us"], ">=0.95")
    att = open(f"{out}/bench_cuda_attention.log").read() if os.path.exists(f"{out}/bench_cuda_attention.log") else ""
    for line in att.splitlines():
        if "fwdbwd" in line and "sdpa" not in line.lower() and not line.startswith("{"):
            print("  attention " + line.strip())
    for m in ("base-conbimamba", "base-transformer"):
        ours, theirs = last_json(f"{out}/train_{m}_hubmamba.log"), last_json(f"{out}/train_{m}_pytorch.log")
        if ours and theirs and theirs.get("ms_per_step") and ours.get("ms_per_step"):
            row(f"training step {m} bf16 B=8 10 s vs PyTorch eager", theirs["ms_per_step"] / ours["ms_per_step"],
                ">=1", f"({ours['ms_per_step']:.0f} vs {theirs['ms_per_step']:.0f} ms, MFU {ours.get('mfu', 0):.3f})")
        else:
            row(f"training step {m}", None, ">=1", "(log missing or failed)")


if __name__ == "__main__":
    main()
