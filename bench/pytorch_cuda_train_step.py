#!/usr/bin/env python3
"""PyTorch eager baseline for `hubmamba bench` (train/cmd_bench.cpp): the same model (tools/reference/
hubmamba_ref.py, the PyTorch reference of every hubmamba model, checked against torchaudio), the same random
audio shape, frame mask ((t // 10) % 2 == 0), targets ((7 t + 31 b) mod C), loss (masked cross-entropy +
10 * features_pen), backward, grad-norm clip 10 and AdamW update. Mamba layers use the reference selective scan
(a Python loop over time), which is what "PyTorch eager" means without the mamba_ssm extension.

    python3 bench/pytorch_cuda_train_step.py --model base-conbimamba --precision bf16 --batch 8 --seconds 10
Prints one JSON line (ms_per_step = median of --steps after --warmup untimed steps, CUDA-event timed).
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "reference"))
import hubmamba_ref as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="base-conbimamba")
    ap.add_argument("--precision", default="bf16", choices=["f32", "bf16"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"impl": "pytorch", "model": a.model, "skipped": "no GPU"}))
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    torch.manual_seed(1)
    cfg = ref.preset(a.model)
    model = ref.HubertRef(cfg).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)
    B, L = a.batch, int(a.seconds * 16000)
    wave = torch.randn(B, L, device=dev)
    T = cfg.cnn_output_length(L)
    t = torch.arange(T, device=dev)
    frame_mask = ((t // 10) % 2 == 0).unsqueeze(0).expand(B, T).contiguous()
    b = torch.arange(B, device=dev).unsqueeze(1)
    targets = (7 * t.unsqueeze(0) + 31 * b) % cfg.num_classes

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            out = model(wave, None, frame_mask, keep_hidden=False)
            loss, _ = model.pretrain_loss(out, frame_mask, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    ms = []
    for _ in range(a.steps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        loss = step()
        end.record()
        torch.cuda.synchronize()
        ms.append(start.elapsed_time(end))
    ms.sort()
    med = ms[len(ms) // 2]
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "model": a.model, "precision": a.precision,
                      "batch": B, "seconds": a.seconds, "ms_per_step": round(med, 2),
                      "audio_s_per_s": round(B * a.seconds / (med / 1000), 1), "loss": round(float(loss), 4),
                      "peak_device_mib": round(torch.cuda.max_memory_allocated() / 2**20)}))


if __name__ == "__main__":
    main()
