#include "models/asr.h"

#include <cmath>
#include <set>

#include "ops/ops.h"

namespace hm {

// ---- configuration ----------------------------------------------------------------------------------------------

Json AsrModelConfig::to_json() const {
  Json j = Json::object();
  j["name"] = name;
  j["frontend"] = frontend;
  j["upstream_layers"] = upstream_layers;
  j["input_dim"] = input_dim;
  j["upstream_hidden"] = upstream_hidden;
  j["subsample_channels"] = subsample_channels;
  j["encoder"] = encoder.to_json();
  j["decoder_layers"] = decoder_layers;
  j["decoder_heads"] = decoder_heads;
  j["decoder_ffn"] = decoder_ffn;
  j["vocab"] = vocab;
  return j;
}

AsrModelConfig AsrModelConfig::from_json(const Json& j, const std::string& source) {
  const std::set<std::string> known = {"name",    "frontend",       "upstream_layers", "input_dim",
                                       "upstream_hidden", "subsample_channels", "encoder", "decoder_layers",
                                       "decoder_heads", "decoder_ffn", "vocab"};
  for (const auto& [k, v] : j.as_object(source)) check(known.count(k), source, ": unknown field '", k, "'");
  AsrModelConfig c;
  auto f = [&](const char* k) { return source + "." + k; };
  if (j.contains("name")) c.name = j.at("name").as_string(f("name"));
  if (j.contains("frontend")) c.frontend = j.at("frontend").as_string(f("frontend"));
  if (j.contains("upstream_layers")) c.upstream_layers = j.at("upstream_layers").as_string(f("upstream_layers"));
  for (auto [k, dst] : {std::pair{"input_dim", &c.input_dim}, {"upstream_hidden", &c.upstream_hidden},
                        {"subsample_channels", &c.subsample_channels}, {"decoder_layers", &c.decoder_layers},
                        {"decoder_heads", &c.decoder_heads}, {"decoder_ffn", &c.decoder_ffn}, {"vocab", &c.vocab}})
    if (j.contains(k)) *dst = j.at(k).as_int(f(k));
  check(j.contains("encoder"), source, ": missing field 'encoder'");
  c.encoder = ModelConfig::from_json(j.at("encoder"), f("encoder"));
  c.validate(source);
  return c;
}

void AsrModelConfig::validate(const std::string& source) const {
  check(frontend == "fbank" || frontend == "upstream", source, ".frontend must be fbank or upstream, got '", frontend,
        "'");
  check(upstream_layers == "last" || upstream_layers == "weighted", source,
        ".upstream_layers must be last or weighted, got '", upstream_layers, "'");
  check(input_dim >= 1, source, ".input_dim must be >= 1, got ", input_dim);
  check(frontend != "upstream" || upstream_layers != "weighted" || upstream_hidden >= 1, source,
        ".upstream_hidden must be >= 1 for a weighted layer sum, got ", upstream_hidden);
  check(frontend != "fbank" || input_dim >= 7, source, ".input_dim: Conv2dSubsampling needs >= 7 feature bins, got ",
        input_dim);
  check(subsample_channels >= 0, source, ".subsample_channels must be >= 0");
  encoder.validate(source + ".encoder");
  check(decoder_layers >= 0, source, ".decoder_layers must be >= 0, got ", decoder_layers);
  check(decoder_layers == 0 || (decoder_heads >= 1 && encoder.d_model % decoder_heads == 0), source,
        ".decoder_heads: ", decoder_heads, " does not divide d_model ", encoder.d_model);
  check(decoder_ffn >= 0, source, ".decoder_ffn must be >= 0");
  check(vocab >= 2, source, ".vocab must be >= 2 (blank + at least one symbol), got ", vocab);
}

// ---- building blocks --------------------------------------------------------------------------------------------

Tensor sinusoidal_positions(int64_t T, int64_t d, DType dtype) {
  std::vector<double> pe(size_t(T * d));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < d; i += 2) {
      // ESPnet: div_term = exp(arange(0, d, 2) * -(log(10000) / d)).
      const double angle = double(t) * std::exp(-double(i) * std::log(10000.0) / double(d));
      pe[size_t(t * d + i)] = std::sin(angle);
      if (i + 1 < d) pe[size_t(t * d + i + 1)] = std::cos(angle);
    }
  return from_doubles(pe, {T, d}, dtype);
}

Conv2dSubsampling::Conv2dSubsampling(int64_t in_dim_, int64_t channels_, int64_t d, Generator& gen, DType dtype)
    : in_dim(in_dim_), channels(channels_) {
  check(in_dim >= 7, "Conv2dSubsampling: need >= 7 input features, got ", in_dim);
  // PyTorch Conv2d default init: U(+-1/sqrt(fan_in)) for weight and bias.
  w1 = empty({channels, 1, 3, 3}, dtype);
  b1 = empty({channels}, dtype);
  init_uniform(w1, 1.0 / 3.0, gen);
  init_uniform(b1, 1.0 / 3.0, gen);
  w2 = empty({channels, channels, 3, 3}, dtype);
  b2 = empty({channels}, dtype);
  const double bound2 = 1.0 / std::sqrt(double(channels * 9));
  init_uniform(w2, bound2, gen);
  init_uniform(b2, bound2, gen);
  register_parameter("conv.0.weight", &w1);
  register_parameter("conv.0.bias", &b1);
  register_parameter("conv.2.weight", &w2);
  register_parameter("conv.2.bias", &b2);
  out = register_module("out.0", std::make_shared<Linear>(channels * output_length(in_dim), d, true, gen, dtype));
}

int64_t Conv2dSubsampling::output_length(int64_t T) { return T < 7 ? 0 : ((T - 1) / 2 - 1) / 2; }

Tensor Conv2dSubsampling::forward(const Tensor& x) const {
  check(x.dim() == 3 && x.size(2) == in_dim, "Conv2dSubsampling: expected (B, T, ", in_dim, ") features, got ",
        x.shape());
  check(x.size(1) >= 7, "Conv2dSubsampling: ", x.size(1), " frames is too short (need >= 7 for two 3x3 stride-2 convs)");
  Conv2dParams p;
  p.stride_h = p.stride_w = 2;
  Tensor h = relu(conv2d(x.unsqueeze(1), w1, b1, p));  // (B, C, T1, F1)
  h = relu(conv2d(h, w2, b2, p));                        // (B, C, T', F')
  const int64_t B = h.size(0), T2 = h.size(2);
  // ESPnet: x.transpose(1, 2).contiguous().view(b, t, c * f).
  h = h.transpose(1, 2).contiguous().reshape({B, T2, channels * h.size(3)});
  return out->forward(h);  // (B, T', d)
}

LayerWeightedSum::LayerWeightedSum(int64_t num_hidden, DType dtype) {
  weights = zeros({num_hidden}, dtype);
  register_parameter("weights", &weights);
}

Tensor LayerWeightedSum::forward(const std::vector<Tensor>& hidden) const {
  check(int64_t(hidden.size()) == weights.size(0), "LayerWeightedSum: ", hidden.size(),
        " hidden states given, the weights expect ", weights.size(0), " (upstream layers + 1)");
  for (const Tensor& h : hidden)
    check(h.shape() == hidden[0].shape(), "LayerWeightedSum: hidden states of different shapes ", hidden[0].shape(),
          " and ", h.shape());
  const Tensor w = softmax(weights, 0);  // (L + 1,)
  // s3prl: (norm_weights.view(-1, 1, 1, 1) * stacked).sum(dim=0), accumulated level by level: sum() over a leading
  // dim whose trailing block exceeds the reduction block size recurses without end in cpu::parallel_reduce_cols
  // (block_rows == 1 never shrinks `rows`), so stack + sum is avoided here.
  Tensor out = mul(hidden[0], w.narrow(0, 0, 1));
  for (size_t l = 1; l < hidden.size(); ++l) out = add(out, mul(hidden[l], w.narrow(0, int64_t(l), 1)));
  return out;  // (B, T, d)
}

std::vector<double> LayerWeightedSum::normalized_weights() const {
  NoGradGuard ng;
  return softmax(weights.detach(), 0).to_vector<double>();
}

MultiHeadAttention::MultiHeadAttention(int64_t d, int64_t heads_, double dropout_, Generator& gen, DType dtype)
    : heads(heads_), dropout(dropout_) {
  check(heads >= 1 && d % heads == 0, "MultiHeadAttention: ", heads, " heads do not divide d = ", d);
  linear_q = register_module("linear_q", std::make_shared<Linear>(d, d, true, gen, dtype));
  linear_k = register_module("linear_k", std::make_shared<Linear>(d, d, true, gen, dtype));
  linear_v = register_module("linear_v", std::make_shared<Linear>(d, d, true, gen, dtype));
  linear_out = register_module("linear_out", std::make_shared<Linear>(d, d, true, gen, dtype));
}

Tensor MultiHeadAttention::forward(const Tensor& query, const Tensor& key_value, const Tensor& key_padding,
                                   bool causal) const {
  check(query.dim() == 3 && key_value.dim() == 3 && query.size(0) == key_value.size(0) &&
            query.size(2) == key_value.size(2),
        "MultiHeadAttention: query (B, Tq, d) and key/value (B, Tk, d) expected, got ", query.shape(), " and ",
        key_value.shape());
  const int64_t B = query.size(0), Tq = query.size(1), Tk = key_value.size(1), d = query.size(2), Dh = d / heads;
  auto split = [&](const Tensor& t, int64_t T) {  // (B, T, d) -> (B, H, T, Dh)
    return t.reshape({B, T, heads, Dh}).permute({0, 2, 1, 3}).contiguous();
  };
  const Tensor q = split(linear_q->forward(query), Tq), k = split(linear_k->forward(key_value), Tk),
               v = split(linear_v->forward(key_value), Tk);
  // The fused op takes Tq != Tk (cross-attention) and a causal flag (top-left aligned: query i sees keys <= i).
  const Tensor o = attention(q, k, v, key_padding, causal, dropout, is_training());  // (B, H, Tq, Dh)
  return linear_out->forward(o.permute({0, 2, 1, 3}).reshape({B, Tq, d}));
}

// ESPnet DecoderLayer with normalize_before = True.
class TransformerDecoderLayer : public Module {
 public:
  TransformerDecoderLayer(int64_t d, int64_t heads, int64_t ffn, double dropout_, Generator& gen, DType dtype)
      : dropout(dropout_) {
    self_attn = register_module("self_attn", std::make_shared<MultiHeadAttention>(d, heads, dropout, gen, dtype));
    src_attn = register_module("src_attn", std::make_shared<MultiHeadAttention>(d, heads, dropout, gen, dtype));
    // ESPnet PositionwiseFeedForward: w_1 -> ReLU -> dropout -> w_2.
    w_1 = register_module("feed_forward.w_1", std::make_shared<Linear>(d, ffn, true, gen, dtype));
    w_2 = register_module("feed_forward.w_2", std::make_shared<Linear>(ffn, d, true, gen, dtype));
    norm1 = register_module("norm1", std::make_shared<LayerNorm>(d, dtype));
    norm2 = register_module("norm2", std::make_shared<LayerNorm>(d, dtype));
    norm3 = register_module("norm3", std::make_shared<LayerNorm>(d, dtype));
  }
  Tensor forward(const Tensor& x, const Tensor& memory, const Tensor& memory_padding) const {
    const bool tr = is_training();
    const Tensor n1 = norm1->forward(x);
    Tensor h = add(x, dropout_if(self_attn->forward(n1, n1, Tensor(), /*causal=*/true), dropout, tr));
    h = add(h, dropout_if(src_attn->forward(norm2->forward(h), memory, memory_padding, false), dropout, tr));
    const Tensor f = w_2->forward(dropout_if(relu(w_1->forward(norm3->forward(h))), dropout, tr));
    return add(h, dropout_if(f, dropout, tr));
  }
  std::shared_ptr<MultiHeadAttention> self_attn, src_attn;
  std::shared_ptr<Linear> w_1, w_2;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;
  double dropout;
};

TransformerDecoder::TransformerDecoder(int64_t vocab_, int64_t d_, int64_t heads, int64_t ffn, int64_t num_layers,
                                       double dropout_, Generator& gen, DType dtype)
    : vocab(vocab_), d(d_), dropout(dropout_) {
  embed = randn({vocab, d}, dtype, gen);  // torch.nn.Embedding default init N(0, 1)
  register_parameter("embed.0.weight", &embed);
  for (int64_t i = 0; i < num_layers; ++i)
    layers.push_back(register_module("decoders." + std::to_string(i),
                                     std::make_shared<TransformerDecoderLayer>(d, heads, ffn, dropout, gen, dtype)));
  after_norm = register_module("after_norm", std::make_shared<LayerNorm>(d, dtype));
  output_layer = register_module("output_layer", std::make_shared<Linear>(d, vocab, true, gen, dtype));
}

Tensor TransformerDecoder::forward(const Tensor& tokens, const Tensor& memory, const Tensor& memory_padding) const {
  check(tokens.dim() == 2 && (tokens.dtype() == DType::i64 || tokens.dtype() == DType::i32),
        "TransformerDecoder: tokens must be (B, U) integer ids, got ", tokens.shape(), " ", tokens.dtype());
  check(memory.dim() == 3 && memory.size(0) == tokens.size(0) && memory.size(2) == d,
        "TransformerDecoder: memory must be (B = ", tokens.size(0), ", T, ", d, "), got ", memory.shape());
  const int64_t U = tokens.size(1);
  // ESPnet Embedding + PositionalEncoding: x * sqrt(d) + pe, dropout.
  Tensor x = add(mul(embedding(embed, tokens), std::sqrt(double(d))), sinusoidal_positions(U, d, memory.dtype()));
  x = dropout_if(x, dropout, is_training());
  for (const auto& layer : layers) x = layer->forward(x, memory, memory_padding);
  return output_layer->forward(after_norm->forward(x));  // (B, U, vocab)
}

// ---- the recogniser ---------------------------------------------------------------------------------------------

AsrModel::AsrModel(const AsrModelConfig& c, uint64_t seed, DType dtype) : cfg(c) {
  cfg.validate();
  Generator gen(seed);
  const int64_t d = cfg.encoder.d_model;
  if (cfg.frontend == "fbank") {
    mvn_mean = zeros({cfg.input_dim}, dtype);
    mvn_std = ones({cfg.input_dim}, dtype);
    register_buffer("global_mvn.mean", &mvn_mean);
    register_buffer("global_mvn.std", &mvn_std);
    const int64_t ch = cfg.subsample_channels > 0 ? cfg.subsample_channels : d;
    subsample = register_module("encoder.embed", std::make_shared<Conv2dSubsampling>(cfg.input_dim, ch, d, gen, dtype));
  } else {
    if (cfg.upstream_layers == "weighted")
      featurizer = register_module("featurizer", std::make_shared<LayerWeightedSum>(cfg.upstream_hidden, dtype));
    // ESPnet input_layer "linear": Linear -> LayerNorm -> Dropout -> ReLU -> PositionalEncoding.
    input_linear = register_module("encoder.embed.0", std::make_shared<Linear>(cfg.input_dim, d, true, gen, dtype));
    input_norm = register_module("encoder.embed.1", std::make_shared<LayerNorm>(d, dtype));
  }
  for (int64_t i = 0; i < cfg.encoder.num_layers; ++i)
    layers.push_back(register_module("encoder.encoders." + std::to_string(i), make_encoder_layer(cfg.encoder, gen, dtype)));
  ctc = register_module("ctc.ctc_lo", std::make_shared<Linear>(d, cfg.vocab, true, gen, dtype));
  if (cfg.decoder_layers > 0)
    decoder = register_module("decoder", std::make_shared<TransformerDecoder>(
                                             cfg.vocab, d, cfg.decoder_heads,
                                             cfg.decoder_ffn > 0 ? cfg.decoder_ffn : cfg.encoder.ffn_dim,
                                             cfg.decoder_layers, cfg.encoder.dropout, gen, dtype));
}

int64_t AsrModel::output_length(int64_t input_frames) const {
  return subsample ? Conv2dSubsampling::output_length(input_frames) : input_frames;
}

AsrEncoded AsrModel::encode(const std::vector<Tensor>& inputs, const std::vector<int64_t>& lengths,
                            bool keep_hidden) const {
  const size_t expected = featurizer ? size_t(cfg.upstream_hidden) : 1;
  check(inputs.size() == expected, "AsrModel: ", inputs.size(), " input tensors for a ", cfg.frontend,
        cfg.frontend == "upstream" ? "/" + cfg.upstream_layers : std::string(), " front end that takes ", expected);
  const Tensor& x0 = inputs[0];
  check(x0.dim() == 3, "AsrModel: inputs must be (B, T, F), got ", x0.shape());
  check(x0.size(2) == cfg.input_dim, "AsrModel: input feature dim ", x0.size(2), " but the model expects ",
        cfg.input_dim, cfg.frontend == "fbank" ? " (fbank bins)" : " (upstream width)");
  const int64_t B = x0.size(0), T = x0.size(1), d = cfg.encoder.d_model;
  check(lengths.empty() || int64_t(lengths.size()) == B, "AsrModel: ", lengths.size(), " lengths for a batch of ", B);
  Tensor x;
  if (subsample) {
    // GlobalMVN (ESPnet): (x - mean) / std with training-set statistics, then Conv2dSubsampling, then x * sqrt(d) + pe.
    x = subsample->forward(div(sub(x0, mvn_mean), mvn_std));
    x = add(mul(x, std::sqrt(double(d))), sinusoidal_positions(x.size(1), d, x.dtype()));
  } else {
    const Tensor f = featurizer ? featurizer->forward(inputs) : x0;
    x = relu(dropout_if(input_norm->forward(input_linear->forward(f)), cfg.encoder.dropout, is_training()));
    x = add(mul(x, std::sqrt(double(d))), sinusoidal_positions(T, d, x.dtype()));
  }
  x = dropout_if(x, cfg.encoder.dropout, is_training());
  AsrEncoded enc;
  const int64_t Tp = x.size(1);
  bool padded = false;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = lengths.empty() ? T : lengths[size_t(b)];
    check(len >= 0 && len <= T, "AsrModel: length ", len, " outside [0, ", T, "]");
    enc.mask.lengths.push_back(std::min(Tp, output_length(len)));
    padded = padded || enc.mask.lengths.back() < Tp;
  }
  if (padded) {
    std::vector<uint8_t> pad(size_t(B * Tp), 0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = enc.mask.lengths[size_t(b)]; t < Tp; ++t) pad[size_t(b * Tp + t)] = 1;
    enc.mask.padding = from_vector(pad, {B, Tp});
    x = zero_padding(x, enc.mask.lengths);
  }
  SequenceMask layer_mask = enc.mask;
  if (!padded) layer_mask.lengths.clear();  // layers treat empty lengths as "no padding"
  if (keep_hidden) enc.hidden.push_back(x);
  for (const auto& layer : layers) {
    x = layer->forward(x, layer_mask);
    if (keep_hidden) enc.hidden.push_back(x);
  }
  enc.out = x;
  return enc;
}

Tensor AsrModel::ctc_log_probs(const AsrEncoded& enc) const { return log_softmax(ctc->forward(enc.out), -1); }

Tensor AsrModel::decoder_logits(const Tensor& tokens, const AsrEncoded& enc) const {
  check(decoder != nullptr, "AsrModel: this model has no attention decoder (decoder_layers = 0)");
  return decoder->forward(tokens, enc.out, enc.mask.padding);
}

}  // namespace hm
