#include "train/finetune.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "engine/device.h"
#include "models/hubert.h"
#include "ops/ops.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/decode.h"
#include "train/manifest.h"
#include "train/masking.h"
#include "train/optim.h"
#include "train/options.h"
#include "train/plot.h"
#include "train/vocab.h"

namespace hm {
namespace fs = std::filesystem;

namespace {

// Pretrained encoder + linear CTC head ("aux", torchaudio's Wav2Vec2Model name). The encoder keeps its
// pretraining parameter names, so a pretraining checkpoint loads into it unchanged.
class CtcModel : public Module {
 public:
  CtcModel(const ModelConfig& mc, int64_t vocab, uint64_t seed) {
    hubert = register_module("", std::make_shared<HubertModel>(mc, seed));
    Generator gen(seed + 99);
    aux = register_module("aux", std::make_shared<Linear>(mc.d_model, vocab, true, gen));
  }
  std::shared_ptr<HubertModel> hubert;
  std::shared_ptr<Linear> aux;
};

struct Loaded {
  std::unique_ptr<CtcModel> model;
  Vocab vocab;
  ModelConfig mc;
};

Loaded load_ctc_checkpoint(const std::string& path) {
  const Checkpoint ck = load_checkpoint(path);
  check(!ck.state.is_null() && ck.state.contains("vocab") && ck.state.contains("model_config"), path,
        ": not a fine-tuned CTC checkpoint (no vocab / model_config in its training state)");
  Loaded l{nullptr, Vocab::from_json(ck.state.at("vocab"), path + " vocab"),
           ModelConfig::from_json(ck.state.at("model_config"), path + " model_config")};
  // Fix (trainer tests): name the file and both sizes when the stored vocabulary does not fit the CTC head
  // (load_state_dict alone reported only "shape of aux.weight" without saying which file or why).
  // (check() formats its message eagerly: only read sizes of the head itself, scalars such as BatchNorm's
  // num_batches_tracked have none.)
  for (const auto& [n, t] : ck.model)
    if (n == "aux.weight")
      check(t.size(0) == l.vocab.size(), path, ": vocabulary of ", l.vocab.size(), " symbols but the CTC head has ",
            t.size(0), " outputs (checkpoint and vocabulary do not belong together)");
  l.model = std::make_unique<CtcModel>(l.mc, l.vocab.size(), 1);
  l.model->load_state_dict(ck.model);
  return l;
}

std::vector<std::string> reference_words(const std::string& data, const std::string& split) {
  const std::string wrd = data + "/" + split + ".wrd";
  if (fs::exists(wrd)) return read_wrd(wrd);
  std::vector<std::string> out;
  for (const std::string& l : read_ltr(data + "/" + split + ".ltr")) out.push_back(letters_to_words(l, split + ".ltr"));
  return out;
}

// log-probs (B, T, V) of a padded batch and the valid frame count per row.
Tensor ctc_log_probs(const CtcModel& m, const Batch& b, const Tensor& frame_mask, const Tensor& channel_mask,
                     bool encoder_frozen, std::vector<int64_t>& frame_lengths) {
  HubertOutput out;
  const Tensor wave = b.wave.to(m.hubert->device());
  if (encoder_frozen) {
    NoGradGuard ng;
    out = m.hubert->forward(wave, b.lengths, frame_mask, false, channel_mask);
  } else {
    out = m.hubert->forward(wave, b.lengths, frame_mask, false, channel_mask);
  }
  const int64_t T = out.final.size(1);
  frame_lengths = out.mask.lengths;
  if (frame_lengths.empty()) frame_lengths.assign(size_t(b.wave.size(0)), T);
  return log_softmax(m.aux->forward(out.final), -1);
}

}  // namespace

void FinetuneConfig::validate() const {
  check(!data.empty(), "finetune: --data is required");
  check(!out.empty(), "finetune: --out is required");
  check(max_updates >= 1, "finetune: max-updates must be >= 1");
  check(freeze_updates >= 0, "finetune: freeze-updates must be >= 0");
  check(lr > 0, "finetune: lr must be positive");
  check(std::abs(warmup_fraction + hold_fraction + decay_fraction - 1.0) < 1e-6, "finetune: warmup-fraction + ",
        "hold-fraction + decay-fraction must be 1, got ", warmup_fraction + hold_fraction + decay_fraction);
  check(mask_prob >= 0 && mask_prob < 1 && mask_channel_prob >= 0 && mask_channel_prob < 1,
        "finetune: mask probabilities must be in [0, 1)");
  check(final_lr_scale > 0 && final_lr_scale <= 1, "finetune: final-lr-scale must be in (0, 1]");
  check(log_interval >= 1 && save_interval >= 1, "finetune: intervals must be >= 1");
  const Device dev = device_from_name(device);
  check(dev.type == DeviceType::cpu || device_available(dev.type), "finetune: --device ", device,
        ": no usable GPU (or this hubmamba was built without the CUDA backend)");
}

EvalResult evaluate_model(const CtcModel& model, const Vocab& vocab, const std::string& data, const std::string& split,
                          int64_t beam, int64_t max_utterances) {
  NoGradGuard ng;
  const bool was_training = model.is_training();
  const_cast<CtcModel&>(model).eval();
  DatasetConfig dc;
  dc.manifest = data + "/" + split + ".tsv";
  dc.crop = false;
  dc.min_sample_size = 0;
  dc.max_tokens = 800000;
  dc.max_utterances = max_utterances;
  AudioDataset ds(dc);
  const std::vector<std::string> refs_all = reference_words(data, split);
  EvalResult r;
  std::vector<std::pair<int64_t, std::string>> hyps;
  for (int64_t i = 0; i < ds.batches_per_epoch(); ++i) {
    const Batch b = ds.make_batch(0, i);
    std::vector<int64_t> lens;
    const Tensor lp = ctc_log_probs(model, b, Tensor(), Tensor(), true, lens).cpu();  // decoding runs on the host
    BeamSearchOptions bopt;
    bopt.beam = int(beam);
    const auto ids = beam <= 1 ? ctc_greedy_decode_batch(lp, lens) : ctc_beam_decode_batch(lp, lens, bopt);
    for (size_t k = 0; k < ids.size(); ++k) hyps.emplace_back(b.utterances[k], vocab.decode(ids[k]));
  }
  std::sort(hyps.begin(), hyps.end());
  for (const auto& [u, h] : hyps) {
    check(u < int64_t(refs_all.size()), data, "/", split, ": fewer transcripts than utterances");
    r.hyps.push_back(h);
    r.refs.push_back(refs_all[size_t(u)]);
  }
  r.score = score_corpus(r.hyps, r.refs);
  if (was_training) const_cast<CtcModel&>(model).train();
  return r;
}

EvalResult evaluate_ctc(const std::string& ckpt, const std::string& data_dir, const std::string& split, int64_t beam,
                        int64_t max_utterances) {
  const Loaded l = load_ctc_checkpoint(ckpt);
  return evaluate_model(*l.model, l.vocab, data_dir, split, beam, max_utterances);
}

FinetuneResult run_finetuning(const FinetuneConfig& cfg) {
  cfg.validate();
  // Fix (trainer tests): the validation split is only read after the last update; check it exists before training
  // rather than failing at the very end of a long run.
  const std::string valid = cfg.data + "/" + cfg.valid_split;
  check(fs::exists(valid + ".tsv"), valid, ".tsv: validation manifest not found (--valid-split ", cfg.valid_split, ")");
  check(fs::exists(valid + ".wrd") || fs::exists(valid + ".ltr"), valid, ".wrd / .ltr: no transcripts for the ",
        "validation split (--valid-split ", cfg.valid_split, ")");
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  const std::string last = checkpoint_path(cfg.out, "last");
  check(cfg.resume || !fs::exists(last), cfg.out, ": already holds ", last,
        "; pass --resume to continue that run or choose another --out (nothing is overwritten)");
  fs::create_directories(cfg.out);

  const std::string train_ltr = cfg.data + "/" + cfg.train_split + ".ltr";
  Vocab vocab = Vocab::from_ltr_files({train_ltr});
  ModelConfig mc = preset("tiny-transformer");
  Checkpoint pre;
  if (!cfg.pretrained.empty()) {
    pre = load_checkpoint(cfg.pretrained);
    check(!pre.state.is_null() && pre.state.contains("model_config"), cfg.pretrained,
          ": has no model_config (not a hubmamba pretraining checkpoint)");
    mc = ModelConfig::from_json(pre.state.at("model_config"), cfg.pretrained + " model_config");
  } else {
    mc = ModelConfig::load(cfg.model);
  }
  mc.feature_grad_mult = 0.0;  // fairseq fine-tuning: the CNN is frozen
  mc.encoder_layerdrop = std::min(mc.encoder_layerdrop, 0.05);
  CtcModel model(mc, vocab.size(), cfg.seed);
  if (!cfg.pretrained.empty()) {
    // Load the encoder; the CTC head stays freshly initialised.
    NamedTensors enc;
    for (const auto& [n, t] : pre.model) enc.emplace_back(n, t);
    for (const auto& [n, t] : model.aux->state_dict()) enc.emplace_back("aux." + n, t);
    model.load_state_dict(enc);
  }
  model.train();

  DatasetConfig dc;
  dc.manifest = cfg.data + "/" + cfg.train_split + ".tsv";
  dc.crop = false;
  dc.transcripts = vocab.encode_file(train_ltr);
  dc.max_tokens = cfg.max_tokens;
  dc.min_sample_size = cfg.min_sample_size;
  dc.seed = cfg.seed;
  AudioDataset ds(dc);

  manual_seed(cfg.seed * 31 + 11);
  Generator mask_gen(cfg.seed * 131 + 5);
  model.to(device_from_name(cfg.device));  // after loading: the optimiser must hold the device tensors
  const NamedTensors params = model.named_parameters();
  Adam opt(params, AdamConfig{cfg.lr, 0.9, 0.98, 1e-8, 0.0, true});
  const TriStageSchedule sched{cfg.lr, 0.01, cfg.final_lr_scale, int64_t(cfg.warmup_fraction * double(cfg.max_updates)),
                               int64_t(cfg.hold_fraction * double(cfg.max_updates)),
                               int64_t(cfg.decay_fraction * double(cfg.max_updates))};
  int64_t step = 0, epoch = 0, index = 0;
  Json history = Json::array();
  if (cfg.resume && fs::exists(last)) {
    const Checkpoint ck = load_checkpoint(last);
    check(!ck.state.is_null() && ck.state.contains("vocab"), last, ": not a fine-tuning checkpoint");
    check(Vocab::from_json(ck.state.at("vocab"), last).symbols() == vocab.symbols(), last,
          ": vocabulary differs from the one built from ", train_ltr);
    model.load_state_dict(ck.model);
    opt.load_state(ck.optimizer);
    step = ck.state.at("step").as_int();
    epoch = ck.state.at("epoch").as_int();
    index = ck.state.at("batch_index").as_int();
    const Json& r = ck.state.at("rng");
    default_generator().set_state(uint64_t(r.at("dropout")[0].as_int()), uint64_t(r.at("dropout")[1].as_int()));
    mask_gen.set_state(uint64_t(r.at("mask")[0].as_int()), uint64_t(r.at("mask")[1].as_int()));
    // Fix (trainer tests): the layer-drop stream is part of the state too (resume was inexact with layerdrop > 0);
    // checkpoints written before it was saved resume as before.
    if (r.contains("layerdrop"))
      model.hubert->layerdrop_gen.set_state(uint64_t(r.at("layerdrop")[0].as_int()),
                                            uint64_t(r.at("layerdrop")[1].as_int()));
    history = ck.state.at("history");
  }
  vocab.save(cfg.out + "/vocab.json");
  std::ofstream metrics(cfg.out + "/metrics.jsonl", std::ios::app);
  if (!cfg.quiet)
    std::cerr << "finetune: " << mc.name << " (" << double(model.num_parameters()) / 1e6 << " M params), vocab "
              << vocab.size() << ", " << ds.num_utterances() << " utterances, "
              << (cfg.pretrained.empty() ? "from scratch" : "from " + cfg.pretrained) << "\n";
  auto save = [&](const std::string& path) {
    Checkpoint ck;
    ck.model = model.state_dict();
    ck.optimizer = opt.state();
    Json s = Json::object();
    s["step"] = step;
    s["epoch"] = epoch;
    s["batch_index"] = index;
    s["vocab"] = vocab.to_json();
    s["model_config"] = mc.to_json();
    s["run_config"] = options::to_json(cfg);
    s["rng"]["dropout"] = Json::array({Json(int64_t(default_generator().seed())), Json(int64_t(default_generator().offset()))});
    s["rng"]["mask"] = Json::array({Json(int64_t(mask_gen.seed())), Json(int64_t(mask_gen.offset()))});
    s["rng"]["layerdrop"] = Json::array({Json(int64_t(model.hubert->layerdrop_gen.seed())),
                                         Json(int64_t(model.hubert->layerdrop_gen.offset()))});
    s["history"] = history;
    ck.state = s;
    save_checkpoint(path, ck);
  };

  FinetuneResult res;
  ds.start(epoch, index);
  double window_loss = 0, window_audio = 0;
  int64_t window_n = 0;
  auto t_window = clock::now();
  const int64_t d = mc.d_model;
  while (step < cfg.max_updates) {
    const Batch b = ds.next();
    index = b.index + 1, epoch = b.epoch;
    if (index == ds.batches_per_epoch()) index = 0, epoch++;
    const int64_t B = b.wave.size(0), T = model.hubert->frames_for(b.wave.size(1));
    std::vector<int64_t> frames;
    for (int64_t len : b.lengths) frames.push_back(std::min(T, model.hubert->frames_for(len)));
    Tensor tmask, cmask;
    if (cfg.mask_prob > 0)
      tmask = from_vector(compute_mask_indices(B, T, frames, MaskConfig{cfg.mask_prob, cfg.mask_length, 2}, mask_gen), {B, T});
    if (cfg.mask_channel_prob > 0)
      cmask = from_vector(compute_mask_indices(B, d, {}, MaskConfig{cfg.mask_channel_prob, cfg.mask_channel_length, 0}, mask_gen), {B, d});
    std::vector<int64_t> lens;
    const bool frozen = step < cfg.freeze_updates;
    Tensor lp = ctc_log_probs(model, b, tmask, cmask, frozen, lens);  // (B, T, V)
    // Targets padded to the longest transcript; CTC needs T >= target length (infeasible rows are zeroed).
    int64_t S = 1, ntokens = 0;
    for (const auto& t : b.transcripts) S = std::max<int64_t>(S, int64_t(t.size())), ntokens += int64_t(t.size());
    std::vector<int64_t> tgt(size_t(B * S), 0), tlen;
    for (int64_t i = 0; i < B; ++i) {
      for (size_t k = 0; k < b.transcripts[size_t(i)].size(); ++k) tgt[size_t(i * S) + k] = b.transcripts[size_t(i)][k];
      tlen.push_back(int64_t(b.transcripts[size_t(i)].size()));
    }
    Tensor loss = ctc_loss(lp.transpose(0, 1).contiguous(), from_vector(tgt, {B, S}), from_vector(lens, {B}),
                           from_vector(tlen, {B}), Vocab::kBlank, LossReduction::sum, /*zero_infinity=*/true);
    loss = div(loss, double(std::max<int64_t>(ntokens, 1)));  // fairseq ctc: normalised by target tokens
    const double lv = loss.item();
    step++;
    if (std::isfinite(lv)) {
      loss.backward();
      const double gnorm = clip_grad_norm(params, cfg.clip_norm);
      if (std::isfinite(gnorm)) opt.step(sched.lr(step));
      else std::cerr << "finetune: skipped update " << step << ": non-finite gradient norm\n";
    } else {
      std::cerr << "finetune: skipped update " << step << ": non-finite loss\n";
    }
    model.zero_grad();
    window_loss += std::isfinite(lv) ? lv : 0;
    window_audio += b.audio_seconds();
    window_n++;
    const double elapsed = std::chrono::duration<double>(clock::now() - t_start).count();
    const bool out_of_time = cfg.max_minutes > 0 && elapsed > cfg.max_minutes * 60;
    const bool last_step = step == cfg.max_updates || out_of_time;
    if (step % cfg.log_interval == 0 || last_step) {
      const double wsec = std::chrono::duration<double>(clock::now() - t_window).count();
      const double l = window_loss / double(window_n);
      Json rec = Json::object();
      rec["step"] = step;
      rec["loss"] = l;
      rec["lr"] = sched.lr(step);
      rec["frozen"] = frozen;
      rec["ms_per_step"] = 1000 * wsec / double(window_n);
      rec["audio_s_per_s"] = window_audio / wsec;
      history.push_back(Json::array({Json(step), Json(l)}));
      if (cfg.eval_interval > 0 && step % cfg.eval_interval == 0 && !last_step) {
        const EvalResult ev = evaluate_model(model, vocab, cfg.data, cfg.valid_split, 1, 0);
        rec["valid_wer"] = ev.wer();
        rec["valid_cer"] = ev.cer();
      }
      metrics << rec.dump() << "\n";
      metrics.flush();
      if (!cfg.quiet) {
        char line[256];
        std::snprintf(line, sizeof line, "finetune %6lld/%lld | ctc %.4f | lr %.2e%s | %6.0f ms/step | %5.1f audio-s/s%s\n",
                      (long long)step, (long long)cfg.max_updates, l, sched.lr(step), frozen ? " | encoder frozen" : "",
                      1000 * wsec / double(window_n), window_audio / wsec,
                      rec.contains("valid_wer") ? (" | valid WER " + std::to_string(100 * rec.at("valid_wer").as_number()) + "%").c_str() : "");
        std::cerr << line;
      }
      res.final_loss = l;
      window_loss = window_audio = 0;
      window_n = 0;
      t_window = clock::now();
    }
    if (step % cfg.save_interval == 0 || last_step) {
      save(last);
      res.last_checkpoint = last;
    }
    if (out_of_time) break;
  }
  res.steps = step;
  res.valid = evaluate_model(model, vocab, cfg.data, cfg.valid_split, 1, 0);
  res.seconds = std::chrono::duration<double>(clock::now() - t_start).count();
  if (!cfg.quiet)
    std::cerr << "finetune: " << cfg.valid_split << " " << res.valid.score.words.summary("WER") << ", "
              << res.valid.score.letters.summary("CER") << "\n";
  if (history.size() >= 2) {
    Series s{"ctc loss", {}, {}};
    for (const Json& h : history.as_array()) s.x.push_back(h[0].as_number()), s.y.push_back(h[1].as_number());
    write_plot(cfg.out + "/curves.png", PlotSpec{"fine-tuning " + mc.name, "update", "ctc loss", {s}});
  }
  return res;
}

}  // namespace hm
