// The HuBERT model family (SPEC.md 5; fairseq HubertModel / torchaudio hubert_pretrain_base). Parameter names
// are torchaudio's: "wav2vec2.feature_extractor...", "wav2vec2.encoder.transformer.layers.N...",
// "mask_generator.mask_embedding", "logit_generator.final_proj.weight", "logit_generator.label_embeddings", so
// a torchaudio HuBERT state dict loads into `base-transformer`.
#pragma once
#include <memory>
#include <vector>

#include "models/config.h"
#include "models/encoder_layers.h"

namespace hm {

// CNN feature extractor: conv -> (GroupNorm on layer 0) -> GELU per layer, no bias (fairseq default mode).
class FeatureExtractor : public Module {
 public:
  FeatureExtractor(const ModelConfig& c, Generator& gen, DType dtype);
  Tensor forward(const Tensor& wave) const;  // (B, L) -> (B, C, T)
  std::vector<std::shared_ptr<Conv1d>> convs;
  std::shared_ptr<GroupNorm> norm0;
};

// Weight-normed grouped conv (k, groups) with SamePad and GELU: x += GELU(SamePad(conv(x))).
class PositionalConv : public Module {
 public:
  PositionalConv(const ModelConfig& c, Generator& gen, DType dtype);
  Tensor forward(const Tensor& x) const;  // (B, T, d) -> (B, T, d), the conv term only
  Tensor weight_g, weight_v, bias;        // (1, 1, k), (d, d/groups, k), (d,)
  int64_t kernel, groups;
};

struct HubertOutput {
  Tensor cnn;                    // (B, T, C) CNN output (before the feature LayerNorm)
  Tensor features_pen;           // scalar mean(cnn^2)
  std::vector<Tensor> hidden;    // hidden[0]: input of layer 1; hidden[i]: output of layer i (B, T, d)
  Tensor final;                  // encoder output (after the final LayerNorm for pre-LN stacks) (B, T, d)
  SequenceMask mask;             // frame lengths / padding of this batch
};

class HubertModel : public Module {
 public:
  HubertModel(const ModelConfig& cfg, uint64_t seed, DType dtype = DType::f32);
  // wave (B, L); sample_lengths (B,) or empty (all L); frame_mask (B, T) u8 (1 = replace by mask_emb) or
  // undefined; channel_mask (B, d) u8 (1 = zero that channel in every frame, fine-tuning) or undefined.
  // Layerdrop applies in training mode. keep_hidden: return every layer's output. feature_grad_mult == 0 runs
  // the CNN without recording gradients (fine-tuning freezes it).
  HubertOutput forward(const Tensor& wave, const std::vector<int64_t>& sample_lengths, const Tensor& frame_mask,
                       bool keep_hidden, const Tensor& channel_mask = Tensor()) const;
  // Cosine-similarity logits / logit_temp of the projected frames (N, d) against the label embeddings: (N, C).
  Tensor logits(const Tensor& frames) const;
  // Number of CNN frames for `samples` input samples.
  int64_t frames_for(int64_t samples) const { return cfg.cnn_output_length(samples); }

  ModelConfig cfg;
  std::shared_ptr<FeatureExtractor> feature_extractor;
  std::shared_ptr<LayerNorm> feature_layer_norm, encoder_layer_norm;
  std::shared_ptr<Linear> feature_projection, final_proj;
  std::shared_ptr<PositionalConv> pos_conv;
  std::vector<std::shared_ptr<EncoderLayer>> layers;
  Tensor mask_embedding;    // (d,)
  Tensor label_embeddings;  // (num_classes, final_dim)
  mutable Generator layerdrop_gen;  // layer-drop decisions (seeded with the model; part of the training state)
};

}  // namespace hm
