"""Parameter counts of the 12 model presets ({tiny,base}-{layer type}, models/config.cpp preset_names()) computed
with the reference models (hubmamba_ref.py): trainable parameters only (BatchNorm running statistics are buffers),
as C++ Module::num_parameters() counts them.

    /usr/bin/python3 tools/reference/param_counts.py [--out tests/fixtures/models/param_counts.json]

Writes {preset: count} and prints a breakdown (CNN, encoder front end, one layer, heads).
"""
import argparse
import gc
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hubmamba_ref as ref  # noqa: E402


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.normpath(
        os.path.join(here, "..", "..", "tests", "fixtures", "models", "param_counts.json")))
    args = ap.parse_args()
    torch.set_num_threads(1)
    counts = {}
    print(f"{'preset':18s} {'total':>12s} {'CNN':>10s} {'front end':>10s} {'per layer':>10s} {'heads':>8s}")
    for name in ref.preset_names():
        cfg = ref.preset(name)
        with torch.no_grad():
            m = ref.HubertRef(cfg)
        w2v = m.wav2vec2
        total = count(m)
        cnn = count(w2v.feature_extractor)
        layer = count(w2v.encoder.transformer.layers[0])
        front = count(w2v.encoder) - cfg.num_layers * layer + count(m.mask_generator)
        heads = count(m.logit_generator)
        assert total == cnn + front + cfg.num_layers * layer + heads
        counts[name] = total
        print(f"{name:18s} {total:12,d} {cnn:10,d} {front:10,d} {layer:10,d} {heads:8,d}")
        del m, w2v
        gc.collect()
    # The transformer preset is torchaudio's HuBERT Base (pretraining model with 100 classes) exactly.
    from torchaudio.models import hubert_pretrain_base
    ta = count(hubert_pretrain_base(num_classes=100))
    assert counts["base-transformer"] == ta, (counts["base-transformer"], ta)
    print(f"base-transformer == torchaudio hubert_pretrain_base(num_classes=100): {ta:,d} parameters")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(counts, fh, indent=2)
        fh.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
