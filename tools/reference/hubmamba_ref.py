"""PyTorch 1.13 reference of the hubmamba HuBERT model family (models/*.h, models/pending/*.cpp; SPEC.md 2-5).

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchaudio). Every module below has the parameter
names and shapes of its C++ counterpart, so `state_dict()` of a reference model and `Module::state_dict()` of the
C++ model hold the same keys (torchaudio's hubert_pretrain_base names for the transformer type):

    wav2vec2.feature_extractor.conv_layers.{i}.conv.weight      (C_i, C_{i-1}, k_i)   no bias
    wav2vec2.feature_extractor.conv_layers.0.layer_norm.{weight,bias}   GroupNorm(C, C)
    wav2vec2.encoder.feature_projection.{layer_norm,projection}.{weight,bias}
    wav2vec2.encoder.transformer.pos_conv_embed.conv.{bias,weight_g,weight_v}
    wav2vec2.encoder.transformer.layer_norm.{weight,bias}
    wav2vec2.encoder.transformer.layers.{n}.<layer parameters, see the layer classes>
    mask_generator.mask_embedding                               (d,)
    logit_generator.label_embeddings                            (num_classes, final_dim)
    logit_generator.final_proj.{weight,bias}

Where the C++ deviates from the sources named in SPEC.md this file follows the source and says so at the line
(search for "C++ differs").

This file is only a reference for fixtures and baselines (tools/reference/make_model_fixtures.py,
tools/reference/param_counts.py, bench/pytorch_baseline.py); it is never a runtime dependency.
"""
import copy
import json
import math
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LAYER_TYPES = ("transformer", "conformer", "mamba", "extbimamba", "innbimamba", "conbimamba")


# ----------------------------------------------------------------------------------------------------------------
# Configuration: models/config.h ModelConfig, same JSON field names as ModelConfig::to_json / from_json.
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class ModelConfig:
    name: str = "custom"
    layer_type: str = "transformer"
    num_layers: int = 12
    d_model: int = 768
    ffn_dim: int = 3072
    num_heads: int = 12
    conv_layers: List[List[int]] = field(
        default_factory=lambda: [[512, 10, 5]] + [[512, 3, 2]] * 4 + [[512, 2, 2]] * 2)
    feature_grad_mult: float = 0.1
    pos_conv_kernel: int = 128
    pos_conv_groups: int = 16
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    dropout_input: float = 0.1
    encoder_layerdrop: float = 0.05
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    mamba_ffn: bool = False
    fairseq_reinit_dt_proj: bool = True
    faithful_padding: bool = False
    depthwise_kernel: int = 31
    final_dim: int = 256
    num_classes: int = 100
    logit_temp: float = 0.1
    label_rate: float = 100.0

    # Field order of ModelConfig::to_json (models/config.cpp).
    JSON_FIELDS = ("name", "layer_type", "num_layers", "d_model", "ffn_dim", "num_heads", "conv_layers",
                   "feature_grad_mult", "pos_conv_kernel", "pos_conv_groups", "dropout", "attention_dropout",
                   "activation_dropout", "dropout_input", "encoder_layerdrop", "d_state", "d_conv", "expand",
                   "mamba_ffn", "fairseq_reinit_dt_proj", "faithful_padding", "depthwise_kernel", "final_dim",
                   "num_classes", "logit_temp", "label_rate")
    FLOAT_FIELDS = ("feature_grad_mult", "dropout", "attention_dropout", "activation_dropout", "dropout_input",
                    "encoder_layerdrop", "logit_temp", "label_rate")

    def to_json(self) -> dict:
        out = {}
        for k in self.JSON_FIELDS:
            v = getattr(self, k)
            if k == "conv_layers":
                v = [[int(c), int(kk), int(s)] for c, kk, s in v]
            elif k in self.FLOAT_FIELDS:
                v = float(v)
            out[k] = v
        return out

    @staticmethod
    def from_json(j: dict) -> "ModelConfig":
        c = preset(j["base"]) if "base" in j else ModelConfig()
        for k, v in j.items():
            if k == "base":
                continue
            if k not in ModelConfig.JSON_FIELDS:
                raise ValueError(f"unknown field '{k}'")
            setattr(c, k, [list(x) for x in v] if k == "conv_layers" else v)
        c.validate()
        return c

    def validate(self):
        assert self.layer_type in LAYER_TYPES, self.layer_type
        assert self.d_model % self.num_heads == 0 and self.d_model % self.pos_conv_groups == 0
        assert self.pos_conv_kernel >= 2 and self.pos_conv_kernel % 2 == 0
        assert self.depthwise_kernel % 2 == 1

    def cnn_output_length(self, samples: int) -> int:
        # floor((L - k) / s) + 1 per layer, 0 when too short (ModelConfig::cnn_output_length).
        n = samples
        for _, k, s in self.conv_layers:
            if n < k:
                return 0
            n = (n - k) // s + 1
        return n

    def is_pre_ln(self) -> bool:
        # encoder_layers.cpp layer_norm_first(): the pre-LN stacks normalise after the last layer.
        return self.layer_type in ("mamba", "extbimamba", "innbimamba")


def preset_names() -> List[str]:
    return [f"{size}-{t}" for size in ("tiny", "base") for t in LAYER_TYPES]


def preset(name: str) -> ModelConfig:
    """models/config.cpp preset(): base = HuBERT Base geometry; tiny = 4 x d192 with a 128-channel CNN."""
    if name not in preset_names():
        raise ValueError(f"unknown model preset '{name}' (known: {', '.join(preset_names())})")
    size, layer_type = name.split("-", 1)
    c = ModelConfig(name=name, layer_type=layer_type)
    if size == "base":
        return c
    c.num_layers, c.d_model, c.ffn_dim, c.num_heads = 4, 192, 768, 4
    c.conv_layers = [[128, 10, 5]] + [[128, 3, 2]] * 4 + [[128, 2, 2]] * 2
    c.pos_conv_kernel, c.pos_conv_groups = 32, 16
    c.depthwise_kernel, c.final_dim, c.encoder_layerdrop = 15, 64, 0.0
    return c


# ----------------------------------------------------------------------------------------------------------------
# Padding helpers (models/pending/mamba.cpp zero_padding / flip_within_lengths).
# `lengths` is a list of valid frame counts, or None when the batch has no padding.
# ----------------------------------------------------------------------------------------------------------------
def padding_mask(lengths: Optional[List[int]], B: int, T: int, device=None) -> Optional[torch.Tensor]:
    """(B, T) bool, True = padded frame; None when there is no padding."""
    if lengths is None:
        return None
    t = torch.arange(T, device=device)[None, :]
    return t >= torch.tensor(lengths, device=device)[:, None]


def zero_padding(x: torch.Tensor, lengths: Optional[List[int]]) -> torch.Tensor:
    """Zero the frames t >= lengths[b] of x (B, L, C)."""
    if lengths is None:
        return x
    pad = padding_mask(lengths, x.shape[0], x.shape[1], x.device)
    if not bool(pad.any()):
        return x
    return x.masked_fill(pad[:, :, None], 0.0)


def flip_within_lengths(x: torch.Tensor, lengths: Optional[List[int]], faithful: bool) -> torch.Tensor:
    """Reverse each sequence of x (B, L, C) in time inside its valid length; padded frames stay in place.
    `faithful` (or no padding) = plain flip of the padded batch, as Mamba-in-Speech's Bimamba_outer does."""
    B, L, C = x.shape
    if faithful or lengths is None or all(n == L for n in lengths):
        return x.flip(1)
    idx = torch.empty(B, L, dtype=torch.long)
    for b, n in enumerate(lengths):
        idx[b, :n] = torch.arange(n - 1, -1, -1)
        idx[b, n:] = torch.arange(n, L)
    return x.gather(1, idx.to(x.device)[:, :, None].expand(B, L, C))


def gelu(x: torch.Tensor) -> torch.Tensor:
    """F.gelu (erf form) with contiguous input and incoming gradient. Debian's torch 1.13.1 computes a wrong
    float32 GELU backward when the gradient and the input have different memory layouts (e.g. the gradient of a
    transposed GELU output: errors of order 1e19 seen here; float64 and every other activation are fine), which the
    CNN output and the positional conv (both transposed after their GELU) would hit."""
    y = F.gelu(x.contiguous())
    if y.requires_grad:
        y.register_hook(lambda g: g.contiguous())
    return y


def dropout_if(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    return F.dropout(x, p, training) if (training and p > 0) else x


# ----------------------------------------------------------------------------------------------------------------
# Selective scan (SPEC.md 2): the explicit time loop of mamba_ssm's selective_scan_ref.
# ----------------------------------------------------------------------------------------------------------------
def selective_scan_ref(u, delta, A, Bm, Cm, D, z, delta_bias, delta_softplus=True):
    """u, delta, z (B, D, L); A (D, N); Bm, Cm (B, N, L); D, delta_bias (D,) -> (B, D, L).

        delta <- softplus(delta + delta_bias)        (F.softplus: x if x > 20 else log1p(exp(x)))
        h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t;  y_t = <h_t, C_t>
        out = (y + u D) * silu(z)
    """
    delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    Bsz, Dd, L = u.shape
    N = A.shape[1]
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))       # (B, D, L, N)
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", delta, Bm, u)        # (B, D, L, N)
    h = u.new_zeros(Bsz, Dd, N)                                       # (B, D, N)
    ys = []
    for t in range(L):
        h = deltaA[:, :, t] * h + deltaB_u[:, :, t]
        ys.append(torch.einsum("bdn,bn->bd", h, Cm[:, :, t]))
    y = torch.stack(ys, dim=2)                                        # (B, D, L)
    out = y + u * D[:, None]
    return out * F.silu(z)


# ----------------------------------------------------------------------------------------------------------------
# Mamba mixers (models/mamba.h).
# ----------------------------------------------------------------------------------------------------------------
class MambaScanBranch(nn.Module):
    """Per-direction part of a Mamba block: conv1d, x_proj, dt_proj, A_log, D (mamba_simple.py names)."""

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2):
        super().__init__()
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16)
        self.d_state, self.d_conv = d_state, d_conv
        di, R, N = self.d_inner, self.dt_rank, d_state
        # Depthwise causal conv: padding d_conv - 1 on both sides, the first L outputs kept (mamba_simple.py).
        self.conv1d = nn.Conv1d(di, di, d_conv, groups=di, padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(di, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, di, bias=True)
        # mamba_simple.py init: dt_proj.weight ~ U(+-R^-0.5); bias = inverse softplus of
        # dt = exp(U[log 1e-3, log 1e-1]) clamped >= 1e-4; A_log = log(n + 1); D = 1.
        nn.init.uniform_(self.dt_proj.weight, -R ** -0.5, R ** -0.5)
        dt = torch.exp(torch.rand(di) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(di, 1))
        self.D = nn.Parameter(torch.ones(di))

    def scan(self, x, z):
        """x, z (B, d_inner, L) -> (B, d_inner, L)."""
        L = x.shape[2]
        R, N = self.dt_rank, self.d_state
        xc = F.silu(self.conv1d(x)[..., :L])                              # (B, di, L)
        x_dbl = self.x_proj(xc.transpose(1, 2))                           # (B, L, R + 2N)
        dt, Bm, Cm = torch.split(x_dbl, [R, N, N], dim=-1)
        # delta = dt_proj.weight @ dt; dt_proj.bias enters the scan as delta_bias (mamba_simple.py).
        delta = (dt @ self.dt_proj.weight.t()).transpose(1, 2)           # (B, di, L)
        return selective_scan_ref(xc, delta, -torch.exp(self.A_log), Bm.transpose(1, 2), Cm.transpose(1, 2),
                                  self.D, z, self.dt_proj.bias, delta_softplus=True)

    def init_bert(self):
        bert_init_(self.x_proj)
        bert_init_(self.dt_proj)


class MambaBlock(MambaScanBranch):
    """state-spaces/mamba `Mamba`: in_proj -> conv/x_proj/dt_proj/scan -> out_proj, all names flat."""

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2):
        super().__init__(d_model, d_state, d_conv, expand)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def forward(self, h):                                                 # (B, L, d) -> (B, L, d)
        xz = self.in_proj(h)                                              # (B, L, 2 di)
        x, z = xz.chunk(2, dim=-1)
        y = self.scan(x.transpose(1, 2), z.transpose(1, 2))               # (B, di, L)
        return self.out_proj(y.transpose(1, 2))

    def init_bert(self, reinit_dt_proj=True):
        bert_init_(self.in_proj)
        bert_init_(self.x_proj)
        if reinit_dt_proj:
            bert_init_(self.dt_proj)
        bert_init_(self.out_proj)


class ExtBiMamba(nn.Module):
    """Mamba-in-Speech ExBimamba: out = output_proj(cat(f(x), flip(b(flip(x)))))."""

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2):
        super().__init__()
        self.mamba_fwd = MambaBlock(d_model, d_state, d_conv, expand)
        self.mamba_bwd = MambaBlock(d_model, d_state, d_conv, expand)
        self.output_proj = nn.Linear(2 * d_model, d_model, bias=True)

    def forward(self, x, lengths, faithful):
        if not faithful:
            x = zero_padding(x, lengths)
        f = self.mamba_fwd(x)
        b = flip_within_lengths(self.mamba_bwd(flip_within_lengths(x, lengths, faithful)), lengths, faithful)
        return self.output_proj(torch.cat([f, b], dim=-1))

    def init_bert(self, reinit_dt_proj=True):
        self.mamba_fwd.init_bert(reinit_dt_proj)
        self.mamba_bwd.init_bert(reinit_dt_proj)
        bert_init_(self.output_proj)


class InnBiMamba(nn.Module):
    """Vision Mamba "v2": shared in_proj/out_proj, per-direction branches `fwd` / `bwd`:
    y = out_proj(y_f + flip(y_b)) where the backward branch scans the flipped in_proj output (x and z)."""

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2):
        super().__init__()
        self.d_inner = expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.fwd = MambaScanBranch(d_model, d_state, d_conv, expand)
        self.bwd = MambaScanBranch(d_model, d_state, d_conv, expand)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def forward(self, x, lengths, faithful):
        if not faithful:
            x = zero_padding(x, lengths)
        xz = self.in_proj(x)                                              # (B, L, 2 di)
        xz_b = flip_within_lengths(xz, lengths, faithful)
        di = self.d_inner
        y_f = self.fwd.scan(xz[..., :di].transpose(1, 2), xz[..., di:].transpose(1, 2))        # (B, di, L)
        y_b = self.bwd.scan(xz_b[..., :di].transpose(1, 2), xz_b[..., di:].transpose(1, 2))    # (B, di, L)
        y = y_f.transpose(1, 2) + flip_within_lengths(y_b.transpose(1, 2), lengths, faithful)
        return self.out_proj(y)

    def init_bert(self, reinit_dt_proj=True):
        bert_init_(self.in_proj)
        bert_init_(self.out_proj)
        for br in (self.fwd, self.bwd):
            bert_init_(br.x_proj)
            if reinit_dt_proj:
                bert_init_(br.dt_proj)


def bert_init_(linear: nn.Linear):
    """fairseq init_bert_params on one Linear: weight ~ N(0, 0.02), bias 0."""
    with torch.no_grad():
        linear.weight.normal_(0.0, 0.02)
        if linear.bias is not None:
            linear.bias.zero_()


# ----------------------------------------------------------------------------------------------------------------
# Encoder layers (models/encoder_layers.h).
# ----------------------------------------------------------------------------------------------------------------
class SelfAttention(nn.Module):
    """torchaudio components.SelfAttention (same op order), key padding as fairseq's key_padding_mask."""

    def __init__(self, d, heads, attention_dropout):
        super().__init__()
        self.heads, self.attention_dropout = heads, attention_dropout
        self.head_dim = d // heads
        self.scaling = self.head_dim ** -0.5
        self.k_proj = nn.Linear(d, d, bias=True)
        self.v_proj = nn.Linear(d, d, bias=True)
        self.q_proj = nn.Linear(d, d, bias=True)
        self.out_proj = nn.Linear(d, d, bias=True)

    def forward(self, x, key_padding):                                    # (B, T, d); key_padding (B, T) bool
        B, T, d = x.shape
        shape = (B, T, self.heads, self.head_dim)
        q = self.q_proj(x).view(*shape).transpose(2, 1)                   # (B, H, T, Dh)
        k = self.k_proj(x).view(*shape).permute(0, 2, 3, 1)               # (B, H, Dh, T)
        v = self.v_proj(x).view(*shape).transpose(2, 1)                   # (B, H, T, Dh)
        w = (self.scaling * q) @ k                                        # (B, H, T, T)
        if key_padding is not None:
            w = w.masked_fill(key_padding[:, None, None, :], float("-inf"))
        w = w - w.max(dim=-1, keepdim=True)[0]
        w = dropout_if(torch.softmax(w, dim=-1), self.attention_dropout, self.training)
        o = (w @ v).transpose(2, 1).reshape(B, T, d)
        return self.out_proj(o)

    def init_bert(self):
        for l in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            bert_init_(l)


class FeedForward(nn.Module):
    """torchaudio FeedForward: intermediate_dense -> GELU (SiLU if swish) -> dropout -> output_dense -> dropout."""

    def __init__(self, d, ffn, swish, activation_dropout, dropout):
        super().__init__()
        self.swish, self.activation_dropout, self.dropout = swish, activation_dropout, dropout
        self.intermediate_dense = nn.Linear(d, ffn)
        self.output_dense = nn.Linear(ffn, d)

    def forward(self, x):
        h = self.intermediate_dense(x)
        h = F.silu(h) if self.swish else gelu(h)
        h = dropout_if(h, self.activation_dropout, self.training)
        return dropout_if(self.output_dense(h), self.dropout, self.training)

    def init_bert(self):
        bert_init_(self.intermediate_dense)
        bert_init_(self.output_dense)


class TransformerLayer(nn.Module):
    """fairseq post-LN layer: x = LN(x + Drop(MHSA(x))); x = final_LN(x + FFN(x)) (torchaudio EncoderLayer)."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.dropout = c.dropout
        self.attention = SelfAttention(c.d_model, c.num_heads, c.attention_dropout)
        self.layer_norm = nn.LayerNorm(c.d_model)
        self.feed_forward = FeedForward(c.d_model, c.ffn_dim, False, c.activation_dropout, c.dropout)
        self.final_layer_norm = nn.LayerNorm(c.d_model)
        self.attention.init_bert()
        self.feed_forward.init_bert()

    def forward(self, x, lengths, pad):
        h = self.layer_norm(x + dropout_if(self.attention(x, pad), self.dropout, self.training))
        return self.final_layer_norm(h + self.feed_forward(h))


class ConformerFFN(nn.Module):
    """fairseq conformer FeedForwardModule: LN -> Linear -> SiLU -> Drop -> Linear -> Drop (names: layer_norm,
    intermediate_dense, output_dense as in the C++ ConformerFFN, which registers its FeedForward under "")."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.dropout = c.dropout
        self.layer_norm = nn.LayerNorm(c.d_model)
        self.intermediate_dense = nn.Linear(c.d_model, c.ffn_dim)
        self.output_dense = nn.Linear(c.ffn_dim, c.d_model)
        bert_init_(self.intermediate_dense)
        bert_init_(self.output_dense)

    def forward(self, x):
        h = dropout_if(F.silu(self.intermediate_dense(self.layer_norm(x))), self.dropout, self.training)
        return dropout_if(self.output_dense(h), self.dropout, self.training)


class MaskedBatchNorm1d(nn.Module):
    """BatchNorm1d over (B, C, T) whose batch statistics exclude padded frames (pad (B, T) True = padded).
    Training: mean/var (biased) over the valid (b, t); every frame, padded ones included, is normalised with them;
    running_mean/var <- (1 - momentum) running + momentum * (mean, unbiased var n/(n-1)), num_batches_tracked += 1
    (torch.nn.BatchNorm1d semantics with n = number of valid frames). Eval: running statistics."""

    def __init__(self, channels, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x, pad=None):
        if self.training:
            self.num_batches_tracked += 1
            valid = torch.ones_like(x[:, :1, :]) if pad is None else (~pad).to(x.dtype)[:, None, :]  # (B, 1, T)
            n = valid.sum()
            mean = (x * valid).sum(dim=(0, 2)) / n                                                   # (C,)
            var = (((x - mean[None, :, None]) * valid) ** 2).sum(dim=(0, 2)) / n                    # (C,)
            with torch.no_grad():
                m = self.momentum
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var
        y = (x - mean[None, :, None]) * torch.rsqrt(var[None, :, None] + self.eps)
        return y * self.weight[None, :, None] + self.bias[None, :, None]


class ConvModule(nn.Module):
    """fairseq ConvolutionModule: LN -> pointwise d->2d (no bias) -> GLU -> depthwise k same pad (no bias) ->
    BatchNorm -> SiLU -> pointwise d->d (no bias) -> Drop. Pointwise convs are Linear on (B, T, C) (weight (out, in),
    the fairseq Conv1d weight without its trailing kernel dim). Padded frames are zeroed before the depthwise conv and
    excluded from the batch statistics (C++ design; fairseq leaves them in)."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        d, k = c.d_model, c.depthwise_kernel
        self.dropout = c.dropout
        self.layer_norm = nn.LayerNorm(d)
        self.pointwise_conv1 = nn.Linear(d, 2 * d, bias=False)
        self.depthwise_conv = nn.Conv1d(d, d, k, padding=(k - 1) // 2, groups=d, bias=False)
        self.batch_norm = MaskedBatchNorm1d(d)
        self.pointwise_conv2 = nn.Linear(d, d, bias=False)

    def forward(self, x, lengths, pad):
        h = F.glu(self.pointwise_conv1(self.layer_norm(x)), dim=-1)       # (B, T, d)
        h = zero_padding(h, lengths)
        hc = self.depthwise_conv(h.transpose(1, 2))                       # (B, d, T)
        hc = F.silu(self.batch_norm(hc, pad))
        return dropout_if(self.pointwise_conv2(hc.transpose(1, 2)), self.dropout, self.training)


class ConformerLayer(nn.Module):
    """fairseq ConformerEncoderLayer (macaron); conbimamba replaces the MHSA by ExtBiMamba (`mixer`):
    x += 0.5 FFN1(x); x += Drop(Mixer(LN(x))); x += Conv(x); x += 0.5 FFN2(x); x = LN(x)."""

    def __init__(self, c: ModelConfig, bimamba: bool):
        super().__init__()
        self.dropout, self.faithful_padding = c.dropout, c.faithful_padding
        self.ffn1 = ConformerFFN(c)
        self.self_attn_layer_norm = nn.LayerNorm(c.d_model)
        if bimamba:
            self.mixer = ExtBiMamba(c.d_model, c.d_state, c.d_conv, c.expand)
            self.mixer.init_bert(c.fairseq_reinit_dt_proj)
            self.self_attn = None
        else:
            self.self_attn = SelfAttention(c.d_model, c.num_heads, c.attention_dropout)
            self.self_attn.init_bert()
            self.mixer = None
        self.conv_module = ConvModule(c)
        self.ffn2 = ConformerFFN(c)
        self.final_layer_norm = nn.LayerNorm(c.d_model)

    def forward(self, x, lengths, pad):
        h = x + 0.5 * self.ffn1(x)
        n = self.self_attn_layer_norm(h)
        m = self.self_attn(n, pad) if self.self_attn is not None else self.mixer(n, lengths, self.faithful_padding)
        h = h + dropout_if(m, self.dropout, self.training)
        h = h + self.conv_module(h, lengths, pad)
        h = h + 0.5 * self.ffn2(h)
        return self.final_layer_norm(h)


class MambaLayer(nn.Module):
    """Pre-LN Mamba-family layer: x = x + Drop(Mixer(LN(x))) (+ x = x + FFN(LN(x)) when mamba_ffn)."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.type, self.dropout, self.faithful_padding = c.layer_type, c.dropout, c.faithful_padding
        self.norm = nn.LayerNorm(c.d_model)
        cls = {"mamba": MambaBlock, "extbimamba": ExtBiMamba, "innbimamba": InnBiMamba}[c.layer_type]
        self.mixer = cls(c.d_model, c.d_state, c.d_conv, c.expand)
        self.mixer.init_bert(c.fairseq_reinit_dt_proj)
        if c.mamba_ffn:
            self.ffn_norm = nn.LayerNorm(c.d_model)
            self.feed_forward = FeedForward(c.d_model, c.ffn_dim, False, c.activation_dropout, c.dropout)
            self.feed_forward.init_bert()
        else:
            self.ffn_norm = self.feed_forward = None

    def forward(self, x, lengths, pad):
        n = self.norm(x)
        if self.type == "mamba":
            m = self.mixer(n if self.faithful_padding else zero_padding(n, lengths))
        else:
            m = self.mixer(n, lengths, self.faithful_padding)
        h = x + dropout_if(m, self.dropout, self.training)
        if self.feed_forward is not None:
            h = h + self.feed_forward(self.ffn_norm(h))
        return h


def make_encoder_layer(c: ModelConfig) -> nn.Module:
    if c.layer_type == "transformer":
        return TransformerLayer(c)
    if c.layer_type in ("conformer", "conbimamba"):
        return ConformerLayer(c, bimamba=c.layer_type == "conbimamba")
    return MambaLayer(c)


# ----------------------------------------------------------------------------------------------------------------
# HuBERT model (models/hubert.h; torchaudio hubert_pretrain_base module tree and names).
# ----------------------------------------------------------------------------------------------------------------
class GradMultiply(torch.autograd.Function):
    """fairseq GradMultiply: identity forward, gradient scaled by `scale`."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


class ConvLayerBlock(nn.Module):
    def __init__(self, cin, cout, k, s, group_norm):
        super().__init__()
        self.layer_norm = nn.GroupNorm(cout, cout) if group_norm else None  # registered first, as torchaudio does
        self.conv = nn.Conv1d(cin, cout, k, stride=s, bias=False)
        nn.init.kaiming_normal_(self.conv.weight)  # fairseq ConvFeatureExtractionModel

    def forward(self, x):
        x = self.conv(x)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return gelu(x)


class FeatureExtractor(nn.Module):
    """CNN: conv (no bias) -> GroupNorm(C, C) on layer 0 only -> GELU per layer (fairseq default mode)."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        blocks, cin = [], 1
        for i, (ch, k, s) in enumerate(c.conv_layers):
            blocks.append(ConvLayerBlock(cin, ch, k, s, group_norm=(i == 0)))
            cin = ch
        self.conv_layers = nn.ModuleList(blocks)

    def forward(self, wave):                                              # (B, L) -> (B, C, T)
        x = wave.unsqueeze(1)
        for block in self.conv_layers:
            x = block(x)
        return x


class FeatureProjection(nn.Module):
    def __init__(self, cin, d):
        super().__init__()
        self.layer_norm = nn.LayerNorm(cin)
        self.projection = nn.Linear(cin, d)


class PositionalConv(nn.Module):
    """x -> GELU(SamePad(WeightNorm_dim2(Conv1d(d, d, k, pad k/2, groups)))) (the conv term only)."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        d, k = c.d_model, c.pos_conv_kernel
        conv = nn.Conv1d(d, d, k, padding=k // 2, groups=c.pos_conv_groups)
        # fairseq wav2vec2: std = sqrt(4 (1 - dropout) / (k d)), bias 0, then weight_norm(dim=2).
        nn.init.normal_(conv.weight, 0.0, math.sqrt(4.0 * (1.0 - c.dropout) / (k * d)))
        nn.init.constant_(conv.bias, 0.0)
        self.conv = nn.utils.weight_norm(conv, name="weight", dim=2)
        self.num_remove = 1 if k % 2 == 0 else 0

    def forward(self, x):                                                 # (B, T, d)
        y = self.conv(x.transpose(1, 2))
        if self.num_remove:
            y = y[..., :-self.num_remove]
        return gelu(y).transpose(1, 2)


class Transformer(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.pos_conv_embed = PositionalConv(c)
        self.layer_norm = nn.LayerNorm(c.d_model)
        self.layers = nn.ModuleList([make_encoder_layer(c) for _ in range(c.num_layers)])


class Encoder(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.feature_projection = FeatureProjection(c.conv_layers[-1][0], c.d_model)
        self.transformer = Transformer(c)


class Wav2Vec2(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.feature_extractor = FeatureExtractor(c)
        self.encoder = Encoder(c)


class MaskGenerator(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.mask_embedding = nn.Parameter(torch.rand(d))                # fairseq mask_emb.uniform_()


class LogitGenerator(nn.Module):
    def __init__(self, d, num_classes, final_dim):
        super().__init__()
        self.label_embeddings = nn.Parameter(torch.rand(num_classes, final_dim))  # label_embs_concat.uniform_()
        self.final_proj = nn.Linear(d, final_dim)


class HubertRef(nn.Module):
    """HubertModel (models/hubert.h). forward() returns a dict like HubertOutput:
    cnn (B, T, C), features_pen (), hidden [input of layer 1, output of layer i...] (B, T, d), final (B, T, d),
    lengths (valid frames per utterance, or None without padding), padding (B, T) bool or None."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.cfg = copy.deepcopy(cfg)
        self.pen_before_grad_mult = False
        self.wav2vec2 = Wav2Vec2(cfg)
        self.mask_generator = MaskGenerator(cfg.d_model)
        self.logit_generator = LogitGenerator(cfg.d_model, cfg.num_classes, cfg.final_dim)

    def forward(self, wave, sample_lengths=None, frame_mask=None, keep_hidden=True):
        cfg = self.cfg
        B, L = wave.shape
        w2v = self.wav2vec2
        cnn = w2v.feature_extractor(wave).transpose(1, 2)                # (B, T, C)
        T = cnn.shape[1]
        f = GradMultiply.apply(cnn, cfg.feature_grad_mult) if cfg.feature_grad_mult != 1.0 else cnn
        # fairseq hubert.py / torchaudio HuBERTPretrainModel: features_pen = features.float().pow(2).mean() on the
        # features *after* GradMultiply, so the penalty's gradient into the CNN is scaled by feature_grad_mult too.
        # C++ differs: hubert.cpp computes mean(cnn * cnn) before scale_grad (penalty gradient 1/feature_grad_mult
        # times too large). `pen_before_grad_mult = True` reproduces the C++ (check_against_torchaudio.py uses it to
        # show the difference); the fixtures use the fairseq behaviour.
        features_pen = (cnn if self.pen_before_grad_mult else f).pow(2).mean()
        proj = w2v.encoder.feature_projection
        x = dropout_if(proj.projection(proj.layer_norm(f)), cfg.dropout_input, self.training)  # (B, T, d)

        lengths = None
        if sample_lengths is not None and any(int(n) < L for n in sample_lengths):
            lengths = [min(T, cfg.cnn_output_length(int(n))) for n in sample_lengths]
            x = zero_padding(x, lengths)
        pad = padding_mask(lengths, B, T, wave.device)
        if frame_mask is not None:
            x = torch.where(frame_mask.bool()[:, :, None], self.mask_generator.mask_embedding.to(x.dtype), x)

        hidden, final = self.encode(x, lengths, keep_hidden)
        return {"cnn": cnn, "features_pen": features_pen, "hidden": hidden, "final": final,
                "lengths": lengths, "padding": pad}

    def encode(self, x, lengths, keep_hidden=True):
        """From the (masked) projected features x (B, T, d) to (hidden list, final): positional conv, encoder
        LayerNorm (before the layers for post-LN types, after them for the pre-LN Mamba stacks), layers."""
        cfg = self.cfg
        pad = padding_mask(lengths, x.shape[0], x.shape[1], x.device)
        tr = self.wav2vec2.encoder.transformer
        x = x + tr.pos_conv_embed(x)
        if not cfg.is_pre_ln():
            x = tr.layer_norm(x)
        x = dropout_if(x, cfg.dropout, self.training)
        hidden = [x] if keep_hidden else []
        for layer in tr.layers:
            drop = self.training and cfg.encoder_layerdrop > 0 and float(torch.rand(1)) < cfg.encoder_layerdrop
            if not drop:
                x = layer(x, lengths, pad)
            if keep_hidden:
                hidden.append(x)
        final = tr.layer_norm(x) if cfg.is_pre_ln() else x
        return hidden, final

    def logits(self, frames):
        """Cosine similarity of final_proj(frames) (N, final_dim) with every label embedding / logit_temp: (N, C)."""
        lg = self.logit_generator
        proj = lg.final_proj(frames)
        sim = torch.cosine_similarity(proj.unsqueeze(1), lg.label_embeddings.unsqueeze(0), dim=-1)
        return sim / self.cfg.logit_temp

    def pretrain_loss(self, out, frame_mask, targets, pen_weight=10.0):
        """fairseq hubert criterion with pred_masked_weight 1, pred_nomask_weight 0: mean cross-entropy over the
        masked, non-padded frames + pen_weight * features_pen. Returns (loss, logits of the masked frames)."""
        m = frame_mask.bool()
        if out["padding"] is not None:
            m = m & ~out["padding"]
        logits = self.logits(out["final"][m])
        loss = F.cross_entropy(logits, targets[m].long()) + pen_weight * out["features_pen"]
        return loss, logits


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------------------------------
# safetensors writer (8-byte LE header length + JSON header + raw little-endian data), as engine/safetensors.h reads.
# ----------------------------------------------------------------------------------------------------------------
_ST_DTYPES = {"float32": "F32", "float64": "F64", "int64": "I64", "int32": "I32", "uint8": "U8"}


def save_safetensors(path, tensors):
    """tensors: list of (name, numpy array) in the order to write."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors:
        a = np.asarray(arr, order="C")  # (np.ascontiguousarray would turn a 0-d array into shape (1,))
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        data = a.tobytes()
        header[name] = {"dtype": _ST_DTYPES[a.dtype.name], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    inv = {v: k for k, v in _ST_DTYPES.items()}
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[b:end], dtype=inv[e["dtype"]]).reshape(e["shape"]).copy()
    return out
