#include "train/asr_train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "engine/strided.h"
#include "ops/ops.h"
#include "train/asr_decode.h"
#include "train/audio.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/decode.h"
#include "train/features.h"
#include "train/optim.h"
#include "train/options.h"
#include "train/plot.h"

namespace hm {
namespace fs = std::filesystem;

void AsrTrainConfig::validate() const {
  check(!data.empty(), "asr: --data is required");
  check(!out.empty(), "asr: --out is required");
  check(upstream_layers == "last" || upstream_layers == "weighted", "asr: --upstream-layers must be last or weighted, got '",
        upstream_layers, "'");
  check(max_updates >= 1 && warmup_updates >= 0, "asr: max-updates must be >= 1 and warmup-updates >= 0");
  check(lr > 0, "asr: lr must be positive");
  check(ctc_weight >= 0 && ctc_weight <= 1, "asr: ctc-weight must be in [0, 1], got ", ctc_weight);
  check(decoder_layers > 0 || ctc_weight > 0, "asr: ctc-weight 0 needs an attention decoder (--decoder-layers)");
  check(label_smoothing >= 0 && label_smoothing < 1, "asr: label-smoothing must be in [0, 1)");
  check(decode == "auto" || decode == "ctc" || decode == "attention" || decode == "joint",
        "asr: --decode must be auto, ctc, attention or joint, got '", decode, "'");
  check(decoder_layers > 0 || (decode != "attention" && decode != "joint"), "asr: --decode ", decode,
        " needs an attention decoder (--decoder-layers > 0)");
  check(log_interval >= 1 && save_interval >= 1, "asr: intervals must be >= 1");
}

// ---- front end --------------------------------------------------------------------------------------------------

AsrFrontend::AsrFrontend(const AsrModelConfig& mc, std::shared_ptr<HubertModel> up) : upstream(std::move(up)), cfg_(mc) {
  check((cfg_.frontend == "upstream") == bool(upstream), "AsrFrontend: the ", cfg_.frontend,
        " front end ", upstream ? "takes no upstream model" : "needs an upstream model");
  if (upstream) upstream->eval();
}

std::vector<Tensor> AsrFrontend::features(const std::string& path) const {
  if (auto it = cache_.find(path); it != cache_.end()) return it->second;
  NoGradGuard ng;  // the upstream is frozen: nothing here is recorded for backward
  const Audio a = read_audio(path);
  std::vector<Tensor> out;
  if (!upstream) {
    out.push_back(feat::compute_features(a.samples, feat::FeatureKind::fbank80, path));  // (T, 80)
  } else {
    const int64_t n = int64_t(a.samples.size());
    check(upstream->frames_for(n) >= 1, path, ": ", n, " samples are shorter than the upstream's receptive field (",
          upstream->cfg.cnn_receptive_field(), ")");
    Tensor wave = from_vector(a.samples, {1, n});
    const HubertOutput h = upstream->forward(wave, {}, Tensor(), cfg_.upstream_layers == "weighted");
    if (cfg_.upstream_layers == "weighted") {
      // hidden[0..L-1] and the encoder output (the last hidden state after the final LayerNorm of pre-LN stacks,
      // as s3prl's hidden_states list ends with the normalised output).
      for (size_t i = 0; i + 1 < h.hidden.size(); ++i) out.push_back(h.hidden[i].select(0, 0).contiguous());
      out.push_back(h.final.select(0, 0).contiguous());
      check(int64_t(out.size()) == cfg_.upstream_hidden, path, ": the upstream gives ", out.size(),
            " hidden states but the model's layer weights expect ", cfg_.upstream_hidden);
    } else {
      out.push_back(h.final.select(0, 0).contiguous());  // (T, d)
    }
  }
  cache_.emplace(path, out);
  return out;
}

std::vector<Tensor> pad_features(const std::vector<std::vector<Tensor>>& utts, std::vector<int64_t>& lengths) {
  check(!utts.empty(), "pad_features: empty batch");
  const size_t levels = utts[0].size();
  const int64_t B = int64_t(utts.size()), D = utts[0][0].size(1);
  int64_t T = 0;
  lengths.clear();
  for (const auto& u : utts) {
    check(u.size() == levels && u[0].dim() == 2 && u[0].size(1) == D, "pad_features: utterances of different shapes");
    lengths.push_back(u[0].size(0));
    T = std::max(T, u[0].size(0));
  }
  std::vector<Tensor> out;
  for (size_t k = 0; k < levels; ++k) {
    Tensor x = zeros({B, T, D});  // (B, T, D)
    float* dst = x.data<float>();
    for (int64_t b = 0; b < B; ++b) {
      const Tensor src = utts[size_t(b)][k].contiguous();
      std::copy(src.data<float>(), src.data<float>() + src.numel(), dst + b * T * D);
    }
    out.push_back(x);
  }
  return out;
}

// ---- loss -------------------------------------------------------------------------------------------------------

AsrLoss asr_loss(const AsrModel& model, const AsrEncoded& enc, const std::vector<std::vector<int32_t>>& targets,
                 double ctc_weight, double label_smoothing) {
  const int64_t B = enc.out.size(0), V = model.cfg.vocab;
  check(int64_t(targets.size()) == B, "asr_loss: ", targets.size(), " target sequences for a batch of ", B);
  int64_t S = 1, ntokens = 0;
  for (const auto& t : targets) {
    for (int32_t id : t)
      check(id > 0 && id < V, "asr_loss: target id ", id, " outside [1, ", V, ") (vocabulary of the model: ", V,
            " symbols incl. blank)");
    S = std::max<int64_t>(S, int64_t(t.size())), ntokens += int64_t(t.size());
  }
  AsrLoss out;
  const bool ctc_only = !model.has_decoder();
  if (ctc_only || ctc_weight > 0) {
    std::vector<int64_t> tgt(size_t(B * S), 0), tlen;
    for (int64_t i = 0; i < B; ++i) {
      const auto& t = targets[size_t(i)];
      std::copy(t.begin(), t.end(), tgt.begin() + i * S);
      tlen.push_back(int64_t(t.size()));
    }
    const Tensor lp = model.ctc_log_probs(enc);  // (B, T, V)
    out.ctc = div(ctc_loss(lp.transpose(0, 1).contiguous(), from_vector(tgt, {B, S}), from_vector(enc.mask.lengths, {B}),
                           from_vector(tlen, {B}), Vocab::kBlank, LossReduction::sum, /*zero_infinity=*/true),
                  double(std::max<int64_t>(ntokens, 1)));
  }
  if (ctc_only) {
    out.total = out.ctc;
    return out;
  }
  // Decoder: input <sos> y_1 .. y_n, output y_1 .. y_n <eos> (ESPnet add_sos_eos); rows right-padded with <eos>.
  const int64_t U = S + 1;
  std::vector<int64_t> ys_in(size_t(B * U), Vocab::kBlank), rows, ys_out;
  for (int64_t i = 0; i < B; ++i) {
    const auto& t = targets[size_t(i)];
    for (size_t k = 0; k < t.size(); ++k) ys_in[size_t(i * U) + k + 1] = t[k];
    for (size_t k = 0; k <= t.size(); ++k) {
      rows.push_back(i * U + int64_t(k));
      ys_out.push_back(k < t.size() ? t[k] : Vocab::kBlank);
    }
  }
  const int64_t N = int64_t(rows.size());
  const Tensor logits = model.decoder_logits(from_vector(ys_in, {B, U}), enc).reshape({B * U, V});
  const Tensor lp = log_softmax(index_select(logits, 0, from_vector(rows, {N})), -1);  // (N, V) valid rows only
  const Tensor target = from_vector(ys_out, {N, 1});
  const Tensor nll = neg(gather(lp, 1, target));  // (N, 1) -log p(y)
  // Label smoothing (Szegedy et al. 2016; ESPnet LabelSmoothingLoss): the target gets 1 - eps, every other class
  // eps / (V - 1). Cross-entropy against that distribution (ESPnet reports the KL, which differs by its constant
  // entropy term): (1 - eps) * nll + eps * mean_{c != y} -log p(c).
  Tensor per_row = nll;
  if (label_smoothing > 0) {
    const Tensor others = div(sub(neg(sum(lp, {1}, true)), nll), double(V - 1));
    per_row = add(mul(nll, 1 - label_smoothing), mul(others, label_smoothing));
  }
  out.att = div(sum(per_row), double(N));
  {
    NoGradGuard ng;
    const std::vector<float> v = lp.detach().contiguous().to_vector<float>();
    int64_t correct = 0;
    for (int64_t r = 0; r < N; ++r) {
      const float* row = v.data() + r * V;
      correct += int64_t(std::max_element(row, row + V) - row) == ys_out[size_t(r)];
    }
    out.att_accuracy = double(correct) / double(N);
  }
  out.total = ctc_weight > 0 ? add(mul(out.ctc, ctc_weight), mul(out.att, 1 - ctc_weight)) : out.att;
  return out;
}

// ---- decoding ---------------------------------------------------------------------------------------------------

std::vector<int32_t> asr_decode_one(const AsrModel& model, const AsrEncoded& enc, const Tensor& ctc_lp, int64_t b,
                                    const AsrDecodeConfig& dc) {
  NoGradGuard ng;
  const int64_t len = enc.mask.lengths[size_t(b)], V = model.cfg.vocab;
  std::string mode = dc.mode;
  if (mode == "auto") mode = model.has_decoder() ? "joint" : "ctc";
  check(model.has_decoder() || mode == "ctc", "asr decode: mode '", mode, "' needs an attention decoder");
  const Tensor lp = ctc_lp.select(0, b).narrow(0, 0, std::max<int64_t>(len, 1)).contiguous();  // (T_b, V)
  if (mode == "ctc") {
    if (dc.beam <= 1) return ctc_greedy_decode(lp.data<float>(), lp.size(0), V, len);
    BeamSearchOptions bo;
    bo.beam = int(dc.beam);
    return ctc_prefix_beam_search(lp.data<float>(), lp.size(0), V, len, bo).front().tokens;
  }
  const Tensor memory = enc.out.select(0, b).narrow(0, 0, std::max<int64_t>(len, 1)).unsqueeze(0);  // (1, T_b, d)
  const NextTokenScorer att = [&](const std::vector<std::vector<int32_t>>& prefixes) {
    const int64_t N = int64_t(prefixes.size()), U = int64_t(prefixes[0].size());
    std::vector<int64_t> ids;
    for (const auto& p : prefixes) ids.insert(ids.end(), p.begin(), p.end());
    const Tensor mem = memory.expand({N, memory.size(1), memory.size(2)}).contiguous();
    const Tensor logits = model.decoder->forward(from_vector(ids, {N, U}), mem, Tensor());  // (N, U, V)
    return log_softmax(logits.select(1, U - 1), -1).contiguous().to_vector<float>();
  };
  if (mode == "attention") return greedy_attention_decode(att, V, std::max<int64_t>(len, 1));
  check(mode == "joint", "asr decode: unknown mode '", mode, "' (auto, ctc, attention, joint)");
  JointDecodeOptions jo;
  jo.beam = int(std::max<int64_t>(dc.beam, 1));
  jo.ctc_weight = dc.ctc_weight;
  jo.length_normalize = dc.length_normalize;
  return joint_beam_search(lp.data<float>(), lp.size(0), V, att, jo).tokens;
}

namespace {

std::vector<std::string> reference_words(const std::string& data, const std::string& split) {
  const std::string wrd = data + "/" + split + ".wrd";
  if (fs::exists(wrd)) return read_lines(wrd);
  std::vector<std::string> out;
  for (const std::string& l : read_ltr(data + "/" + split + ".ltr")) out.push_back(letters_to_words(l, split + ".ltr"));
  return out;
}

AsrModelConfig model_config_for(const AsrTrainConfig& c, int64_t vocab, const HubertModel* upstream) {
  AsrModelConfig m;
  m.frontend = upstream ? "upstream" : "fbank";
  m.upstream_layers = c.upstream_layers;
  m.input_dim = upstream ? upstream->cfg.d_model : feat::feature_dim(feat::FeatureKind::fbank80);
  m.upstream_hidden = upstream ? upstream->cfg.num_layers + 1 : 0;
  m.subsample_channels = c.subsample_channels;
  ModelConfig e = preset("tiny-conformer");
  e.name = c.downstream;
  e.layer_type = c.downstream;
  e.num_layers = c.layers;
  e.d_model = c.d_model;
  e.ffn_dim = c.ffn_dim;
  e.num_heads = c.heads;
  e.depthwise_kernel = c.kernel;
  e.dropout = e.attention_dropout = c.dropout;
  e.activation_dropout = 0;
  e.encoder_layerdrop = 0;
  e.pos_conv_groups = 1;  // the HuBERT positional conv is not used here; keep validation independent of d_model
  m.encoder = e;
  m.decoder_layers = c.decoder_layers;
  m.decoder_heads = c.heads;
  m.decoder_ffn = c.decoder_ffn;
  m.vocab = vocab;
  m.name = (upstream ? upstream->cfg.name + "+" : std::string("fbank+")) + c.downstream +
           (c.decoder_layers > 0 ? "+decoder" : "");
  return m;
}

std::shared_ptr<HubertModel> upstream_from(const Checkpoint& ck, const std::string& path, const std::string& prefix) {
  check(!ck.state.is_null() && ck.state.contains(prefix.empty() ? "model_config" : "upstream_config"), path,
        ": has no ", prefix.empty() ? "model_config (not a hubmamba pretraining checkpoint)" : "upstream_config");
  ModelConfig mc = ModelConfig::from_json(ck.state.at(prefix.empty() ? "model_config" : "upstream_config"),
                                          path + (prefix.empty() ? " model_config" : " upstream_config"));
  NamedTensors w;
  for (const auto& [n, t] : ck.model)
    if (n.rfind(prefix, 0) == 0) {
      const std::string name = n.substr(prefix.size());
      // A CTC fine-tuning checkpoint (train/finetune.cpp) also holds its head "aux.*": not part of the encoder.
      if (prefix.empty() && name.rfind("aux.", 0) == 0) continue;
      if (name == "logit_generator.label_embeddings") mc.num_classes = t.size(0);
      w.emplace_back(name, t);
    }
  auto up = std::make_shared<HubertModel>(mc, 1);
  up->load_state_dict(w);
  up->eval();
  return up;
}

}  // namespace

LoadedAsr load_asr_checkpoint(const std::string& path) {
  const Checkpoint ck = load_checkpoint(path);
  check(!ck.state.is_null() && ck.state.contains("vocab") && ck.state.contains("asr_config"), path,
        ": not an ASR checkpoint of `hubmamba asr` / `finetune --downstream` (no vocab / asr_config)");
  LoadedAsr l;
  l.vocab = Vocab::from_json(ck.state.at("vocab"), path + " vocab");
  const AsrModelConfig mc = AsrModelConfig::from_json(ck.state.at("asr_config"), path + " asr_config");
  check(mc.vocab == l.vocab.size(), path, ": vocabulary of ", l.vocab.size(), " symbols but the model has ", mc.vocab,
        " outputs (checkpoint and vocabulary do not belong together)");
  l.model = std::make_unique<AsrModel>(mc, 1);
  NamedTensors own;
  for (const auto& [n, t] : ck.model)
    if (n.rfind("upstream.", 0) != 0) own.emplace_back(n, t);
  l.model->load_state_dict(own);
  l.model->eval();
  l.frontend = std::make_unique<AsrFrontend>(mc, mc.frontend == "upstream" ? upstream_from(ck, path, "upstream.") : nullptr);
  return l;
}

EvalResult evaluate_asr_model(const AsrModel& model, const AsrFrontend& fe, const Vocab& vocab, const std::string& data,
                              const std::string& split, const AsrDecodeConfig& dc, int64_t max_utterances) {
  NoGradGuard ng;
  const bool was_training = model.is_training();
  const_cast<AsrModel&>(model).eval();
  const Manifest m = read_manifest(data + "/" + split + ".tsv");
  const std::vector<std::string> refs = reference_words(data, split);
  check(refs.size() >= m.entries.size(), data, "/", split, ": ", refs.size(), " transcripts for ", m.entries.size(),
        " utterances");
  const int64_t n = max_utterances > 0 ? std::min<int64_t>(max_utterances, int64_t(m.entries.size()))
                                       : int64_t(m.entries.size());
  EvalResult r;
  for (int64_t s = 0; s < n; s += 8) {
    std::vector<std::vector<Tensor>> utts;
    for (int64_t i = s; i < std::min(n, s + 8); ++i) utts.push_back(fe.features(m.audio_path(size_t(i))));
    std::vector<int64_t> lens;
    const std::vector<Tensor> in = pad_features(utts, lens);
    const AsrEncoded enc = model.encode(in, lens, false);
    const Tensor lp = model.ctc_log_probs(enc).contiguous();
    for (int64_t b = 0; b < int64_t(utts.size()); ++b) {
      r.hyps.push_back(vocab.decode(asr_decode_one(model, enc, lp, b, dc)));
      r.refs.push_back(refs[size_t(s + b)]);
    }
  }
  r.score = score_corpus(r.hyps, r.refs);
  if (was_training) const_cast<AsrModel&>(model).train();
  return r;
}

EvalResult evaluate_asr(const std::string& ckpt, const std::string& data, const std::string& split,
                        const AsrDecodeConfig& dc, int64_t max_utterances) {
  const LoadedAsr l = load_asr_checkpoint(ckpt);
  return evaluate_asr_model(*l.model, *l.frontend, l.vocab, data, split, dc, max_utterances);
}

// ---- training ---------------------------------------------------------------------------------------------------

FinetuneResult run_asr_training(const AsrTrainConfig& cfg) {
  cfg.validate();
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  const std::string valid = cfg.data + "/" + cfg.valid_split;
  check(fs::exists(valid + ".tsv"), valid, ".tsv: validation manifest not found (--valid-split ", cfg.valid_split, ")");
  const std::string last = checkpoint_path(cfg.out, "last");
  check(cfg.resume || !fs::exists(last), cfg.out, ": already holds ", last,
        "; pass --resume to continue that run or choose another --out (nothing is overwritten)");
  fs::create_directories(cfg.out);

  const std::string train_ltr = cfg.data + "/" + cfg.train_split + ".ltr";
  const Vocab vocab = Vocab::from_ltr_files({train_ltr});
  std::shared_ptr<HubertModel> upstream;
  if (!cfg.pretrained.empty()) upstream = upstream_from(load_checkpoint(cfg.pretrained), cfg.pretrained, "");
  const AsrModelConfig mc = model_config_for(cfg, vocab.size(), upstream.get());
  AsrModel model(mc, cfg.seed);
  AsrFrontend fe(mc, upstream);
  const Manifest man = read_manifest(cfg.data + "/" + cfg.train_split + ".tsv");

  DatasetConfig dc;
  dc.manifest = cfg.data + "/" + cfg.train_split + ".tsv";
  dc.crop = false;
  dc.transcripts = vocab.encode_file(train_ltr);
  dc.max_tokens = cfg.max_tokens;
  dc.min_sample_size = cfg.min_sample_size;
  dc.seed = cfg.seed;
  dc.cache_audio = false;  // features are cached instead
  AudioDataset ds(dc);

  {
    // Front-end features of every training utterance, once, before the time budget starts (the upstream is frozen
    // and deterministic in eval mode, so they never change).
    const auto t0 = clock::now();
    for (size_t i = 0; i < man.entries.size(); ++i) {
      fe.features(man.audio_path(i));
      if (!cfg.quiet && upstream && (i + 1) % 50 == 0)
        std::fprintf(stderr, "asr: upstream features %zu/%zu (%.0f s)\r", i + 1, man.entries.size(),
                     std::chrono::duration<double>(clock::now() - t0).count());
    }
    if (!cfg.quiet)
      std::fprintf(stderr, "asr: %s features of %zu utterances in %.1f s\n", upstream ? "upstream" : "fbank",
                   man.entries.size(), std::chrono::duration<double>(clock::now() - t0).count());
  }
  const auto t_budget = clock::now();
  if (!upstream) {
    // ESPnet GlobalMVN statistics over every training frame (fbank), stored as model buffers.
    std::vector<double> s(80, 0.0), ss(80, 0.0);
    double frames = 0;
    for (size_t i = 0; i < man.entries.size(); ++i) {
      const Tensor f = fe.features(man.audio_path(i))[0];
      const float* p = f.data<float>();
      for (int64_t t = 0; t < f.size(0); ++t)
        for (int64_t k = 0; k < 80; ++k) s[size_t(k)] += p[t * 80 + k], ss[size_t(k)] += double(p[t * 80 + k]) * p[t * 80 + k];
      frames += double(f.size(0));
    }
    std::vector<double> mean(80), stdv(80);
    for (size_t k = 0; k < 80; ++k) {
      mean[k] = s[k] / frames;
      stdv[k] = std::sqrt(std::max(ss[k] / frames - mean[k] * mean[k], 1e-10));
    }
    NoGradGuard ng;
    strided::copy(model.mvn_mean, from_doubles(mean, {80}));
    strided::copy(model.mvn_std, from_doubles(stdv, {80}));
  }

  manual_seed(cfg.seed * 31 + 17);
  const NamedTensors params = model.named_parameters();
  Adam opt(params, AdamConfig{cfg.lr, 0.9, 0.98, 1e-9, 0.0, true});
  const PolynomialDecaySchedule sched{cfg.lr, 0.0, cfg.warmup_updates, cfg.max_updates};
  int64_t step = 0, epoch = 0, index = 0;
  Json history = Json::array();
  if (cfg.resume && fs::exists(last)) {
    const Checkpoint ck = load_checkpoint(last);
    check(!ck.state.is_null() && ck.state.contains("vocab") && ck.state.contains("asr_config"), last,
          ": not an ASR checkpoint");
    check(Vocab::from_json(ck.state.at("vocab"), last).symbols() == vocab.symbols(), last,
          ": vocabulary differs from the one built from ", train_ltr);
    NamedTensors own;
    for (const auto& [n, t] : ck.model)
      if (n.rfind("upstream.", 0) != 0) own.emplace_back(n, t);
    model.load_state_dict(own);
    opt.load_state(ck.optimizer);
    step = ck.state.at("step").as_int();
    epoch = ck.state.at("epoch").as_int();
    index = ck.state.at("batch_index").as_int();
    const Json& r = ck.state.at("rng");
    default_generator().set_state(uint64_t(r[0].as_int()), uint64_t(r[1].as_int()));
    history = ck.state.at("history");
  }
  vocab.save(cfg.out + "/vocab.json");
  std::ofstream metrics(cfg.out + "/metrics.jsonl", std::ios::app);
  if (!cfg.quiet)
    std::cerr << "asr: " << mc.name << " (" << double(model.num_parameters()) / 1e6 << " M trainable params"
              << (upstream ? ", frozen upstream " + cfg.pretrained + " (" + cfg.upstream_layers + ")" : "")
              << "), vocab " << vocab.size() << ", " << ds.num_utterances() << " utterances\n";
  auto save = [&](const std::string& path) {
    Checkpoint ck;
    ck.model = model.state_dict();
    if (upstream)
      for (const auto& [n, t] : upstream->state_dict()) ck.model.emplace_back("upstream." + n, t);
    ck.optimizer = opt.state();
    Json s = Json::object();
    s["step"] = step;
    s["epoch"] = epoch;
    s["batch_index"] = index;
    s["vocab"] = vocab.to_json();
    s["asr_config"] = mc.to_json();
    if (upstream) s["upstream_config"] = upstream->cfg.to_json();
    s["run_config"] = options::to_json(cfg);
    s["rng"] = Json::array({Json(int64_t(default_generator().seed())), Json(int64_t(default_generator().offset()))});
    s["history"] = history;
    ck.state = s;
    save_checkpoint(path, ck);
  };
  AsrDecodeConfig dcfg{cfg.decode, cfg.beam, cfg.decode_ctc_weight, true};

  FinetuneResult res;
  model.train();
  ds.start(epoch, index);
  double w_loss = 0, w_ctc = 0, w_att = 0, w_acc = 0, w_audio = 0;
  int64_t w_n = 0;
  auto t_window = clock::now();
  while (step < cfg.max_updates) {
    const Batch b = ds.next();
    index = b.index + 1, epoch = b.epoch;
    if (index == ds.batches_per_epoch()) index = 0, epoch++;
    std::vector<std::vector<Tensor>> utts;
    for (int64_t u : b.utterances) utts.push_back(fe.features(man.audio_path(size_t(u))));
    std::vector<int64_t> lens;
    const std::vector<Tensor> in = pad_features(utts, lens);
    const AsrEncoded enc = model.encode(in, lens, false);
    const AsrLoss L = asr_loss(model, enc, b.transcripts, cfg.ctc_weight, cfg.label_smoothing);
    const double lv = L.total.item();
    step++;
    if (std::isfinite(lv)) {
      L.total.backward();
      const double gnorm = clip_grad_norm(params, cfg.clip_norm);
      if (std::isfinite(gnorm)) opt.step(sched.lr(step));
      else std::cerr << "asr: skipped update " << step << ": non-finite gradient norm\n";
    } else {
      std::cerr << "asr: skipped update " << step << ": non-finite loss\n";
    }
    model.zero_grad();
    w_loss += std::isfinite(lv) ? lv : 0;
    w_ctc += L.ctc.defined() ? L.ctc.item() : 0;
    w_att += L.att.defined() ? L.att.item() : 0;
    w_acc += L.att_accuracy;
    w_audio += b.audio_seconds();
    w_n++;
    const double elapsed = std::chrono::duration<double>(clock::now() - t_budget).count();
    const bool out_of_time = cfg.max_minutes > 0 && elapsed > cfg.max_minutes * 60;
    const bool last_step = step == cfg.max_updates || out_of_time;
    if (step % cfg.log_interval == 0 || last_step) {
      const double wsec = std::chrono::duration<double>(clock::now() - t_window).count(), n = double(w_n);
      Json rec = Json::object();
      rec["step"] = step;
      rec["loss"] = w_loss / n;
      rec["ctc"] = w_ctc / n;
      if (model.has_decoder()) rec["att"] = w_att / n, rec["att_acc"] = w_acc / n;
      rec["lr"] = sched.lr(step);
      rec["ms_per_step"] = 1000 * wsec / n;
      rec["audio_s_per_s"] = w_audio / wsec;
      history.push_back(Json::array({Json(step), Json(w_loss / n)}));
      metrics << rec.dump() << "\n";
      metrics.flush();
      if (!cfg.quiet) {
        char line[320];
        const double eta = (elapsed / double(step)) * double(cfg.max_updates - step);
        std::snprintf(line, sizeof line,
                      "asr %6lld/%lld | loss %.4f | ctc %.4f%s | lr %.2e | %5.0f ms/step | %5.1f audio-s/s | ETA %.0f s\n",
                      (long long)step, (long long)cfg.max_updates, w_loss / n, w_ctc / n,
                      model.has_decoder() ? (" | att " + std::to_string(w_att / n).substr(0, 6) + " acc " +
                                             std::to_string(w_acc / n).substr(0, 5)).c_str()
                                          : "",
                      sched.lr(step), 1000 * wsec / n, w_audio / wsec, cfg.max_minutes > 0 ? std::min(eta, cfg.max_minutes * 60 - elapsed) : eta);
        std::cerr << line;
      }
      res.final_loss = w_loss / n;
      w_loss = w_ctc = w_att = w_acc = w_audio = 0;
      w_n = 0;
      t_window = clock::now();
    }
    if (step % cfg.save_interval == 0 || last_step) {
      save(last);
      res.last_checkpoint = last;
    }
    if (out_of_time) break;
  }
  res.steps = step;
  res.valid = evaluate_asr_model(model, fe, vocab, cfg.data, cfg.valid_split, dcfg);
  res.seconds = std::chrono::duration<double>(clock::now() - t_start).count();
  if (!cfg.quiet)
    std::cerr << "asr: " << cfg.valid_split << " " << res.valid.score.words.summary("WER") << ", "
              << res.valid.score.letters.summary("CER") << "\n";
  if (history.size() >= 2) {
    Series s{"loss", {}, {}};
    for (const Json& h : history.as_array()) s.x.push_back(h[0].as_number()), s.y.push_back(h[1].as_number());
    write_plot(cfg.out + "/curves.png", PlotSpec{"training " + mc.name, "update", "loss", {s}});
  }
  return res;
}

}  // namespace hm
