#include "models/config.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "engine/error.h"

namespace hm {

int64_t ModelConfig::cnn_stride() const {
  int64_t s = 1;
  for (const auto& l : conv_layers) s *= l.stride;
  return s;
}

int64_t ModelConfig::cnn_receptive_field() const {
  int64_t rf = 1, jump = 1;
  for (const auto& l : conv_layers) {
    rf += (l.kernel - 1) * jump;
    jump *= l.stride;
  }
  return rf;
}

int64_t ModelConfig::cnn_output_length(int64_t samples) const {
  int64_t n = samples;
  for (const auto& l : conv_layers) {
    if (n < l.kernel) return 0;
    n = (n - l.kernel) / l.stride + 1;
  }
  return n;
}

bool ModelConfig::is_mamba_family() const {
  return layer_type == "mamba" || layer_type == "extbimamba" || layer_type == "innbimamba" ||
         layer_type == "conbimamba";
}

Json ModelConfig::to_json() const {
  Json j = Json::object();
  j["name"] = name;
  j["layer_type"] = layer_type;
  j["num_layers"] = num_layers;
  j["d_model"] = d_model;
  j["ffn_dim"] = ffn_dim;
  j["num_heads"] = num_heads;
  Json conv = Json::array();
  for (const auto& l : conv_layers) conv.push_back(Json::array({Json(l.channels), Json(l.kernel), Json(l.stride)}));
  j["conv_layers"] = conv;
  j["feature_grad_mult"] = feature_grad_mult;
  j["pos_conv_kernel"] = pos_conv_kernel;
  j["pos_conv_groups"] = pos_conv_groups;
  j["dropout"] = dropout;
  j["attention_dropout"] = attention_dropout;
  j["activation_dropout"] = activation_dropout;
  j["dropout_input"] = dropout_input;
  j["encoder_layerdrop"] = encoder_layerdrop;
  j["d_state"] = d_state;
  j["d_conv"] = d_conv;
  j["expand"] = expand;
  j["mamba_ffn"] = mamba_ffn;
  j["fairseq_reinit_dt_proj"] = fairseq_reinit_dt_proj;
  j["faithful_padding"] = faithful_padding;
  j["depthwise_kernel"] = depthwise_kernel;
  j["final_dim"] = final_dim;
  j["num_classes"] = num_classes;
  j["logit_temp"] = logit_temp;
  j["label_rate"] = label_rate;
  return j;
}

ModelConfig ModelConfig::from_json(const Json& j, const std::string& source) {
  ModelConfig c;
  const std::set<std::string> known = {
      "name", "layer_type", "num_layers", "d_model", "ffn_dim", "num_heads", "conv_layers", "feature_grad_mult",
      "pos_conv_kernel", "pos_conv_groups", "dropout", "attention_dropout", "activation_dropout", "dropout_input",
      "encoder_layerdrop", "d_state", "d_conv", "expand", "mamba_ffn", "fairseq_reinit_dt_proj", "faithful_padding",
      "depthwise_kernel", "final_dim", "num_classes", "logit_temp", "label_rate", "base"};
  for (const auto& [k, v] : j.as_object(source))
    check(known.count(k), source, ": unknown field '", k, "'");
  if (j.contains("base")) c = preset(j.at("base").as_string(source + ".base"));  // start from a preset
  auto field = [&](const char* k) { return source + "." + k; };
  auto get_int = [&](const char* k, int64_t& dst) {
    if (j.contains(k)) dst = j.at(k).as_int(field(k));
  };
  auto get_num = [&](const char* k, double& dst) {
    if (j.contains(k)) dst = j.at(k).as_number(field(k));
  };
  auto get_bool = [&](const char* k, bool& dst) {
    if (j.contains(k)) dst = j.at(k).as_bool(field(k));
  };
  if (j.contains("name")) c.name = j.at("name").as_string(field("name"));
  if (j.contains("layer_type")) c.layer_type = j.at("layer_type").as_string(field("layer_type"));
  get_int("num_layers", c.num_layers);
  get_int("d_model", c.d_model);
  get_int("ffn_dim", c.ffn_dim);
  get_int("num_heads", c.num_heads);
  if (j.contains("conv_layers")) {
    c.conv_layers.clear();
    for (const Json& l : j.at("conv_layers").as_array(field("conv_layers"))) {
      check(l.size() == 3, field("conv_layers"), ": each layer is [channels, kernel, stride]");
      c.conv_layers.push_back({l[0].as_int(field("conv_layers")), l[1].as_int(field("conv_layers")),
                               l[2].as_int(field("conv_layers"))});
    }
  }
  get_num("feature_grad_mult", c.feature_grad_mult);
  get_int("pos_conv_kernel", c.pos_conv_kernel);
  get_int("pos_conv_groups", c.pos_conv_groups);
  get_num("dropout", c.dropout);
  get_num("attention_dropout", c.attention_dropout);
  get_num("activation_dropout", c.activation_dropout);
  get_num("dropout_input", c.dropout_input);
  get_num("encoder_layerdrop", c.encoder_layerdrop);
  get_int("d_state", c.d_state);
  get_int("d_conv", c.d_conv);
  get_int("expand", c.expand);
  get_bool("mamba_ffn", c.mamba_ffn);
  get_bool("fairseq_reinit_dt_proj", c.fairseq_reinit_dt_proj);
  get_bool("faithful_padding", c.faithful_padding);
  get_int("depthwise_kernel", c.depthwise_kernel);
  get_int("final_dim", c.final_dim);
  get_int("num_classes", c.num_classes);
  get_num("logit_temp", c.logit_temp);
  get_num("label_rate", c.label_rate);
  c.validate(source);
  return c;
}

void ModelConfig::validate(const std::string& source) const {
  const std::set<std::string> types = {"transformer", "conformer", "mamba", "extbimamba", "innbimamba", "conbimamba"};
  check(types.count(layer_type), source, ".layer_type: '", layer_type,
        "' is not one of transformer, conformer, mamba, extbimamba, innbimamba, conbimamba");
  check(num_layers >= 1, source, ".num_layers must be >= 1, got ", num_layers);
  check(d_model >= 1, source, ".d_model must be >= 1, got ", d_model);
  check(ffn_dim >= 1, source, ".ffn_dim must be >= 1, got ", ffn_dim);
  check(num_heads >= 1 && d_model % num_heads == 0, source, ".num_heads: ", num_heads, " does not divide d_model ",
        d_model);
  check(!conv_layers.empty(), source, ".conv_layers must not be empty");
  for (const auto& l : conv_layers)
    check(l.channels >= 1 && l.kernel >= 1 && l.stride >= 1, source, ".conv_layers: bad layer [", l.channels, ", ",
          l.kernel, ", ", l.stride, "]");
  check(pos_conv_kernel >= 2 && pos_conv_kernel % 2 == 0, source, ".pos_conv_kernel must be even and >= 2, got ",
        pos_conv_kernel);
  check(pos_conv_groups >= 1 && d_model % pos_conv_groups == 0, source, ".pos_conv_groups: ", pos_conv_groups,
        " does not divide d_model ", d_model);
  for (auto [name, p] : {std::pair{"dropout", dropout}, {"attention_dropout", attention_dropout},
                         {"activation_dropout", activation_dropout}, {"dropout_input", dropout_input},
                         {"encoder_layerdrop", encoder_layerdrop}})
    check(p >= 0 && p < 1, source, ".", name, " must be in [0, 1), got ", p);
  check(d_state >= 1 && d_conv >= 1 && expand >= 1, source, ": d_state, d_conv and expand must be >= 1");
  check(depthwise_kernel >= 1 && depthwise_kernel % 2 == 1, source, ".depthwise_kernel must be odd, got ",
        depthwise_kernel);
  check(final_dim >= 1 && num_classes >= 2, source, ": final_dim >= 1 and num_classes >= 2 required");
  check(logit_temp > 0, source, ".logit_temp must be positive");
  check(label_rate > 0, source, ".label_rate must be positive");
  check(16000.0 / double(cnn_stride()) > 0, source, ": bad CNN stride");
}

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  for (const char* size : {"tiny", "base"})
    for (const char* t : {"transformer", "conformer", "mamba", "extbimamba", "innbimamba", "conbimamba"})
      out.push_back(std::string(size) + "-" + t);
  return out;
}

ModelConfig preset(const std::string& name) {
  const auto names = preset_names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw Error(cat("unknown model preset '", name, "' (known: ", list, ")"));
  }
  ModelConfig c;
  c.name = name;
  const auto dash = name.find('-');
  const std::string size = name.substr(0, dash);
  c.layer_type = name.substr(dash + 1);
  if (size == "base") {
    // HuBERT Base for transformer; the Mamba family keeps width/depth (SPEC.md 3-5). Pure Mamba stacks have no
    // FFN (Mamba-in-Speech), conformer-style layers keep their macaron FFNs.
    return c;
  }
  // tiny: trainable on 2 CPU cores (DESIGN.md 9): a lighter CNN (128 channels, same strides -> 50 Hz) and
  // 4 layers of width 192.
  c.num_layers = 4;
  c.d_model = 192;
  c.ffn_dim = 768;
  c.num_heads = 4;
  c.conv_layers = {{128, 10, 5}, {128, 3, 2}, {128, 3, 2}, {128, 3, 2}, {128, 3, 2}, {128, 2, 2}, {128, 2, 2}};
  c.pos_conv_kernel = 32;
  c.pos_conv_groups = 16;
  c.depthwise_kernel = 15;
  c.final_dim = 64;
  c.encoder_layerdrop = 0.0;
  return c;
}

ModelConfig ModelConfig::load(const std::string& path_or_preset) {
  if (!std::filesystem::exists(path_or_preset)) {
    const auto names = preset_names();
    if (std::find(names.begin(), names.end(), path_or_preset) != names.end()) return preset(path_or_preset);
    check(path_or_preset.find(".json") == std::string::npos, path_or_preset, ": config file not found");
    return preset(path_or_preset);  // throws listing presets
  }
  return from_json(Json::parse_file(path_or_preset), path_or_preset);
}

}  // namespace hm
