"""Write the end-to-end model fixtures the C++ model tests compare against (DESIGN.md 6, tier 3).

    /usr/bin/python3 tools/reference/make_model_fixtures.py [--out tests/fixtures/models] [--types t1,t2]

For every layer type, a micro model (MICRO below) with fixed random weights runs one training-mode forward pass
on a padded batch of two waveforms with a fixed frame mask; the fixtures hold the weights, the inputs, every
intermediate output, the loss and the gradient of every parameter. Everything is computed in float64 from
float32 weights and inputs, and stored as float32 (see tests/fixtures/models/README.md for the layout, written by
this script). Before writing, the script checks the reference against torchaudio (check_against_torchaudio.py) and
a few properties of the padding handling (self_checks()).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hubmamba_ref as ref  # noqa: E402

SEED = 1234
SAMPLE_LENGTHS = [800, 640]
BI_TYPES = ("extbimamba", "innbimamba", "conbimamba")


def micro_config(layer_type: str) -> ref.ModelConfig:
    """2 layers of width 20, FFN 30 (widths that are no multiple of a SIMD width on purpose: head_dim 5, d_inner 40,
    dt_rank 2), a 3-layer
    16-channel CNN (stride 20, receptive field 30), no dropout, no layer drop, feature_grad_mult 0.1."""
    return ref.ModelConfig(
        name=f"micro-{layer_type}", layer_type=layer_type, num_layers=2, d_model=20, ffn_dim=30, num_heads=4,
        conv_layers=[[16, 10, 5], [16, 3, 2], [16, 2, 2]], feature_grad_mult=0.1, pos_conv_kernel=8,
        pos_conv_groups=4, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, dropout_input=0.0,
        encoder_layerdrop=0.0, d_state=4, d_conv=4, expand=2, mamba_ffn=False, fairseq_reinit_dt_proj=True,
        faithful_padding=False, depthwise_kernel=5, final_dim=16, num_classes=10, logit_temp=0.1, label_rate=100.0)


def randomize_(model: ref.HubertRef, gen: torch.Generator):
    """Fixed random weights such that every parameter has a sizeable gradient and no special value: every Linear
    weight ~ U(+-1/sqrt(fan_in)) (PyTorch's default, not fairseq's N(0, 0.02), which would leave the Mamba
    parameters with gradients of 1e-12), dt_proj.bias = softplus^-1(dt) with dt ~ exp(U[log 0.05, log 0.5]) (so
    that exp(delta A) spans 0.1..0.96 over the 39 frames), norm scales != 1, biases != 0, A_log and D perturbed,
    non-trivial BatchNorm running statistics."""
    def randn(p, std):
        return torch.randn(p.shape, generator=gen) * std

    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.Linear):
                # x_proj 4x larger: B and C of order 1, so that the scan term y (not only the D skip) carries the
                # output and A_log / dt_proj get gradients of a useful size.
                bound = (4.0 if name.endswith("x_proj") else 1.0) / m.in_features ** 0.5
                m.weight.copy_((torch.rand(m.weight.shape, generator=gen) * 2 - 1) * bound)
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if "norm" in name and leaf == "weight":      # LayerNorm / GroupNorm / BatchNorm scales
                p.copy_(1.0 + randn(p, 0.2))
            elif "norm" in name and leaf == "bias":
                p.copy_(randn(p, 0.1))
            elif leaf == "A_log":
                p.add_(randn(p, 0.2))
            elif leaf == "D":
                p.copy_(1.0 + randn(p, 0.3))
            elif name.endswith("dt_proj.bias"):
                dt = torch.exp(torch.rand(p.shape, generator=gen) * (torch.log(torch.tensor(10.0))) + torch.log(
                    torch.tensor(0.05)))
                p.copy_(dt + torch.log(-torch.expm1(-dt)))
            elif leaf == "weight_g":
                p.mul_(1.0 + randn(p, 0.1).abs())
            elif leaf == "bias":
                p.copy_(randn(p, 0.1))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(randn(b, 0.2))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))


def make_inputs(cfg: ref.ModelConfig, gen: torch.Generator):
    """wave (2, 800) f32 (utterance 1 is 640 samples + 160 zeros), frame mask (2, T) u8 over valid frames only,
    targets (2, T) i64."""
    B, L = len(SAMPLE_LENGTHS), max(SAMPLE_LENGTHS)
    t = torch.arange(L, dtype=torch.float64) / 16000.0
    wave = torch.zeros(B, L)
    for b, n in enumerate(SAMPLE_LENGTHS):
        f0 = 120.0 + 80.0 * b
        sig = 0.4 * torch.sin(2 * torch.pi * f0 * t) + 0.2 * torch.sin(2 * torch.pi * 3.1 * f0 * t)
        sig = sig.float() + 0.1 * torch.randn(L, generator=gen)
        wave[b, :n] = sig[:n]
    T = cfg.cnn_output_length(L)
    frame_mask = torch.zeros(B, T, dtype=torch.uint8)
    frame_mask[0, 3:11] = 1
    frame_mask[0, 20:29] = 1
    frame_mask[1, 5:15] = 1
    frame_mask[1, 24:31] = 1
    assert cfg.cnn_output_length(SAMPLE_LENGTHS[1]) >= 31  # masked frames are all valid
    targets = torch.randint(0, cfg.num_classes, (B, T), generator=gen)
    return wave, frame_mask, targets


def config_json(cfg: ref.ModelConfig) -> str:
    """ModelConfig JSON, one field per line (conv_layers on one line)."""
    fields = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in cfg.to_json().items()]
    return "{\n" + ",\n".join(fields) + "\n}\n"


def f32(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float32).cpu().numpy()


def build(layer_type: str):
    cfg = micro_config(layer_type)
    torch.manual_seed(SEED)
    model = ref.HubertRef(cfg)
    gen = torch.Generator().manual_seed(SEED + 1)
    randomize_(model, gen)
    return cfg, model, gen


def run_train_step(model, wave, frame_mask, targets):
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(wave.double(), SAMPLE_LENGTHS, frame_mask.bool())
    loss, logits = model.pretrain_loss(out, frame_mask.bool(), targets)
    loss.backward()
    return out, loss, logits


def write_type(layer_type: str, root: str):
    cfg, model, gen = build(layer_type)
    wave, frame_mask, targets = make_inputs(cfg, gen)
    d = os.path.join(root, layer_type)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as fh:
        fh.write(config_json(cfg))

    state0 = {k: v.clone() for k, v in model.state_dict().items()}  # float32 weights and buffers
    ref.save_safetensors(os.path.join(d, "weights.safetensors"),
                         [(k, v.numpy()) for k, v in state0.items()])
    np.save(os.path.join(d, "wave.npy"), wave.numpy())
    np.save(os.path.join(d, "sample_lengths.npy"), np.array(SAMPLE_LENGTHS, dtype=np.int64))
    np.save(os.path.join(d, "frame_mask.npy"), frame_mask.numpy())
    np.save(os.path.join(d, "targets.npy"), targets.numpy().astype(np.int64))

    # Training-mode step in float64.
    model.double()
    out, loss, logits = run_train_step(model, wave, frame_mask, targets)
    np.save(os.path.join(d, "frame_lengths.npy"), np.array(out["lengths"], dtype=np.int64))
    np.save(os.path.join(d, "cnn.npy"), f32(out["cnn"]))
    np.save(os.path.join(d, "features_pen.npy"), f32(out["features_pen"]))
    for i, h in enumerate(out["hidden"]):
        np.save(os.path.join(d, f"hidden_{i}.npy"), f32(h))
    np.save(os.path.join(d, "final.npy"), f32(out["final"]))
    np.save(os.path.join(d, "logits.npy"), f32(logits))
    np.save(os.path.join(d, "loss.npy"), f32(loss))
    ref.save_safetensors(os.path.join(d, "grads.safetensors"),
                         [(n, f32(p.grad)) for n, p in model.named_parameters()])
    buffers = [(n, b.numpy() if b.dtype == torch.long else f32(b)) for n, b in model.named_buffers()]
    if buffers:
        ref.save_safetensors(os.path.join(d, "buffers_after.safetensors"), buffers)

    # Eval-mode forward from the initial weights and buffers (BatchNorm uses weights.safetensors' running stats).
    model.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in state0.items()})
    model.eval()
    with torch.no_grad():
        ev = model(wave.double(), SAMPLE_LENGTHS, frame_mask.bool())
    np.save(os.path.join(d, "eval_final.npy"), f32(ev["final"]))

    # faithful_padding = true (the original plain flip of the padded batch), training mode, same weights.
    if layer_type in BI_TYPES:
        model.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in state0.items()})
        set_faithful(model, True)
        fo, floss, _ = run_train_step(model, wave, frame_mask, targets)
        fd = os.path.join(d, "faithful")
        os.makedirs(fd, exist_ok=True)
        np.save(os.path.join(fd, "final.npy"), f32(fo["final"]))
        np.save(os.path.join(fd, "loss.npy"), f32(floss))
        valid = ~fo["padding"]
        diff = (fo["final"] - out["final"])[valid].abs().max().item()
        assert diff > 1e-7, f"{layer_type}: faithful padding should change valid frames (max diff {diff})"

    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(d) for f in fs)
    n_params = ref.num_parameters(model)
    print(f"{layer_type:11s} {n_params:6d} parameters, loss {loss.item():.6f}, features_pen "
          f"{out['features_pen'].item():.6f}, {size / 1024:.1f} KiB in {d}")
    assert size < 300 * 1024, f"{d}: {size} bytes (limit 300 KiB)"


def set_faithful(model, on: bool):
    model.cfg.faithful_padding = on
    for m in model.modules():
        if hasattr(m, "faithful_padding"):
            m.faithful_padding = on


def self_checks():
    """Padding semantics of the reference (eval mode, float64, every type):
    * valid frames of a padded utterance equal those of the same utterance run alone (zeroed padding, flips within
      lengths, attention key masks, BatchNorm on running stats), unless faithful_padding is set for a
      bidirectional type, where they must differ;
    * flip_within_lengths is an involution that keeps padded frames in place;
    * MaskedBatchNorm1d without padding equals torch's batch_norm (training statistics and running updates)."""
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    f = ref.flip_within_lengths(x, [7, 4], False)
    assert torch.equal(f[1, :4], x[1, :4].flip(0)) and torch.equal(f[1, 4:], x[1, 4:])
    assert torch.equal(ref.flip_within_lengths(f, [7, 4], False), x)
    assert torch.equal(ref.flip_within_lengths(x, [7, 4], True), x.flip(1))

    bn = ref.MaskedBatchNorm1d(5).double()
    xb = torch.randn(3, 5, 11, dtype=torch.float64)
    rm, rv = torch.zeros(5, dtype=torch.float64), torch.ones(5, dtype=torch.float64)
    want = torch.nn.functional.batch_norm(xb, rm, rv, bn.weight, bn.bias, True, 0.1, 1e-5)
    assert torch.allclose(bn(xb), want, atol=1e-12)
    assert torch.allclose(bn.running_mean, rm, atol=1e-12) and torch.allclose(bn.running_var, rv, atol=1e-12)

    for layer_type in ref.LAYER_TYPES:
        for faithful in (False, True):
            cfg, model, gen = build(layer_type)
            model.double().eval()
            set_faithful(model, faithful)
            T, n = 30, 21
            xin = torch.randn(2, T, cfg.d_model, generator=gen, dtype=torch.float64)
            xin[1, n:] = 0  # as HubertRef.forward zeroes padded frames
            with torch.no_grad():
                _, batch = model.encode(xin, [T, n])
                _, alone = model.encode(xin[1:, :n], None)
            diff = (batch[1, :n] - alone[0]).abs().max().item()
            if faithful and layer_type in BI_TYPES:
                assert diff > 1e-7, f"{layer_type} faithful: padding should leak into valid frames ({diff})"
            else:
                assert diff < 1e-10, f"{layer_type} faithful={faithful}: padding leaks into valid frames ({diff})"
    print("self checks: OK (padding independence, flips, masked BatchNorm)")


README = """# Model fixtures (written by tools/reference/make_model_fixtures.py — do not edit)

Reference: `tools/reference/hubmamba_ref.py` (PyTorch 1.13, checked against torchaudio's HuBERT by
`tools/reference/check_against_torchaudio.py`). Regenerate with
`/usr/bin/python3 tools/reference/make_model_fixtures.py` (deterministic; about a minute on one core).

One directory per layer type: `transformer conformer mamba extbimamba innbimamba conbimamba`.
Computed in float64 from the float32 weights/inputs; every floating array is stored as float32.

| file | dtype | shape | what |
| --- | --- | --- | --- |
| `config.json` | | | the micro model in ModelConfig JSON (`ModelConfig::from_json`) |
| `weights.safetensors` | F32 (+ I64 `num_batches_tracked`) | per name | initial state dict: parameters and buffers, C++ `Module::state_dict()` names |
| `wave.npy` | f4 | (2, 800) | waveforms; utterance 1 is 640 samples followed by 160 zeros |
| `sample_lengths.npy` | i8 | (2,) | [800, 640] |
| `frame_lengths.npy` | i8 | (2,) | valid frames [39, 31] = `cnn_output_length(sample_length)` |
| `frame_mask.npy` | u1 | (2, 39) | 1 = frame replaced by the mask embedding (valid frames only) |
| `targets.npy` | i8 | (2, 39) | target class of every frame (only masked frames are used) |
| `cnn.npy` | f4 | (2, 39, 16) | CNN output (B, T, C), before the feature LayerNorm (`HubertOutput::cnn`) |
| `features_pen.npy` | f4 | () | mean(cnn^2) |
| `hidden_0.npy` | f4 | (2, 39, d) | input of layer 1 (after pos conv, encoder LN for post-LN types, dropout) |
| `hidden_{i}.npy` | f4 | (2, 39, d) | output of layer i, i = 1..num_layers |
| `final.npy` | f4 | (2, 39, d) | encoder output (`HubertOutput::final`) |
| `logits.npy` | f4 | (N, 10) | cosine logits / logit_temp of the masked frames, rows in (b, t) row-major order |
| `loss.npy` | f4 | () | mean cross-entropy(logits, targets of the masked frames) + 10 * features_pen |
| `grads.safetensors` | F32 | per parameter | d loss / d parameter, every parameter of weights.safetensors |
| `buffers_after.safetensors` | F32, I64 | per buffer | BatchNorm buffers after the training forward (conformer, conbimamba) |
| `eval_final.npy` | f4 | (2, 39, d) | eval-mode `final` from the *initial* weights and buffers (BatchNorm running stats) |
| `faithful/final.npy`, `faithful/loss.npy` | f4 | (2, 39, d), () | bidirectional types only: same weights and inputs, training mode, `faithful_padding = true` |

Semantics pinned by these fixtures (see hubmamba_ref.py):
* Training mode with every dropout 0 and layer drop 0; feature_grad_mult 0.1 (scale_grad on the CNN output).
* features_pen is taken *after* the gradient scaling (fairseq / torchaudio): its gradient into the CNN is scaled
  by feature_grad_mult as well.
* Padded frames (t >= frame_lengths[b]) are zeroed after the feature projection, before the mask embedding.
* BatchNorm (conv module) in training mode: mean and biased variance over the valid frames only; all frames are
  normalised with them; running_var is updated with the unbiased variance (n / (n - 1), n = valid frames),
  momentum 0.1; num_batches_tracked 0 -> 1.
* Hidden states at padded frames are what the C++ computes too (zeroing / flips within lengths as in mamba.cpp),
  but they never reach the loss; compare them or restrict to valid frames, both hold.
* The gradient of every `attention.k_proj.bias` / `self_attn.k_proj.bias` is zero in exact arithmetic
  (softmax shift invariance): compare it with an absolute tolerance.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.normpath(os.path.join(here, "..", "..", "tests", "fixtures", "models")))
    ap.add_argument("--types", default=",".join(ref.LAYER_TYPES))
    ap.add_argument("--skip-checks", action="store_true", help="do not run the torchaudio and padding checks")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not args.skip_checks:
        import check_against_torchaudio
        check_against_torchaudio.main()
        self_checks()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "README.md"), "w") as fh:
        fh.write(README)
    for t in args.types.split(","):
        write_type(t, args.out)


if __name__ == "__main__":
    main()
