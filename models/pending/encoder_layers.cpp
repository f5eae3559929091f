#include "models/encoder_layers.h"

#include "ops/ops.h"

namespace hm {

SelfAttention::SelfAttention(int64_t d, int64_t heads_, double attention_dropout_, Generator& gen, DType dtype)
    : heads(heads_), attention_dropout(attention_dropout_) {
  k_proj = register_module("k_proj", std::make_shared<Linear>(d, d, true, gen, dtype));
  v_proj = register_module("v_proj", std::make_shared<Linear>(d, d, true, gen, dtype));
  q_proj = register_module("q_proj", std::make_shared<Linear>(d, d, true, gen, dtype));
  out_proj = register_module("out_proj", std::make_shared<Linear>(d, d, true, gen, dtype));
}

void SelfAttention::init_bert(Generator& gen) {
  for (auto& l : {q_proj, k_proj, v_proj, out_proj}) l->init_bert(gen);
}

Tensor SelfAttention::forward(const Tensor& x, const Tensor& key_padding) const {
  const int64_t B = x.size(0), T = x.size(1), d = x.size(2), Dh = d / heads;
  auto split_heads = [&](const Tensor& t) {  // (B, T, d) -> (B, H, T, Dh)
    return t.reshape({B, T, heads, Dh}).permute({0, 2, 1, 3}).contiguous();
  };
  Tensor q = split_heads(q_proj->forward(x)), k = split_heads(k_proj->forward(x)), v = split_heads(v_proj->forward(x));
  // softmax(q k^T / sqrt(Dh) + mask) v, dropout on the probabilities (fused op, ops/attention.cpp).
  Tensor o = attention(q, k, v, key_padding, false, attention_dropout, is_training());  // (B, H, T, Dh)
  return out_proj->forward(o.permute({0, 2, 1, 3}).reshape({B, T, d}));
}

FeedForward::FeedForward(int64_t d, int64_t ffn, bool swish_, double activation_dropout_, double dropout_,
                         Generator& gen, DType dtype)
    : swish(swish_), activation_dropout(activation_dropout_), dropout(dropout_) {
  intermediate_dense = register_module("intermediate_dense", std::make_shared<Linear>(d, ffn, true, gen, dtype));
  output_dense = register_module("output_dense", std::make_shared<Linear>(ffn, d, true, gen, dtype));
}

void FeedForward::init_bert(Generator& gen) {
  intermediate_dense->init_bert(gen);
  output_dense->init_bert(gen);
}

Tensor FeedForward::forward(const Tensor& x) const {
  Tensor h = intermediate_dense->forward(x);
  h = swish ? silu(h) : gelu(h);
  h = dropout_if(h, activation_dropout, is_training());
  return dropout_if(output_dense->forward(h), dropout, is_training());
}

namespace {

// fairseq post-LN HuBERT layer (torchaudio EncoderLayer with layer_norm_first = False):
//   x = LN(x + Drop(MHSA(x))); x = final_LN(x + FFN(x)).
class TransformerLayer : public EncoderLayer {
 public:
  TransformerLayer(const ModelConfig& c, Generator& gen, DType dtype) : dropout(c.dropout) {
    attention = register_module("attention", std::make_shared<SelfAttention>(c.d_model, c.num_heads,
                                                                              c.attention_dropout, gen, dtype));
    layer_norm = register_module("layer_norm", std::make_shared<LayerNorm>(c.d_model, dtype));
    feed_forward = register_module("feed_forward", std::make_shared<FeedForward>(c.d_model, c.ffn_dim, false,
                                                                                 c.activation_dropout, c.dropout,
                                                                                 gen, dtype));
    final_layer_norm = register_module("final_layer_norm", std::make_shared<LayerNorm>(c.d_model, dtype));
    attention->init_bert(gen);
    feed_forward->init_bert(gen);
  }
  Tensor forward(const Tensor& x, const SequenceMask& mask) const override {
    Tensor h = add(x, dropout_if(attention->forward(x, mask.padding), dropout, is_training()));
    h = layer_norm->forward(h);
    return final_layer_norm->forward(add(h, feed_forward->forward(h)));
  }
  std::shared_ptr<SelfAttention> attention;
  std::shared_ptr<LayerNorm> layer_norm, final_layer_norm;
  std::shared_ptr<FeedForward> feed_forward;
  double dropout;
};

// Conformer macaron FFN: LN -> Linear(d, ffn) -> SiLU -> Drop -> Linear(ffn, d) -> Drop.
class ConformerFFN : public Module {
 public:
  ConformerFFN(const ModelConfig& c, Generator& gen, DType dtype) {
    layer_norm = register_module("layer_norm", std::make_shared<LayerNorm>(c.d_model, dtype));
    ffn = register_module("", std::make_shared<FeedForward>(c.d_model, c.ffn_dim, true, c.dropout, c.dropout, gen,
                                                            dtype));
    ffn->init_bert(gen);
  }
  Tensor forward(const Tensor& x) const { return ffn->forward(layer_norm->forward(x)); }
  std::shared_ptr<LayerNorm> layer_norm;
  std::shared_ptr<FeedForward> ffn;
};

// fairseq ConvolutionModule: LN -> pointwise conv d->2d (no bias) -> GLU -> depthwise conv k (same pad, no bias)
// -> BatchNorm -> SiLU -> pointwise conv d->d (no bias) -> Drop. Pointwise convs are Linear layers on (B, T, C).
class ConvModule : public Module {
 public:
  ConvModule(const ModelConfig& c, Generator& gen, DType dtype) : dropout(c.dropout), kernel(c.depthwise_kernel) {
    layer_norm = register_module("layer_norm", std::make_shared<LayerNorm>(c.d_model, dtype));
    pointwise_conv1 = register_module("pointwise_conv1", std::make_shared<Linear>(c.d_model, 2 * c.d_model, false,
                                                                                  gen, dtype));
    depthwise_conv = register_module("depthwise_conv", std::make_shared<Conv1d>(c.d_model, c.d_model, kernel, 1,
                                                                                c.d_model, false, gen, dtype));
    batch_norm = register_module("batch_norm", std::make_shared<BatchNorm1d>(c.d_model, dtype));
    pointwise_conv2 = register_module("pointwise_conv2", std::make_shared<Linear>(c.d_model, c.d_model, false,
                                                                                  gen, dtype));
  }
  Tensor forward(const Tensor& x, const SequenceMask& mask) const {
    Tensor h = glu(pointwise_conv1->forward(layer_norm->forward(x)), -1);  // (B, T, d)
    h = zero_padding(h, mask.lengths);  // padded frames must not leak into valid ones through the conv
    Tensor hc = h.transpose(1, 2).contiguous();                           // (B, d, T)
    hc = depthwise_conv->forward(hc, (kernel - 1) / 2, (kernel - 1) / 2);
    hc = silu(batch_norm->forward(hc, mask.padding));
    return dropout_if(pointwise_conv2->forward(hc.transpose(1, 2)), dropout, is_training());
  }
  std::shared_ptr<LayerNorm> layer_norm;
  std::shared_ptr<Linear> pointwise_conv1, pointwise_conv2;
  std::shared_ptr<Conv1d> depthwise_conv;
  std::shared_ptr<BatchNorm1d> batch_norm;
  double dropout;
  int64_t kernel;
};

// fairseq ConformerEncoderLayer (macaron), with the self-attention replaced by ExtBiMamba for conbimamba:
//   x += 0.5 FFN1(x); x += Drop(Mixer(LN(x))); x += Conv(x); x += 0.5 FFN2(x); x = LN(x).
class ConformerLayer : public EncoderLayer {
 public:
  ConformerLayer(const ModelConfig& c, bool bimamba, Generator& gen, DType dtype)
      : dropout(c.dropout), faithful_padding(c.faithful_padding) {
    ffn1 = register_module("ffn1", std::make_shared<ConformerFFN>(c, gen, dtype));
    self_attn_layer_norm = register_module("self_attn_layer_norm", std::make_shared<LayerNorm>(c.d_model, dtype));
    if (bimamba) {
      mixer = register_module("mixer", std::make_shared<ExtBiMamba>(
                                           MambaDims{c.d_model, c.d_state, c.d_conv, c.expand}, gen, dtype));
      mixer->init_bert(gen, c.fairseq_reinit_dt_proj);
    } else {
      self_attn = register_module("self_attn", std::make_shared<SelfAttention>(c.d_model, c.num_heads,
                                                                              c.attention_dropout, gen, dtype));
      self_attn->init_bert(gen);
    }
    conv_module = register_module("conv_module", std::make_shared<ConvModule>(c, gen, dtype));
    ffn2 = register_module("ffn2", std::make_shared<ConformerFFN>(c, gen, dtype));
    final_layer_norm = register_module("final_layer_norm", std::make_shared<LayerNorm>(c.d_model, dtype));
  }
  Tensor forward(const Tensor& x, const SequenceMask& mask) const override {
    Tensor h = add(x, mul(ffn1->forward(x), 0.5));
    Tensor n = self_attn_layer_norm->forward(h);
    Tensor m = self_attn ? self_attn->forward(n, mask.padding) : mixer->forward(n, mask.lengths, faithful_padding);
    h = add(h, dropout_if(m, dropout, is_training()));
    h = add(h, conv_module->forward(h, mask));
    h = add(h, mul(ffn2->forward(h), 0.5));
    return final_layer_norm->forward(h);
  }
  std::shared_ptr<ConformerFFN> ffn1, ffn2;
  std::shared_ptr<LayerNorm> self_attn_layer_norm, final_layer_norm;
  std::shared_ptr<SelfAttention> self_attn;
  std::shared_ptr<ExtBiMamba> mixer;
  std::shared_ptr<ConvModule> conv_module;
  double dropout;
  bool faithful_padding;
};

// Pre-LN Mamba-family layer: x = x + Drop(Mixer(LN(x))) (+ x = x + FFN(LN(x)) when mamba_ffn).
class MambaLayer : public EncoderLayer {
 public:
  MambaLayer(const ModelConfig& c, Generator& gen, DType dtype)
      : type(c.layer_type), dropout(c.dropout), faithful_padding(c.faithful_padding) {
    const MambaDims dims{c.d_model, c.d_state, c.d_conv, c.expand};
    norm = register_module("norm", std::make_shared<LayerNorm>(c.d_model, dtype));
    if (type == "mamba") {
      uni = register_module("mixer", std::make_shared<MambaBlock>(dims, gen, dtype));
      uni->init_bert(gen, c.fairseq_reinit_dt_proj);
    } else if (type == "extbimamba") {
      ext = register_module("mixer", std::make_shared<ExtBiMamba>(dims, gen, dtype));
      ext->init_bert(gen, c.fairseq_reinit_dt_proj);
    } else {
      inn = register_module("mixer", std::make_shared<InnBiMamba>(dims, gen, dtype));
      inn->init_bert(gen, c.fairseq_reinit_dt_proj);
    }
    if (c.mamba_ffn) {
      ffn_norm = register_module("ffn_norm", std::make_shared<LayerNorm>(c.d_model, dtype));
      ffn = register_module("feed_forward", std::make_shared<FeedForward>(c.d_model, c.ffn_dim, false,
                                                                          c.activation_dropout, c.dropout, gen,
                                                                          dtype));
      ffn->init_bert(gen);
    }
  }
  Tensor forward(const Tensor& x, const SequenceMask& mask) const override {
    Tensor n = norm->forward(x);
    Tensor m = uni ? uni->forward(faithful_padding ? n : zero_padding(n, mask.lengths))
               : ext ? ext->forward(n, mask.lengths, faithful_padding)
                     : inn->forward(n, mask.lengths, faithful_padding);
    Tensor h = add(x, dropout_if(m, dropout, is_training()));
    if (ffn) h = add(h, ffn->forward(ffn_norm->forward(h)));
    return h;
  }
  std::string type;
  std::shared_ptr<LayerNorm> norm, ffn_norm;
  std::shared_ptr<MambaBlock> uni;
  std::shared_ptr<ExtBiMamba> ext;
  std::shared_ptr<InnBiMamba> inn;
  std::shared_ptr<FeedForward> ffn;
  double dropout;
  bool faithful_padding;
};

}  // namespace

bool layer_norm_first(const ModelConfig& cfg) {
  return cfg.layer_type == "mamba" || cfg.layer_type == "extbimamba" || cfg.layer_type == "innbimamba";
}

std::shared_ptr<EncoderLayer> make_encoder_layer(const ModelConfig& c, Generator& gen, DType dtype) {
  if (c.layer_type == "transformer") return std::make_shared<TransformerLayer>(c, gen, dtype);
  if (c.layer_type == "conformer") return std::make_shared<ConformerLayer>(c, false, gen, dtype);
  if (c.layer_type == "conbimamba") return std::make_shared<ConformerLayer>(c, true, gen, dtype);
  if (c.layer_type == "mamba" || c.layer_type == "extbimamba" || c.layer_type == "innbimamba")
    return std::make_shared<MambaLayer>(c, gen, dtype);
  throw Error(cat("unknown encoder layer type '", c.layer_type, "'"));
}

}  // namespace hm
