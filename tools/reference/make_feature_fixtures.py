#!/usr/bin/python3
"""Reference fixtures for hubmamba's Kaldi-compatible features (tests/test_features.cpp).

Writes short deterministic test signals as 16-bit PCM WAV and the features torchaudio computes for them:
  <name>.wav             the signal (int16, 16 kHz, mono)
  <name>.mfcc.npy        (T, 39) float32: fairseq examples/hubert/simple_kmeans/dump_mfcc_feature.py, i.e.
                         kaldi.mfcc(x, sample_frequency=16000, use_energy=False) -> (T, 13), then
                         compute_deltas on the (13, T) transpose, delta of delta, cat along features
  <name>.fbank.npy       (T, 80) float32: kaldi.fbank(x, num_mel_bins=80) with all other defaults
  <name>.error.txt       instead of the .npy files when torchaudio rejects the signal (shorter than one frame)
  deltas_T<T>.in.npy / .out.npy   compute_deltas(win_length=5, mode="replicate") on a random (13, T) matrix,
                         stored transposed as (T, 13) like the C++ side
Samples are read back exactly as libsndfile does (int16 / 32768 as float32), so both sides see the same input.

Run: /usr/bin/python3 tools/reference/make_feature_fixtures.py   (Debian python3-torch 1.13 + torchaudio 0.13)
"""
import os
import wave

import numpy as np
import torch
import torchaudio

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "features")
SR = 16000


def write_wav(path, x):
    """float signal in [-1, 1] -> int16 WAV; returns the float32 samples libsndfile will read back."""
    q = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(q.tobytes())
    return (q.astype(np.float32) / np.float32(32768.0)).astype(np.float32)


def chirp(n, f0, f1, amp, rng, noise):
    t = np.arange(n) / SR
    dur = max(n / SR, 1e-9)
    phase = 2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / dur * t * t)
    return amp * np.sin(phase) + noise * rng.standard_normal(n)


def voiced(n, f0, rng):
    """Harmonic 'vowel' with vibrato and an amplitude envelope: a more speech-like spectrum than a chirp."""
    t = np.arange(n) / SR
    f = f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    ph = 2 * np.pi * np.cumsum(f) / SR
    x = sum((0.5 / h) * np.sin(h * ph) * np.exp(-((h * f0 - 700) / 900) ** 2) for h in range(1, 30))
    env = 0.5 - 0.5 * np.cos(2 * np.pi * np.minimum(t / (n / SR), 1))
    return 0.8 * x * env + 0.003 * rng.standard_normal(n)


def fairseq_mfcc(x):
    """dump_mfcc_feature.py MfccFeatureReader.get_feats."""
    with torch.no_grad():
        w = torch.from_numpy(x).float().view(1, -1)
        mfccs = torchaudio.compliance.kaldi.mfcc(waveform=w, sample_frequency=SR, use_energy=False)  # (T, 13)
        mfccs = mfccs.transpose(0, 1)  # (13, T)
        deltas = torchaudio.functional.compute_deltas(mfccs)
        ddeltas = torchaudio.functional.compute_deltas(deltas)
        concat = torch.cat([mfccs, deltas, ddeltas], dim=0)
        return concat.transpose(0, 1).contiguous().numpy()  # (T, 39)


def fbank80(x):
    with torch.no_grad():
        w = torch.from_numpy(x).float().view(1, -1)
        return torchaudio.compliance.kaldi.fbank(w, num_mel_bins=80).numpy()  # (T, 80)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith((".wav", ".npy", ".txt")):
            os.remove(os.path.join(OUT, f))
    rng = np.random.default_rng(20240907)
    signals = {
        # lengths chosen around frame boundaries: 400 = exactly one 25 ms frame, 561 = two frames (+1 sample)
        "chirp_noise_8077": chirp(8077, 100, 7000, 0.3, rng, 0.01),
        "one_frame_400": chirp(400, 300, 900, 0.5, rng, 0.02),
        "two_frames_561": chirp(561, 2000, 500, 0.4, rng, 0.05),
        # 1600 samples of digital silence: all-zero frames hit the log(max(energy, FLT_EPSILON)) floor
        "silence_then_tone_4000": np.concatenate([np.zeros(1600), chirp(2400, 440, 460, 0.6, rng, 0.001)]),
        "voiced_9600": voiced(9600, 120, rng),
        # shorter than one frame: torchaudio asserts (window size 400 > 300 samples)
        "short_300": chirp(300, 500, 600, 0.5, rng, 0.01),
    }
    for name, x in signals.items():
        samples = write_wav(os.path.join(OUT, name + ".wav"), x)
        try:
            m, fb = fairseq_mfcc(samples), fbank80(samples)
        except (AssertionError, RuntimeError) as e:
            with open(os.path.join(OUT, name + ".error.txt"), "w") as f:
                f.write(f"torchaudio {torchaudio.__version__} rejects {len(samples)} samples: {e!r}\n")
            print(f"{name}: error {e!r}")
            continue
        np.save(os.path.join(OUT, name + ".mfcc.npy"), m.astype(np.float32))
        np.save(os.path.join(OUT, name + ".fbank.npy"), fb.astype(np.float32))
        print(f"{name}: {len(samples)} samples -> mfcc {m.shape}, fbank {fb.shape}")

    for T in (1, 2, 3, 7):
        x = rng.standard_normal((13, T)).astype(np.float32)
        d = torchaudio.functional.compute_deltas(torch.from_numpy(x), win_length=5, mode="replicate").numpy()
        np.save(os.path.join(OUT, f"deltas_T{T}.in.npy"), np.ascontiguousarray(x.T))
        np.save(os.path.join(OUT, f"deltas_T{T}.out.npy"), np.ascontiguousarray(d.T))


if __name__ == "__main__":
    main()
