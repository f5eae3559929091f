"""PyTorch 1.13 baseline timings of the reference models (tools/reference/hubmamba_ref.py) for the C++ benches
(DESIGN.md 7: same model / shape / threads, median of repeated runs). Prints one JSON object per run.

    /usr/bin/python3 bench/pytorch_baseline.py model-step --preset tiny-transformer --batch 4 --seconds 4 --threads 2
    /usr/bin/python3 bench/pytorch_baseline.py model-forward --preset tiny-mamba --batch 4 --seconds 4 --threads 2
    /usr/bin/python3 bench/pytorch_baseline.py scan --B 1 --D 768 --L 200 --N 16 --threads 2
    /usr/bin/python3 bench/pytorch_baseline.py ctc-step --preset tiny-transformer --batch 4 --seconds 4 --threads 2

model-step: one pretraining step without the optimiser: training-mode forward (the config's dropouts), cosine
logits of the masked frames (fairseq-style spans of 10 frames, mask_prob 0.8), cross-entropy + 10 * features_pen,
backward. ctc-step: one CTC fine-tuning step without the optimiser (fairseq wav2vec2_asr): the CNN frozen (run
under no_grad, feature_grad_mult 0), the same span mask on the projected features, the encoder, a linear head to 32
letters, log_softmax, CTC (sum over the batch, blank 0, zero_infinity) against random targets of T/4 letters,
backward. model-forward: eval-mode forward under no_grad. scan: the selective scan alone (forward, and forward +
backward). The selective scan is the reference's Python loop over time (as the reference mamba_ssm
selective_scan_ref), not a fused kernel: beating it is not the bar (DESIGN.md 9). Layer drop is switched off unless
--keep-layerdrop (a skipped layer would make the timings incomparable). Peak RSS is the process's ru_maxrss,
model construction included.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "reference"))
import hubmamba_ref as ref  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def load_config(args) -> ref.ModelConfig:
    if args.config:
        with open(args.config) as fh:
            cfg = ref.ModelConfig.from_json(json.load(fh))
    else:
        cfg = ref.preset(args.preset)
    if not args.keep_layerdrop:
        cfg.encoder_layerdrop = 0.0
    return cfg


def span_mask(B, T, gen, prob=0.8, span=10):
    """fairseq compute_mask_indices, static spans: num_mask = int(prob * T / span + U[0, 1)), same for the batch."""
    num = max(2, int(prob * T / span + torch.rand(1, generator=gen).item()))
    mask = torch.zeros(B, T, dtype=torch.bool)
    for b in range(B):
        starts = torch.randperm(max(1, T - span), generator=gen)[:num]
        for s in starts.tolist():
            mask[b, s:s + span] = True
    return mask


def time_reps(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def report(what, args, times, extra):
    med = statistics.median(times)
    out = {"what": what, "threads": args.threads, "reps": len(times), "warmup": args.warmup,
           "median_s": med, "min_s": min(times), "times_s": [round(t, 6) for t in times]}
    out.update(extra)
    out.update({"peak_rss_mb": round(peak_rss_mb(), 1), "torch": torch.__version__, "cpu": cpu_name(),
                "selective_scan": "python loop (hubmamba_ref.selective_scan_ref)"})
    print(json.dumps(out))


def cmd_model(args, train: bool):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = load_config(args)
    model = ref.HubertRef(cfg)
    gen = torch.Generator().manual_seed(args.seed)
    samples = int(round(args.seconds * 16000))
    wave = 0.1 * torch.randn(args.batch, samples, generator=gen)
    T = cfg.cnn_output_length(samples)
    mask = span_mask(args.batch, T, gen)
    targets = torch.randint(0, cfg.num_classes, (args.batch, T), generator=gen)

    if train:
        model.train()

        def step():
            model.zero_grad(set_to_none=True)
            out = model(wave, None, mask, keep_hidden=False)
            loss, _ = model.pretrain_loss(out, mask, targets)
            loss.backward()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(wave, None, None, keep_hidden=False)

    times = time_reps(step, args.reps, args.warmup)
    med = statistics.median(times)
    report("model-step" if train else "model-forward", args, times, {
        "preset": cfg.name, "layer_type": cfg.layer_type, "params": ref.num_parameters(model),
        "batch": args.batch, "seconds": args.seconds, "frames": T, "masked_frames": int(mask.sum()),
        "audio_seconds_per_s": args.batch * args.seconds / med, "layerdrop": cfg.encoder_layerdrop})


CTC_VOCAB = 32  # letters + '|' + specials, like the fine-tuning vocabulary


def cmd_ctc(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = load_config(args)
    cfg.feature_grad_mult = 0.0
    model = ref.HubertRef(cfg)
    head = torch.nn.Linear(cfg.d_model, CTC_VOCAB)
    gen = torch.Generator().manual_seed(args.seed)
    samples = int(round(args.seconds * 16000))
    wave = 0.1 * torch.randn(args.batch, samples, generator=gen)
    T = cfg.cnn_output_length(samples)
    mask = span_mask(args.batch, T, gen)
    S = max(1, T // 4)
    targets = torch.randint(1, CTC_VOCAB, (args.batch, S), generator=gen)
    in_lens = torch.full((args.batch,), T, dtype=torch.long)
    tgt_lens = torch.full((args.batch,), S, dtype=torch.long)
    model.train()
    w2v = model.wav2vec2
    proj = w2v.encoder.feature_projection

    def step():
        model.zero_grad(set_to_none=True)
        head.zero_grad(set_to_none=True)
        with torch.no_grad():  # frozen CNN (fairseq: feature_grad_mult 0 -> torch.no_grad)
            cnn = w2v.feature_extractor(wave).transpose(1, 2)
        x = ref.dropout_if(proj.projection(proj.layer_norm(cnn)), cfg.dropout_input, True)
        x = torch.where(mask.bool()[:, :, None], model.mask_generator.mask_embedding, x)
        _, final = model.encode(x, None, keep_hidden=False)
        lp = torch.log_softmax(head(final), dim=-1)
        loss = torch.nn.functional.ctc_loss(lp.transpose(0, 1), targets, in_lens, tgt_lens, blank=0,
                                            reduction="sum", zero_infinity=True)
        loss.backward()

    times = time_reps(step, args.reps, args.warmup)
    med = statistics.median(times)
    report("ctc-step", args, times, {
        "preset": cfg.name, "layer_type": cfg.layer_type, "batch": args.batch, "seconds": args.seconds,
        "frames": T, "target_length": S, "audio_seconds_per_s": args.batch * args.seconds / med})


def cmd_scan(args):
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    B, D, L, N = args.B, args.D, args.L, args.N

    def rnd(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=gen)).requires_grad_()

    u, delta, z = rnd(B, D, L), rnd(B, D, L, scale=0.5), rnd(B, D, L)
    A_log = torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(D, 1).requires_grad_()
    Bm, Cm, Dskip, bias = rnd(B, N, L), rnd(B, N, L), rnd(D), rnd(D, scale=0.1)

    def fwd():
        with torch.no_grad():
            ref.selective_scan_ref(u, delta, -torch.exp(A_log), Bm, Cm, Dskip, z, bias, True)

    def fwd_bwd():
        for t in (u, delta, A_log, Bm, Cm, Dskip, z, bias):
            t.grad = None
        ref.selective_scan_ref(u, delta, -torch.exp(A_log), Bm, Cm, Dskip, z, bias, True).sum().backward()

    shape = {"B": B, "D": D, "L": L, "N": N}
    report("scan-forward", args, time_reps(fwd, args.reps, args.warmup), shape)
    if not args.forward_only:
        report("scan-forward-backward", args, time_reps(fwd_bwd, args.reps, args.warmup), shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
        p.add_argument("--reps", type=int, default=5, help="timed repetitions (median reported)")
        p.add_argument("--warmup", type=int, default=1, help="untimed repetitions first")
        p.add_argument("--seed", type=int, default=0)

    for name, help_ in (("model-step", "forward + loss + backward in training mode"),
                        ("model-forward", "eval-mode forward under no_grad"),
                        ("ctc-step", "CTC fine-tuning step (frozen CNN, linear CTC head) without the optimiser")):
        p = sub.add_parser(name, help=help_)
        g = p.add_mutually_exclusive_group()
        g.add_argument("--preset", default="tiny-transformer", choices=ref.preset_names())
        g.add_argument("--config", help="a ModelConfig JSON file (fields of models/config.h)")
        p.add_argument("--batch", type=int, default=4)
        p.add_argument("--seconds", type=float, default=4.0, help="seconds of 16 kHz audio per utterance")
        p.add_argument("--keep-layerdrop", action="store_true", help="keep the config's encoder_layerdrop")
        common(p)
    p = sub.add_parser("scan", help="selective scan alone (Python loop over time)")
    for k, v in (("B", 1), ("D", 768), ("L", 200), ("N", 16)):
        p.add_argument(f"--{k}", type=int, default=v)
    p.add_argument("--forward-only", action="store_true")
    common(p)
    args = ap.parse_args()
    if args.cmd == "scan":
        cmd_scan(args)
    elif args.cmd == "ctc-step":
        cmd_ctc(args)
    else:
        cmd_model(args, train=args.cmd == "model-step")


if __name__ == "__main__":
    main()
