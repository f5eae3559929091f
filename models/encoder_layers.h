// Encoder layer types (SPEC.md 4). Every type implements EncoderLayer, so an encoder is a list of layers of one
// type and a new type is one class + one line in make_encoder_layer().
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/config.h"
#include "models/layers.h"
#include "models/mamba.h"

namespace hm {

// What a layer needs besides its input: valid lengths (empty = no padding) and the matching key-padding mask
// (B, T) u8 (1 = padded; undefined when there is no padding).
struct SequenceMask {
  std::vector<int64_t> lengths;
  Tensor padding;  // (B, T) u8
};

class EncoderLayer : public Module {
 public:
  virtual Tensor forward(const Tensor& x, const SequenceMask& mask) const = 0;  // (B, T, d) -> (B, T, d)
};

// fairseq/torchaudio multi-head self-attention with q/k/v/out projections (torchaudio names).
class SelfAttention : public Module {
 public:
  SelfAttention(int64_t d, int64_t heads, double attention_dropout, Generator& gen, DType dtype);
  Tensor forward(const Tensor& x, const Tensor& key_padding) const;
  void init_bert(Generator& gen);
  std::shared_ptr<Linear> q_proj, k_proj, v_proj, out_proj;
  int64_t heads;
  double attention_dropout;
};

// torchaudio FeedForward: intermediate_dense -> activation -> dropout -> output_dense -> dropout.
class FeedForward : public Module {
 public:
  FeedForward(int64_t d, int64_t ffn, bool swish, double activation_dropout, double dropout, Generator& gen,
              DType dtype);
  Tensor forward(const Tensor& x) const;
  void init_bert(Generator& gen);
  std::shared_ptr<Linear> intermediate_dense, output_dense;
  bool swish;
  double activation_dropout, dropout;
};

std::shared_ptr<EncoderLayer> make_encoder_layer(const ModelConfig& cfg, Generator& gen, DType dtype);
// Pre-LN stacks (mamba, extbimamba, innbimamba) normalise after the last layer; post-LN stacks (transformer,
// conformer, conbimamba) normalise the input of the first layer (fairseq layer_norm_first).
bool layer_norm_first(const ModelConfig& cfg);

}  // namespace hm
