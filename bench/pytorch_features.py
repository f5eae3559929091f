#!/usr/bin/python3
"""Baseline for bench/bench_features.cpp: torchaudio 0.13 Kaldi MFCC + deltas exactly as fairseq's
dump_mfcc_feature.py computes them (and 80-d fbank), on the same waveforms, torch.set_num_threads(--threads),
one utterance at a time (as fairseq does). Prints one JSON object with the median seconds over --repeats runs.

  /usr/bin/python3 bench/pytorch_features.py --data /tmp/hubmamba_features_bench.npy --threads 1
"""
import argparse
import json
import statistics
import time

import numpy as np
import torch
import torchaudio


def mfcc39(x):
    m = torchaudio.compliance.kaldi.mfcc(waveform=x, sample_frequency=16000, use_energy=False).transpose(0, 1)
    d = torchaudio.functional.compute_deltas(m)
    dd = torchaudio.functional.compute_deltas(d)
    return torch.cat([m, d, dd], dim=0).transpose(0, 1).contiguous()


def fbank80(x):
    return torchaudio.compliance.kaldi.fbank(x, num_mel_bins=80)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="(U, n) float32 waveforms")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    wavs = [torch.from_numpy(w).view(1, -1) for w in np.load(a.data)]
    out = {"impl": "torchaudio", "threads": a.threads}
    with torch.no_grad():
        for name, fn in (("mfcc", mfcc39), ("fbank", fbank80)):
            fn(wavs[0])  # warm-up
            times = []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                for w in wavs:
                    fn(w)
                times.append(time.perf_counter() - t0)
            out[name + "_median_s"] = statistics.median(times)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
