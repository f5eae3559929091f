#include "train/pretrain.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "engine/device.h"
#include "models/hubert.h"
#include "ops/ops.h"
#include "ops/optimizer.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/manifest.h"
#include "train/masking.h"
#include "train/optim.h"
#include "train/options.h"
#include "train/plot.h"

namespace hm {
namespace fs = std::filesystem;

Json PretrainConfig::to_json() const { return options::to_json(*this); }

PretrainConfig PretrainConfig::from_json(const Json& j, const std::string& source) {
  return options::from_json<PretrainConfig>(j, source);
}

void PretrainConfig::validate() const {
  check(!data.empty(), "pretrain: --data is required");
  check(!labels.empty(), "pretrain: --labels is required");
  check(!out.empty(), "pretrain: --out is required");
  check(max_updates >= 1, "pretrain: max-updates must be >= 1, got ", max_updates);
  check(warmup_updates >= 0 && warmup_updates < max_updates, "pretrain: warmup-updates must be in [0, max-updates)");
  check(lr > 0 && std::isfinite(lr), "pretrain: lr must be positive, got ", lr);
  check(end_lr >= 0 && end_lr <= lr, "pretrain: end-lr must be in [0, lr]");
  check(update_freq >= 1, "pretrain: update-freq must be >= 1");
  check(max_tokens > 0 && min_sample_size >= 0 && max_sample_size > 0, "pretrain: bad sample-size limits");
  check(mask_prob > 0 && mask_prob <= 1, "pretrain: mask-prob must be in (0, 1], got ", mask_prob);
  check(mask_length >= 1, "pretrain: mask-length must be >= 1");
  check(label_rate > 0, "pretrain: label-rate must be positive");
  const Device dev = device_from_name(device);  // throws naming the text
  check(dev.type == DeviceType::cpu || device_available(dev.type), "pretrain: --device ", device,
        ": no usable GPU (or this hubmamba was built without the CUDA backend)");
  check(log_interval >= 1 && save_interval >= 1, "pretrain: log-interval and save-interval must be >= 1");
  check(pred_masked_weight > 0 || pred_nomask_weight > 0, "pretrain: at least one prediction weight must be > 0");
}

void add_pretrain_options(cli::Args& args) { options::add_to_args<PretrainConfig>(args); }

PretrainConfig pretrain_config_from_args(const cli::Args& args) { return options::from_args<PretrainConfig>(args); }

namespace {

struct StepStats {
  double loss_sum = 0;  // un-normalised loss (sum over predicted frames + penalty)
  int64_t sample_size = 0;
  int64_t masked = 0, masked_correct = 0, unmasked = 0, unmasked_correct = 0;
  double audio_seconds = 0;
};

int64_t count_correct(const Tensor& logits, const std::vector<int64_t>& targets) {
  const std::vector<float> v = logits.detach().contiguous().to_vector<float>();
  const int64_t C = logits.size(1);
  int64_t correct = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    const float* row = v.data() + i * size_t(C);
    const int64_t arg = std::max_element(row, row + C) - row;
    correct += arg == targets[i];
  }
  return correct;
}

// Forward + backward of one batch; gradients accumulate un-normalised (divided by the update's sample size later,
// as fairseq's trainer does).
StepStats forward_backward(const HubertModel& model, const Batch& b, const PretrainConfig& cfg, Generator& mask_gen) {
  StepStats st;
  const int64_t B = b.wave.size(0), L = b.wave.size(1);
  const int64_t T = model.frames_for(L);
  check(T > 0, "pretrain: batch of ", L, " samples is shorter than the CNN receptive field");
  const int64_t F = b.labels.size(1);
  // fairseq HubertModel.forward_targets: feat2tar_ratio = label_rate * stride / sample_rate; frames beyond the
  // labels are dropped; frame t takes label floor(t * ratio).
  const double ratio = cfg.label_rate * double(model.cfg.cnn_stride()) / 16000.0;
  const int64_t T_use = ratio * double(T) > double(F) ? int64_t(double(F) / ratio) : T;
  const std::vector<uint8_t> mask = compute_mask_indices(B, T, {}, MaskConfig{cfg.mask_prob, cfg.mask_length, 2}, mask_gen);
  const Device dev = model.device();
  HubertOutput out = model.forward(b.wave.to(dev), {}, from_vector(mask, {B, T}), false);
  const Tensor x = out.final.reshape({B * T, model.cfg.d_model});
  std::vector<int64_t> idx_m, idx_u, tgt_m, tgt_u;
  const int64_t* lab = b.labels.data<int64_t>();
  for (int64_t i = 0; i < B; ++i)
    for (int64_t t = 0; t < T_use; ++t) {
      const int64_t target = lab[i * F + std::min<int64_t>(F - 1, int64_t(std::floor(double(t) * ratio)))];
      if (mask[size_t(i * T + t)]) idx_m.push_back(i * T + t), tgt_m.push_back(target);
      else idx_u.push_back(i * T + t), tgt_u.push_back(target);
    }
  Tensor loss = scalar_tensor(0.0).to(dev);
  auto predict = [&](const std::vector<int64_t>& idx, const std::vector<int64_t>& tgt, double weight, int64_t& n,
                     int64_t& correct) {
    if (idx.empty()) return;
    Tensor logits = model.logits(index_select(x, 0, from_vector(idx, {int64_t(idx.size())}).to(dev)));  // (N, C)
    n += int64_t(idx.size());
    correct += count_correct(logits, tgt);
    if (weight > 0) {
      loss = add(loss, mul(cross_entropy(logits, from_vector(tgt, {int64_t(tgt.size())}).to(dev), Tensor(), -100,
                                         LossReduction::sum), weight));
      st.sample_size += int64_t(idx.size());
    }
  };
  predict(idx_m, tgt_m, cfg.pred_masked_weight, st.masked, st.masked_correct);
  if (cfg.pred_nomask_weight > 0) predict(idx_u, tgt_u, cfg.pred_nomask_weight, st.unmasked, st.unmasked_correct);
  // HubertCriterion: loss += loss_weights[0] * features_pen * sample_size.
  loss = add(loss, mul(out.features_pen, cfg.feature_pen_weight * double(st.sample_size)));
  st.loss_sum = loss.item();
  st.audio_seconds = b.audio_seconds();
  if (std::isfinite(st.loss_sum)) loss.backward();
  return st;
}

void scale_grads(const NamedTensors& params, double s) {
  NoGradGuard ng;
  for (const auto& [n, p] : params) {
    Tensor g = p.grad();
    if (g.defined()) scale_inplace(g, s);
  }
}

std::string fmt_duration(double s) {
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(std::fmod(s, 3600) / 60));
  else std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(std::fmod(s, 60)));
  return buf;
}

}  // namespace

PretrainResult run_pretraining(const PretrainConfig& cfg) {
  cfg.validate();
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  const std::string tsv = cfg.data + "/" + cfg.split + ".tsv", km = cfg.labels + "/" + cfg.split + ".km";
  const std::string last = checkpoint_path(cfg.out, "last");
  check(cfg.resume || !fs::exists(last), cfg.out, ": already holds ", last,
        "; pass --resume to continue that run or choose another --out (nothing is overwritten)");
  fs::create_directories(cfg.out);

  ModelConfig mc = ModelConfig::load(cfg.model);
  int64_t classes = cfg.num_classes;
  if (classes == 0) {
    for (const auto& row : read_km(km))
      for (int32_t v : row) classes = std::max<int64_t>(classes, int64_t(v) + 1);
  }
  check(classes >= 2, km, ": need at least 2 label classes, found ", classes);
  mc.num_classes = classes;
  mc.label_rate = cfg.label_rate;

  DatasetConfig dc;
  dc.manifest = tsv;
  dc.labels = km;
  dc.label_rate = cfg.label_rate;
  dc.max_tokens = cfg.max_tokens;
  dc.min_sample_size = cfg.min_sample_size;
  dc.max_sample_size = cfg.max_sample_size;
  dc.max_utterances = cfg.max_utterances;
  dc.seed = cfg.seed;
  AudioDataset ds(dc);

  HubertModel model(mc, cfg.seed);
  model.to(device_from_name(cfg.device));  // weights are initialised on the host (same values on every device)
  model.train();
  manual_seed(cfg.seed * 31 + 7);  // dropout stream
  Generator mask_gen(cfg.seed * 131 + 3);
  const NamedTensors params = model.named_parameters();
  Adam opt(params, AdamConfig{cfg.lr, 0.9, 0.98, 1e-6, cfg.weight_decay, true});
  const PolynomialDecaySchedule sched{cfg.lr, cfg.end_lr, cfg.warmup_updates, cfg.max_updates, 1.0};

  int64_t step = 0, epoch = 0, index = 0;
  double best_loss = INFINITY;
  Json history = Json::array();
  if (cfg.resume && fs::exists(last)) {
    const Checkpoint ck = load_checkpoint(last);
    check(!ck.state.is_null(), last, ": has no training state (a weights-only file?)");
    check(ck.state.at("model_config").dump() == mc.to_json().dump(), last,
          ": was trained with a different model config; resume needs the same --model/--num-classes/--label-rate");
    model.load_state_dict(ck.model);
    opt.load_state(ck.optimizer);
    const Json& s = ck.state;
    step = s.at("step").as_int("state.step");
    epoch = s.at("epoch").as_int("state.epoch");
    index = s.at("batch_index").as_int("state.batch_index");
    best_loss = s.at("best_loss").is_number() ? s.at("best_loss").as_number() : INFINITY;
    auto restore = [&](const char* k, Generator& g) {
      const Json& r = s.at("rng").at(k);
      g.set_state(uint64_t(r[0].as_int()), uint64_t(r[1].as_int()));
    };
    restore("dropout", default_generator());
    restore("mask", mask_gen);
    restore("layerdrop", model.layerdrop_gen);
    if (s.contains("history")) history = s.at("history");
    if (!cfg.quiet) std::cerr << "pretrain: resumed " << last << " at update " << step << "\n";
  }
  {
    Json run = Json::object();
    run["run_config"] = cfg.to_json();
    run["model_config"] = mc.to_json();
    std::ofstream(cfg.out + "/config.json") << run.dump(2) << "\n";
  }
  std::ofstream metrics(cfg.out + "/metrics.jsonl", std::ios::app);
  if (!cfg.quiet)
    std::cerr << "pretrain: " << mc.name << " (" << mc.layer_type << ", " << model.num_parameters() / 1e6
              << " M params), " << ds.num_utterances() << " utterances / " << ds.total_seconds() / 3600 << " h, "
              << ds.batches_per_epoch() << " batches per epoch, " << classes << " classes\n";

  auto save = [&](const std::string& path) {
    Checkpoint ck;
    ck.model = model.state_dict();
    ck.optimizer = opt.state();
    Json s = Json::object();
    s["step"] = step;
    s["epoch"] = epoch;
    s["batch_index"] = index;
    s["best_loss"] = std::isfinite(best_loss) ? Json(best_loss) : Json();
    auto gen_state = [](const Generator& g) {
      return Json::array({Json(int64_t(g.seed())), Json(int64_t(g.offset()))});
    };
    s["rng"]["dropout"] = gen_state(default_generator());
    s["rng"]["mask"] = gen_state(mask_gen);
    s["rng"]["layerdrop"] = gen_state(model.layerdrop_gen);
    s["model_config"] = mc.to_json();
    s["run_config"] = cfg.to_json();
    s["history"] = history;
    ck.state = s;
    save_checkpoint(path, ck);
  };

  PretrainResult res;
  ds.start(epoch, index);
  StepStats window;
  double window_gnorm = 0;
  int64_t window_updates = 0, window_good = 0, consecutive_bad = 0;  // updates in the log window / applied ones
  auto t_window = clock::now();
  while (step < cfg.max_updates) {
    const double lr = sched.lr(step + 1);
    StepStats upd;
    for (int64_t k = 0; k < cfg.update_freq; ++k) {
      const Batch b = ds.next();
      const StepStats st = forward_backward(model, b, cfg, mask_gen);
      upd.loss_sum += st.loss_sum;
      upd.sample_size += st.sample_size;
      upd.masked += st.masked, upd.masked_correct += st.masked_correct;
      upd.unmasked += st.unmasked, upd.unmasked_correct += st.unmasked_correct;
      upd.audio_seconds += st.audio_seconds;
      index = b.index + 1, epoch = b.epoch;
      if (index == ds.batches_per_epoch()) index = 0, epoch++;
    }
    scale_grads(params, 1.0 / double(std::max<int64_t>(upd.sample_size, 1)));
    const double gnorm = clip_grad_norm(params, cfg.clip_norm);
    step++;
    if (!std::isfinite(gnorm) || !std::isfinite(upd.loss_sum)) {
      // NaN/Inf guard: skip this update, keep the weights, log it; give up after 10 in a row.
      res.skipped_updates++;
      std::cerr << "pretrain: skipped update " << step << ": non-finite " << (std::isfinite(upd.loss_sum) ? "gradient norm" : "loss") << "\n";
      metrics << Json::object({{"step", Json(step)}, {"skipped", Json(true)}}).dump() << "\n";
      check(++consecutive_bad < 10, "pretrain: 10 consecutive non-finite updates at update ", step,
            "; lower --lr or check the data (the last good checkpoint is kept)");
    } else {
      consecutive_bad = 0;
      opt.step(lr);
      // Fix (trainer tests): only applied updates enter the logged loss/accuracy/gnorm. A skipped update's
      // non-finite loss made the window loss Inf/NaN, stored as null in metrics.jsonl and in the checkpoint's
      // history, where curves.png (h[1].as_number()) then threw at the end of the run or of a resumed run.
      window.loss_sum += upd.loss_sum / double(std::max<int64_t>(upd.sample_size, 1));
      window.masked += upd.masked, window.masked_correct += upd.masked_correct;
      window.unmasked += upd.unmasked, window.unmasked_correct += upd.unmasked_correct;
      window_gnorm += gnorm;
      window_good++;
    }
    model.zero_grad();
    window.audio_seconds += upd.audio_seconds;
    window_updates++;
    res.audio_seconds += upd.audio_seconds;

    const double elapsed = std::chrono::duration<double>(clock::now() - t_start).count();
    const bool out_of_time = cfg.max_minutes > 0 && elapsed > cfg.max_minutes * 60;
    const bool log_point = step % cfg.log_interval == 0 || step == cfg.max_updates || out_of_time;
    // A window of skipped updates only has its "skipped" lines (nothing to average).
    if (log_point && window_good > 0) {
      const double wsec = std::chrono::duration<double>(clock::now() - t_window).count();
      const double loss = window.loss_sum / double(window_good);
      const double acc_m = window.masked ? double(window.masked_correct) / double(window.masked) : 0;
      const double acc_u = window.unmasked ? double(window.unmasked_correct) / double(window.unmasked) : 0;
      const double ms = 1000 * wsec / double(window_updates);
      const double eta = ms / 1000 * double(cfg.max_updates - step);
      Json rec = Json::object();
      rec["step"] = step;
      rec["loss"] = loss;
      rec["masked_acc"] = acc_m;
      if (cfg.pred_nomask_weight > 0) rec["unmasked_acc"] = acc_u;
      rec["lr"] = lr;
      rec["grad_norm"] = window_gnorm / double(window_good);
      rec["ms_per_step"] = ms;
      rec["audio_s_per_s"] = window.audio_seconds / wsec;
      rec["elapsed_s"] = elapsed;
      metrics << rec.dump() << "\n";
      metrics.flush();
      history.push_back(Json::array({Json(step), Json(loss), Json(acc_m)}));
      if (!cfg.quiet) {
        char line[256];
        std::snprintf(line, sizeof line,
                      "step %6lld/%lld | loss %.4f | acc_m %.3f | lr %.2e | gnorm %.3f | %6.0f ms/step | %5.1f audio-s/s | ETA %s\n",
                      (long long)step, (long long)cfg.max_updates, loss, acc_m, lr, window_gnorm / double(window_good),
                      ms, window.audio_seconds / wsec, fmt_duration(eta).c_str());
        std::cerr << line;
      }
      res.final_loss = loss;
      res.masked_acc = acc_m;
      res.unmasked_acc = acc_u;
      if (loss < best_loss) {
        best_loss = loss;
        save(checkpoint_path(cfg.out, "best"));
      }
    }
    if (log_point) {
      window = StepStats();
      window_gnorm = 0;
      window_updates = window_good = 0;
      t_window = clock::now();
    }
    if (step % cfg.save_interval == 0 || step == cfg.max_updates || out_of_time) {
      save(last);
      res.last_checkpoint = last;
      if (step % cfg.save_interval == 0) save(checkpoint_path(cfg.out, std::to_string(step)));
    }
    if (out_of_time) {
      if (!cfg.quiet) std::cerr << "pretrain: time budget of " << cfg.max_minutes << " min reached at update " << step << "\n";
      break;
    }
  }
  res.steps = step;
  res.seconds = std::chrono::duration<double>(clock::now() - t_start).count();
  // Curves of the whole run (history survives resumes through the checkpoint).
  if (history.size() >= 2) {
    Series loss{"loss", {}, {}}, acc{"masked acc x10", {}, {}};
    for (const Json& h : history.as_array()) {
      loss.x.push_back(h[0].as_number()), loss.y.push_back(h[1].as_number());
      acc.x.push_back(h[0].as_number()), acc.y.push_back(10 * h[2].as_number());
    }
    write_plot(cfg.out + "/curves.png", PlotSpec{"pretraining " + mc.name, "update", "loss / acc x10", {loss, acc}});
  }
  return res;
}

}  // namespace hm
