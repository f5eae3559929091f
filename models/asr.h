// Speech recognisers built around the encoder layers of models/encoder_layers.h (SPEC.md 7):
//   * a downstream on a frozen pretrained upstream (SUPERB / ESPnet s3prl front end): the upstream's last layer or
//     a learned softmax-weighted sum of all its hidden states -> ESPnet "linear" input layer -> sinusoidal
//     positions -> a stack of Conformer (or ConBiMamba) layers -> linear CTC head;
//   * the ConBiMamba ASR trained from scratch (ESPnet): 80-d fbank -> global mean/variance normalisation ->
//     Conv2dSubsampling x4 -> sinusoidal positions -> ConBiMamba layers -> CTC head;
//   * either one optionally with an ESPnet Transformer attention decoder for hybrid CTC/attention training and
//     joint decoding (train/asr_decode.h).
// The upstream itself is not part of AsrModel: the trainer runs it without recording gradients (it is frozen),
// so AsrModel's parameters are exactly the trainable ones.
//
// Token conventions: the CTC vocabulary of train/vocab.h (blank = 0, '|', letters). The decoder shares it and uses
// id 0 as its <sos/eos> symbol, as ESPnet's token lists use one <sos/eos> id next to <blank>: the blank is never a
// decoder target, so one id can serve both without ambiguity, and the CTC prefix scorer reads id 0 as "end".
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/json.h"
#include "models/config.h"
#include "models/encoder_layers.h"

namespace hm {

struct AsrModelConfig {
  std::string name = "asr";
  std::string frontend = "fbank";          // fbank (Conv2dSubsampling) | upstream (linear input layer)
  std::string upstream_layers = "last";    // upstream front end: last | weighted
  int64_t input_dim = 80;                  // fbank bins, or the upstream's width
  int64_t upstream_hidden = 0;             // upstream, weighted: number of hidden states summed (layers + 1)
  int64_t subsample_channels = 0;          // Conv2dSubsampling channels (0 = d_model, as ESPnet)
  ModelConfig encoder;                     // layer_type, num_layers, d_model, ffn_dim, num_heads, dropouts, kernel
  int64_t decoder_layers = 0;              // 0 = CTC only
  int64_t decoder_heads = 4;
  int64_t decoder_ffn = 0;                 // 0 = encoder.ffn_dim
  int64_t vocab = 0;                       // CTC outputs (blank included); the decoder uses the same ids

  Json to_json() const;
  static AsrModelConfig from_json(const Json& j, const std::string& source);
  void validate(const std::string& source = "asr model config") const;
};

// (T, d) sinusoidal positional encoding (Vaswani et al. 2017; ESPnet PositionalEncoding):
//   pe[t, 2i] = sin(t / 10000^(2i/d)), pe[t, 2i+1] = cos(t / 10000^(2i/d)).
Tensor sinusoidal_positions(int64_t T, int64_t d, DType dtype = DType::f32);

// ESPnet Conv2dSubsampling: (B, T, F) -> Conv2d(1, C, 3, stride 2) -> ReLU -> Conv2d(C, C, 3, stride 2) -> ReLU
// -> (B, T', C * F') -> Linear(C * F', d), with T' = ((T - 1) / 2 - 1) / 2 and F' likewise. The positional
// encoding that ESPnet folds into the same module is applied by AsrModel.
class Conv2dSubsampling : public Module {
 public:
  Conv2dSubsampling(int64_t in_dim, int64_t channels, int64_t d, Generator& gen, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) const;  // (B, T, F) -> (B, T', d)
  // Frames after the two stride-2 3x3 convolutions: ((T - 1) / 2 - 1) / 2 (0 when T < 7).
  static int64_t output_length(int64_t T);
  Tensor w1, b1, w2, b2;  // (C, 1, 3, 3), (C,), (C, C, 3, 3), (C,)
  std::shared_ptr<Linear> out;
  int64_t in_dim, channels;
};

// s3prl Featurizer: softmax(w) weighted sum of the upstream's hidden states, w initialised to zeros (equal weights).
class LayerWeightedSum : public Module {
 public:
  LayerWeightedSum(int64_t num_hidden, DType dtype = DType::f32);
  Tensor forward(const std::vector<Tensor>& hidden) const;  // num_hidden x (B, T, d) -> (B, T, d)
  std::vector<double> normalized_weights() const;            // softmax(w)
  Tensor weights;                                             // (num_hidden,)
};

// Multi-head attention with separate query and key/value inputs (ESPnet MultiHeadedAttention names linear_q, ...):
// self-attention (query == key_value, optionally causal) and cross-attention (Tq != Tk) through the fused op.
class MultiHeadAttention : public Module {
 public:
  MultiHeadAttention(int64_t d, int64_t heads, double dropout, Generator& gen, DType dtype);
  // query (B, Tq, d), key_value (B, Tk, d), key_padding (B, Tk) u8 (1 = padded) or undefined -> (B, Tq, d).
  Tensor forward(const Tensor& query, const Tensor& key_value, const Tensor& key_padding, bool causal) const;
  std::shared_ptr<Linear> linear_q, linear_k, linear_v, linear_out;
  int64_t heads;
  double dropout;
};

// ESPnet TransformerDecoder (normalize_before = True, concat_after = False):
//   x = embed(y) * sqrt(d) + pe; per layer: x += Drop(SelfAttn_causal(LN(x))); x += Drop(SrcAttn(LN(x), memory));
//   x += Drop(FFN(LN(x))); then after_norm and output_layer -> logits over the vocabulary.
class TransformerDecoder : public Module {
 public:
  TransformerDecoder(int64_t vocab, int64_t d, int64_t heads, int64_t ffn, int64_t layers, double dropout,
                     Generator& gen, DType dtype = DType::f32);
  // tokens (B, U) int64 (<sos> first; rows may be right-padded with any valid id: they are causal, so valid positions
  // never see them), memory (B, T, d), memory_padding (B, T) u8 or undefined -> logits (B, U, vocab).
  Tensor forward(const Tensor& tokens, const Tensor& memory, const Tensor& memory_padding) const;
  Tensor embed;  // (vocab, d)
  std::vector<std::shared_ptr<class TransformerDecoderLayer>> layers;
  std::shared_ptr<LayerNorm> after_norm;
  std::shared_ptr<Linear> output_layer;
  int64_t vocab, d;
  double dropout;
};

struct AsrEncoded {
  Tensor out;                  // (B, T', d) encoder output
  SequenceMask mask;           // valid frames (lengths always filled) and padding (undefined without padding)
  std::vector<Tensor> hidden;  // keep_hidden: hidden[0] = input of layer 1, hidden[i] = output of layer i
};

class AsrModel : public Module {
 public:
  AsrModel(const AsrModelConfig& cfg, uint64_t seed, DType dtype = DType::f32);
  // inputs: fbank -> one (B, T, input_dim) tensor; upstream/last -> one (B, T, input_dim); upstream/weighted ->
  // upstream_hidden tensors (B, T, input_dim). lengths: valid input frames per row (empty = all T).
  AsrEncoded encode(const std::vector<Tensor>& inputs, const std::vector<int64_t>& lengths, bool keep_hidden) const;
  Tensor ctc_log_probs(const AsrEncoded& enc) const;                          // (B, T', vocab)
  Tensor decoder_logits(const Tensor& tokens, const AsrEncoded& enc) const;  // (B, U, vocab)
  // Encoder frames produced by `input_frames` frames of input.
  int64_t output_length(int64_t input_frames) const;
  bool has_decoder() const { return decoder != nullptr; }

  AsrModelConfig cfg;
  Tensor mvn_mean, mvn_std;  // fbank: global normalisation statistics (input_dim,), buffers set by the trainer
  std::shared_ptr<LayerWeightedSum> featurizer;
  std::shared_ptr<Conv2dSubsampling> subsample;
  std::shared_ptr<Linear> input_linear;
  std::shared_ptr<LayerNorm> input_norm;
  std::vector<std::shared_ptr<EncoderLayer>> layers;
  std::shared_ptr<Linear> ctc;
  std::shared_ptr<TransformerDecoder> decoder;
};

}  // namespace hm
