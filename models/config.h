// Model configuration: one JSON object describes a HuBERT-family model; presets {tiny,base}-{layer type}.
// Every field has the fairseq HuBERT Base default unless the preset says otherwise (SPEC.md 3-5).
#pragma once
#include <string>
#include <vector>

#include "engine/json.h"

namespace hm {

struct ConvLayerSpec {
  int64_t channels, kernel, stride;
};

struct ModelConfig {
  std::string name = "custom";
  // Encoder layer type: transformer | conformer | mamba | extbimamba | innbimamba | conbimamba.
  std::string layer_type = "transformer";
  int64_t num_layers = 12;
  int64_t d_model = 768;
  int64_t ffn_dim = 3072;
  int64_t num_heads = 12;
  // CNN feature extractor: fairseq conv_feature_layers "[(512,10,5)] + [(512,3,2)]*4 + [(512,2,2)]*2".
  std::vector<ConvLayerSpec> conv_layers = {{512, 10, 5}, {512, 3, 2}, {512, 3, 2}, {512, 3, 2},
                                            {512, 3, 2},  {512, 2, 2}, {512, 2, 2}};
  double feature_grad_mult = 0.1;
  // Positional convolution (fairseq conv_pos / conv_pos_groups).
  int64_t pos_conv_kernel = 128;
  int64_t pos_conv_groups = 16;
  // Dropouts (fairseq names).
  double dropout = 0.1, attention_dropout = 0.1, activation_dropout = 0.0, dropout_input = 0.1;
  double encoder_layerdrop = 0.05;
  // Mamba mixer (state-spaces/mamba defaults).
  int64_t d_state = 16, d_conv = 4, expand = 2;
  bool mamba_ffn = false;            // add an FFN block after the mixer in mamba/extbimamba/innbimamba layers
  bool fairseq_reinit_dt_proj = true;  // fairseq's init_bert_params re-initialises dt_proj (SPEC.md 3)
  bool faithful_padding = false;     // true: do not zero padded frames before bidirectional scans (original)
  // Conformer.
  int64_t depthwise_kernel = 31;
  // Pretraining head.
  int64_t final_dim = 256;
  int64_t num_classes = 100;  // k-means clusters of the current iteration
  double logit_temp = 0.1;
  double label_rate = 100.0;  // Hz of the target labels (100 for MFCC, 50 for hidden-unit labels)

  int64_t cnn_stride() const;           // product of strides (320 for HuBERT)
  int64_t cnn_receptive_field() const;  // 400 for HuBERT
  int64_t cnn_output_length(int64_t samples) const;  // floor((L - k) / s) + 1 per layer, 0 if too short
  bool is_mamba_family() const;

  Json to_json() const;
  // Unknown fields and bad values are errors naming `source` and the field.
  static ModelConfig from_json(const Json& j, const std::string& source = "config");
  static ModelConfig load(const std::string& path_or_preset);  // a preset name or a JSON file
  void validate(const std::string& source = "config") const;
};

std::vector<std::string> preset_names();
ModelConfig preset(const std::string& name);  // throws listing the known presets

}  // namespace hm
