"""Prove that the reference transformer model (hubmamba_ref.py, layer_type "transformer") is torchaudio's HuBERT:
build torchaudio.models.hubert_pretrain_model at a reduced size (same code path as hubert_pretrain_base: group_norm
extractor without conv bias, post-LN layers, weight-normed positional conv, GradMultiply 0.1), load the reference
model's state dict into it with strict=True (same names and shapes), then assert equality of the CNN output, the
input of layer 1, every layer output (Transformer.get_intermediate_outputs), the final output, features_pen, the
masked logits, the loss and the gradient of every parameter.

    /usr/bin/python3 tools/reference/check_against_torchaudio.py

Exits non-zero on any mismatch. make_model_fixtures.py runs it before writing fixtures.

Everything runs in float64 (torchaudio casts features_pen and the cosine logits to float32 internally, hence the
1e-6-relative tolerances there): Debian's torch 1.13.1 has a float32 GELU backward bug (hubmamba_ref.gelu) that
torchaudio's own modules hit. The last check shows the reference's float32 gradients (with the guarded GELU, as
bench/pytorch_baseline.py runs it) agree with float64.
"""
import os
import sys

import torch
import torch.nn.functional as F
from torchaudio.models import hubert_pretrain_model

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hubmamba_ref as ref  # noqa: E402


def torchaudio_twin(c: ref.ModelConfig):
    return hubert_pretrain_model(
        extractor_mode="group_norm", extractor_conv_layer_config=[tuple(l) for l in c.conv_layers],
        extractor_conv_bias=False, encoder_embed_dim=c.d_model, encoder_projection_dropout=c.dropout_input,
        encoder_pos_conv_kernel=c.pos_conv_kernel, encoder_pos_conv_groups=c.pos_conv_groups,
        encoder_num_layers=c.num_layers, encoder_num_heads=c.num_heads,
        encoder_attention_dropout=c.attention_dropout, encoder_ff_interm_features=c.ffn_dim,
        encoder_ff_interm_dropout=c.activation_dropout, encoder_dropout=c.dropout, encoder_layer_norm_first=False,
        encoder_layer_drop=c.encoder_layerdrop, mask_prob=0.8, mask_selection="static", mask_other=0.0,
        mask_length=10, no_mask_overlap=False, mask_min_space=1, mask_channel_prob=0.0,
        mask_channel_selection="static", mask_channel_other=0.0, mask_channel_length=10,
        no_mask_channel_overlap=False, mask_channel_min_space=1, skip_masked=False, skip_nomask=False,
        num_classes=c.num_classes, final_dim=c.final_dim, feature_grad_mult=c.feature_grad_mult)


def check(name, a, b, atol, rtol=0.0):
    a, b = a.detach(), b.detach()
    assert a.shape == b.shape, f"{name}: shape {tuple(a.shape)} vs {tuple(b.shape)}"
    err = (a - b).abs().max().item() if a.numel() else 0.0
    ok = torch.allclose(a, b, atol=atol, rtol=rtol)
    print(f"  {name:70s} max|diff| {err:.3g}{'' if ok else '   FAIL'}")
    if not ok:
        raise SystemExit(f"check_against_torchaudio: {name} differs (max |diff| {err:.3g}, atol {atol})")
    return err


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    c = ref.ModelConfig(name="ta-check", layer_type="transformer", num_layers=3, d_model=32, ffn_dim=64,
                        num_heads=4, conv_layers=[[16, 10, 5], [16, 3, 2], [16, 2, 2]], pos_conv_kernel=8,
                        pos_conv_groups=4, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                        dropout_input=0.0, encoder_layerdrop=0.0, final_dim=16, num_classes=10)
    mine = ref.HubertRef(c)
    # Non-trivial norms and biases so that every parameter matters.
    with torch.no_grad():
        for n, p in mine.named_parameters():
            if n.endswith("bias") or "norm" in n:
                p.add_(0.1 * torch.randn_like(p))
    mine32 = ref.HubertRef(c)
    mine32.load_state_dict(mine.state_dict())
    mine.double()
    ta = torchaudio_twin(c).double()
    ta.load_state_dict(mine.state_dict(), strict=True)  # proves identical names and shapes
    assert [n for n, _ in ta.named_parameters()] == [n for n, _ in mine.named_parameters()]
    print(f"torchaudio hubert_pretrain_model and the reference share all {len(mine.state_dict())} state-dict names")

    B, L = 2, 1200
    wave = 0.3 * torch.randn(B, L, dtype=torch.float64)
    sample_lengths = [1200, 1000]
    wave[1, 1000:] = 0
    T = c.cnn_output_length(L)
    frame_mask = torch.zeros(B, T, dtype=torch.bool)
    frame_mask[0, 5:20] = True
    frame_mask[0, 40:50] = True
    frame_mask[1, 10:30] = True
    targets = torch.randint(0, c.num_classes, (B, T))

    # Forward, layer by layer, in eval mode (no dropout either way).
    mine.eval()
    ta.eval()
    out = mine(wave, sample_lengths, frame_mask)
    len_t = torch.tensor(sample_lengths)
    feats, flen = ta.wav2vec2.feature_extractor(wave, len_t)
    assert flen.tolist() == out["lengths"], (flen.tolist(), out["lengths"])
    check("CNN output (B, T, C)", out["cnn"], feats, 1e-12)
    x, attn_mask = ta.wav2vec2.encoder._preprocess(feats, flen)
    x[frame_mask] = ta.mask_generator.mask_embedding
    tr = ta.wav2vec2.encoder.transformer
    check("input of layer 1 (Transformer._preprocess)", out["hidden"][0], tr._preprocess(x), 1e-12)
    for i, h in enumerate(tr.get_intermediate_outputs(x, attention_mask=attn_mask)):
        check(f"output of layer {i + 1} (get_intermediate_outputs)", out["hidden"][i + 1], h, 1e-12)
    check("final output (Transformer.forward)", out["final"], tr(x, attention_mask=attn_mask), 1e-12)

    # Full pretraining step in train mode: HuBERTPretrainModel.forward with our fixed mask, loss, gradients.
    mine.train()
    ta.train()

    def fixed_mask(x, padding_mask):
        x = x.clone()
        x[frame_mask] = ta.mask_generator.mask_embedding.to(x.dtype)
        return x, frame_mask

    ta.mask_generator.forward = fixed_mask
    logit_m, _, pen_ta = ta(wave, targets, len_t)
    loss_ta = F.cross_entropy(logit_m, torch.zeros(logit_m.shape[0], dtype=torch.long)) + 10 * pen_ta
    out = mine(wave, sample_lengths, frame_mask)
    loss, logits = mine.pretrain_loss(out, frame_mask, targets)
    check("features_pen", out["features_pen"], pen_ta.double(), 0.0, 1e-6)
    # torchaudio logits: column 0 = target class, then every class with -inf at the target.
    m = frame_mask & ~out["padding"]
    tgt = targets[m]
    check("logits of the target class", logits[torch.arange(len(tgt)), tgt], logit_m[:, 0], 1e-5)
    neg = logit_m[:, 1:].clone()
    neg[torch.arange(len(tgt)), tgt] = logits[torch.arange(len(tgt)), tgt]
    check("logits of every class", logits, neg, 1e-5)
    check("loss", loss, loss_ta, 1e-6, 1e-6)
    loss.backward()
    loss_ta.backward()
    ta_params = dict(ta.named_parameters())
    for n, p in mine.named_parameters():
        scale = p.grad.abs().max().item()
        check(f"grad {n}", p.grad, ta_params[n].grad, 1e-12 + 1e-5 * scale)

    # The C++ (models/pending/hubert.cpp) takes features_pen before scale_grad: same loss, CNN gradients differ.
    mine.zero_grad()
    mine.pen_before_grad_mult = True
    out = mine(wave, sample_lengths, frame_mask)
    loss_cpp, _ = mine.pretrain_loss(out, frame_mask, targets)
    loss_cpp.backward()
    n = "wav2vec2.feature_extractor.conv_layers.0.conv.weight"
    g_cpp, g_ta = dict(mine.named_parameters())[n].grad, ta_params[n].grad
    rel = ((g_cpp - g_ta).norm() / g_ta.norm()).item()
    print(f"  features_pen before GradMultiply (as hubert.cpp does): loss equal ({loss_cpp.item():.6g}), "
          f"relative error of grad {n} vs torchaudio: {rel:.3g}")
    assert rel > 1e-3
    mine.pen_before_grad_mult = False

    # float32 reference gradients (guarded GELU) vs float64.
    mine.zero_grad()
    out = mine(wave, sample_lengths, frame_mask)
    mine.pretrain_loss(out, frame_mask, targets)[0].backward()
    out32 = mine32(wave.float(), sample_lengths, frame_mask)
    mine32.pretrain_loss(out32, frame_mask, targets)[0].backward()
    p64 = dict(mine.named_parameters())
    worst = max(((p.grad.double() - p64[n].grad).norm() / p64[n].grad.norm().clamp_min(1e-30)).item()
                for n, p in mine32.named_parameters() if not n.endswith("k_proj.bias"))
    print(f"  float32 reference gradients vs float64: worst relative L2 error {worst:.3g}")
    assert worst < 1e-3, worst
    print("check_against_torchaudio: OK (reference transformer == torchaudio HuBERT)")


if __name__ == "__main__":
    main()
