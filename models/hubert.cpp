#include "models/hubert.h"

#include <cmath>

#include "engine/strided.h"
#include "ops/grad_scale.h"
#include "ops/ops.h"

namespace hm {

FeatureExtractor::FeatureExtractor(const ModelConfig& c, Generator& gen, DType dtype) {
  int64_t in = 1;
  for (size_t i = 0; i < c.conv_layers.size(); ++i) {
    const ConvLayerSpec& l = c.conv_layers[i];
    auto conv = std::make_shared<Conv1d>(in, l.channels, l.kernel, l.stride, 1, false, gen, dtype);
    init_kaiming_normal(conv->weight, gen);  // fairseq ConvFeatureExtractionModel
    convs.push_back(register_module("conv_layers." + std::to_string(i) + ".conv", conv));
    if (i == 0)  // default extractor mode: GroupNorm(C, C) after the first conv only (torchaudio calls it layer_norm)
      norm0 = register_module("conv_layers.0.layer_norm", std::make_shared<GroupNorm>(l.channels, l.channels, dtype));
    in = l.channels;
  }
}

Tensor FeatureExtractor::forward(const Tensor& wave) const {
  check(wave.dim() == 2, "feature extractor: expected a (B, L) waveform batch, got ", wave.shape());
  Tensor x = wave.unsqueeze(1);  // (B, 1, L)
  for (size_t i = 0; i < convs.size(); ++i) {
    x = convs[i]->forward(x);     // (B, C, T_i)
    if (i == 0) x = norm0->forward(x);
    x = gelu(x);
  }
  return x;  // (B, C, T)
}

PositionalConv::PositionalConv(const ModelConfig& c, Generator& gen, DType dtype)
    : kernel(c.pos_conv_kernel), groups(c.pos_conv_groups) {
  const int64_t d = c.d_model;
  // fairseq wav2vec2: std = sqrt(4 (1 - dropout) / (k d)); bias 0; then weight_norm(dim=2) so that
  // g[0, 0, k] = ||v[:, :, k]|| and the initial weight equals v.
  weight_v = empty({d, d / groups, kernel}, dtype);
  init_normal(weight_v, std::sqrt(4.0 * (1.0 - c.dropout) / double(kernel * d)), gen);
  {
    NoGradGuard ng;
    const std::vector<double> v = weight_v.to_vector<double>();
    std::vector<double> g(static_cast<size_t>(kernel), 0.0);
    for (size_t i = 0; i < v.size(); ++i) g[i % size_t(kernel)] += v[i] * v[i];
    for (double& x : g) x = std::sqrt(x);
    weight_g = from_vector(g, {1, 1, kernel}).to(dtype);
  }
  bias = zeros({d}, dtype);
  register_parameter("conv.bias", &bias);
  register_parameter("conv.weight_g", &weight_g);
  register_parameter("conv.weight_v", &weight_v);
}

Tensor PositionalConv::forward(const Tensor& x) const {
  Tensor w = weight_norm(weight_v, weight_g, 2);  // w = g * v / ||v|| over dims (0, 1)
  Conv1dParams p;
  p.padding_left = p.padding_right = kernel / 2;
  p.groups = groups;
  Tensor y = conv1d(x.transpose(1, 2).contiguous(), w, bias, p);  // (B, d, T + 1) for even k
  if (kernel % 2 == 0) y = y.narrow(2, 0, y.size(2) - 1);         // SamePad: drop the last frame
  return gelu(y).transpose(1, 2);                                 // (B, T, d)
}

HubertModel::HubertModel(const ModelConfig& c, uint64_t seed, DType dtype) : cfg(c), layerdrop_gen(seed ^ 0x5eedULL) {
  cfg.validate();
  Generator gen(seed);
  const int64_t C = c.conv_layers.back().channels, d = c.d_model;
  feature_extractor = register_module("wav2vec2.feature_extractor", std::make_shared<FeatureExtractor>(c, gen, dtype));
  feature_layer_norm = register_module("wav2vec2.encoder.feature_projection.layer_norm",
                                       std::make_shared<LayerNorm>(C, dtype));
  feature_projection = register_module("wav2vec2.encoder.feature_projection.projection",
                                       std::make_shared<Linear>(C, d, true, gen, dtype));
  pos_conv = register_module("wav2vec2.encoder.transformer.pos_conv_embed", std::make_shared<PositionalConv>(c, gen, dtype));
  encoder_layer_norm = register_module("wav2vec2.encoder.transformer.layer_norm", std::make_shared<LayerNorm>(d, dtype));
  for (int64_t i = 0; i < c.num_layers; ++i)
    layers.push_back(register_module("wav2vec2.encoder.transformer.layers." + std::to_string(i),
                                     make_encoder_layer(c, gen, dtype)));
  // fairseq: mask_emb.uniform_() and label_embs_concat.uniform_() (U[0, 1)).
  mask_embedding = uniform({d}, 0.0, 1.0, dtype, gen);
  register_parameter("mask_generator.mask_embedding", &mask_embedding);
  label_embeddings = uniform({c.num_classes, c.final_dim}, 0.0, 1.0, dtype, gen);
  register_parameter("logit_generator.label_embeddings", &label_embeddings);
  final_proj = register_module("logit_generator.final_proj", std::make_shared<Linear>(d, c.final_dim, true, gen, dtype));
}

HubertOutput HubertModel::forward(const Tensor& wave, const std::vector<int64_t>& sample_lengths,
                                  const Tensor& frame_mask, bool keep_hidden, const Tensor& channel_mask) const {
  HubertOutput out;
  check(wave.dim() == 2, "HubertModel: expected a (B, L) waveform batch, got shape ", wave.shape());
  const int64_t B = wave.size(0), L = wave.size(1);
  check(cfg.cnn_output_length(L) > 0, "HubertModel: ", L, " samples is shorter than the CNN receptive field of ",
        cfg.cnn_receptive_field(), " samples");
  check(sample_lengths.empty() || int64_t(sample_lengths.size()) == B, "HubertModel: ", sample_lengths.size(),
        " lengths for a batch of ", B);
  Tensor cnn;  // (B, T, C)
  if (cfg.feature_grad_mult == 0.0) {
    NoGradGuard frozen;
    cnn = feature_extractor->forward(wave).transpose(1, 2).contiguous();
  } else {
    cnn = feature_extractor->forward(wave).transpose(1, 2).contiguous();
  }
  const int64_t T = cnn.size(1);
  out.cnn = cnn;
  Tensor f = (cfg.feature_grad_mult != 1.0 && cfg.feature_grad_mult != 0.0) ? scale_grad(cnn, cfg.feature_grad_mult) : cnn;
  // fairseq hubert.py: features_pen = features.float().pow(2).mean(), taken after GradMultiply, so the penalty's
  // gradient into the CNN is scaled by feature_grad_mult as well.
  out.features_pen = mean(mul(f, f));
  f = feature_layer_norm->forward(f);
  Tensor x = dropout_if(feature_projection->forward(f), cfg.dropout_input, is_training());  // (B, T, d)

  // Frame-level padding from sample lengths (padded samples produce padded frames).
  bool padded = false;
  for (int64_t len : sample_lengths) {
    check(len >= 0 && len <= L, "HubertModel: sample length ", len, " outside [0, ", L, "]");
    padded = padded || len < L;
  }
  if (padded) {
    std::vector<uint8_t> pad(static_cast<size_t>(B * T), 0);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t valid = std::min(T, cfg.cnn_output_length(sample_lengths[size_t(b)]));
      out.mask.lengths.push_back(valid);
      for (int64_t t = valid; t < T; ++t) pad[size_t(b * T + t)] = 1;
    }
    out.mask.padding = from_vector(pad, {B, T}).to(wave.device());
    x = zero_padding(x, out.mask.lengths);
  }
  if (frame_mask.defined()) {
    check(frame_mask.shape() == Shape({B, T}), "HubertModel: frame mask of shape ", frame_mask.shape(),
          " for ", T, " frames of a batch of ", B);
    x = where(frame_mask.to(x.device()).unsqueeze(2), mask_embedding, x);  // masked frames take the learned mask embedding
  }
  if (channel_mask.defined()) {
    check(channel_mask.shape() == Shape({B, cfg.d_model}), "HubertModel: channel mask of shape ", channel_mask.shape(),
          " for a batch of ", B, " x ", cfg.d_model);
    x = masked_fill(x, channel_mask.to(x.device()).unsqueeze(1), 0.0);  // fairseq apply_mask: x[mask_channel_indices] = 0
  }
  x = add(x, pos_conv->forward(x));
  if (!layer_norm_first(cfg)) x = encoder_layer_norm->forward(x);
  x = dropout_if(x, cfg.dropout, is_training());
  if (keep_hidden) out.hidden.push_back(x);
  for (const auto& layer : layers) {
    const bool drop = is_training() && cfg.encoder_layerdrop > 0 && layerdrop_gen.next_double() < cfg.encoder_layerdrop;
    if (!drop) x = layer->forward(x, out.mask);
    if (keep_hidden) out.hidden.push_back(x);
  }
  out.final = layer_norm_first(cfg) ? encoder_layer_norm->forward(x) : x;
  return out;
}

Tensor HubertModel::logits(const Tensor& frames) const {
  Tensor proj = final_proj->forward(frames);  // (N, final_dim)
  Tensor sim = cosine_similarity(proj.unsqueeze(1), label_embeddings.unsqueeze(0), -1);  // (N, C)
  return div(sim, cfg.logit_temp);
}

}  // namespace hm
