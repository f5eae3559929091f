#include "train/mi_analysis.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>

#include "cpu/parallel.h"
#include "ops/ops.h"
#include "train/audio.h"
#include "train/manifest.h"
#include "train/masking.h"
#include "train/model_io.h"
#include "train/plot.h"

namespace hm {

const char* curve_shape_name(CurveShape s) {
  switch (s) {
    case CurveShape::monotonic_decrease:
      return "monotonic_decrease";
    case CurveShape::decrease_then_increase:
      return "decrease_then_increase";
    case CurveShape::flat:
      return "flat";
    case CurveShape::other:
      return "other";
  }
  return "other";
}

CurveShape classify_curve(const std::vector<double>& y, double tol) {
  check(!y.empty(), "classify_curve: empty curve");
  check(tol >= 0, "classify_curve: tolerance must be >= 0, got ", tol);
  for (size_t i = 0; i < y.size(); ++i) check(std::isfinite(y[i]), "classify_curve: value ", i, " is ", y[i]);
  const auto [lo, hi] = std::minmax_element(y.begin(), y.end());
  if (*hi - *lo <= tol) return CurveShape::flat;
  const double first = y.front(), last = y.back(), m = *lo;
  bool rises = false;  // some point more than tol above the running minimum before it
  double running_min = first;
  for (double v : y) rises = rises || v - running_min > tol, running_min = std::min(running_min, v);
  if (!rises && first - last > tol) return CurveShape::monotonic_decrease;
  if (first - m > tol && last - m > tol) return CurveShape::decrease_then_increase;
  return CurveShape::other;
}

void summarize_curve(MiCurve& c, double shape_tol) {
  const size_t L = c.per_utterance.size();
  check(L > 0, "mi: no layers to summarise");
  c.layers.resize(L);
  c.mean.assign(L, 0.0);
  c.stddev.assign(L, 0.0);
  double max_sem = 0;
  for (size_t l = 0; l < L; ++l) {
    const std::vector<double>& v = c.per_utterance[l];
    check(!v.empty(), "mi: layer ", l + 1, " has no estimates");
    double s = 0, ss = 0;
    for (double x : v) s += x;
    const double mean = s / double(v.size());
    for (double x : v) ss += (x - mean) * (x - mean);
    c.layers[l] = int64_t(l) + 1;
    c.mean[l] = mean;
    c.stddev[l] = std::sqrt(ss / double(v.size()));
    max_sem = std::max(max_sem, c.stddev[l] / std::sqrt(double(v.size())));
  }
  c.shape_tol = std::max(shape_tol, 2 * max_sem);
  c.shape = classify_curve(c.mean, c.shape_tol);
  c.min_layer = c.layers[size_t(std::min_element(c.mean.begin(), c.mean.end()) - c.mean.begin())];
}

namespace {

// splitmix64 (Steele et al. 2014): independent MINE seeds from (seed, utterance, layer).
uint64_t mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
uint64_t call_seed(uint64_t seed, int64_t utt, int64_t layer) {
  return mix(mix(mix(seed) ^ uint64_t(utt)) ^ uint64_t(layer));
}

// "layer_07": the name `hubmamba forward` gives the output of layer 7.
std::string layer_name(int64_t l) {
  const std::string n = std::to_string(l);
  return "layer_" + std::string(n.size() < 2 ? 2 - n.size() : 0, '0') + n;
}

// One forward batch: manifest indices, their slot in the result, their audio.
struct Group {
  std::vector<int64_t> utts;   // manifest indices
  std::vector<int64_t> slots;  // positions in MiCurve::utterances
};

// Hidden states of a group: (L + 1) tensors (B, T, d) and each row's valid frame count.
struct GroupHidden {
  std::vector<Tensor> hidden;
  std::vector<int64_t> lengths;
};

GroupHidden forward_group(const HubertModel& model, const Manifest& m, const Group& g) {
  NoGradGuard ng;
  std::vector<std::vector<float>> wavs;
  std::vector<int64_t> lengths;
  int64_t longest = 0;
  for (int64_t u : g.utts) {
    const std::string path = m.audio_path(size_t(u));
    wavs.push_back(read_audio(path).samples);
    const int64_t n = int64_t(wavs.back().size());
    check(model.frames_for(n) >= 2, path, ": ", n, " samples give ", model.frames_for(n),
          " frames; MINE needs at least 2 (receptive field ", model.cfg.cnn_receptive_field(), ")");
    lengths.push_back(n);
    longest = std::max(longest, n);
  }
  // (B, longest) zero-padded like s3prl_feature.py's collate_fn (F.pad(waveform, (0, max_length - length))).
  Tensor wave = zeros({int64_t(wavs.size()), longest});
  for (size_t b = 0; b < wavs.size(); ++b)
    std::copy(wavs[b].begin(), wavs[b].end(), wave.data<float>() + int64_t(b) * longest);
  HubertOutput out =
      model.forward(wave.to(model.device()), wavs.size() > 1 ? lengths : std::vector<int64_t>{}, Tensor(), true);
  GroupHidden gh;
  for (const Tensor& h : out.hidden) gh.hidden.push_back(h.cpu());  // MINE runs on the host
  for (size_t b = 0; b < wavs.size(); ++b)
    gh.lengths.push_back(out.mask.lengths.empty() ? gh.hidden[0].size(1) : out.mask.lengths[b]);
  return gh;
}

// (T, d) frames of row b: the valid ones, or all T_max with keep_padding.
Tensor frames_of(const Tensor& h, int64_t b, int64_t valid, bool keep_padding) {
  Tensor row = h.select(0, b);
  return keep_padding ? row.contiguous() : row.narrow(0, 0, valid).contiguous();
}

}  // namespace

MiCurve analyze_model(const MiAnalysisOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  check(opt.utterances >= 1, "mi: --utterances must be >= 1, got ", opt.utterances);
  check(opt.pad_batch >= 1, "mi: padded batch size must be >= 1, got ", opt.pad_batch);
  const Manifest man = read_manifest(opt.manifest);
  check(!man.entries.empty(), "mi: manifest ", opt.manifest, " lists no utterances");
  const auto model = load_model(opt.config, opt.ckpt, 1);
  model->to(device_from_name(opt.device));
  const int64_t L = model->cfg.num_layers, d = model->cfg.d_model;
  check(L >= 1, "mi: model has no encoder layers");

  // N random utterances (seeded), in manifest order like the original's scp list.
  const int64_t total = int64_t(man.entries.size()), n = std::min(opt.utterances, total);
  Generator pick(opt.seed);
  std::vector<int64_t> chosen = sample_without_replacement(total, n, pick);
  std::sort(chosen.begin(), chosen.end());
  MiCurve c;
  c.label = model->cfg.name;
  c.per_utterance.assign(size_t(L), std::vector<double>(size_t(n), 0.0));
  c.frames.assign(size_t(n), 0);
  for (int64_t u : chosen) c.utterances.push_back(man.entries[size_t(u)].path);
  std::vector<Group> groups;
  const int64_t per_group = opt.keep_padding ? opt.pad_batch : 1;
  for (int64_t s = 0; s < n; s += per_group) {
    Group g;
    for (int64_t k = s; k < std::min(n, s + per_group); ++k) g.utts.push_back(chosen[size_t(k)]), g.slots.push_back(k);
    groups.push_back(std::move(g));
  }

  const int workers = opt.warm_start ? 1 : std::max(1, opt.workers > 0 ? opt.workers : cpu::num_threads());
  std::optional<MineEstimator> shared;  // warm_start: the one network of every call
  if (opt.warm_start) {
    MineConfig mc = opt.mine;
    mc.seed = call_seed(opt.seed, -1, -1);
    shared.emplace(d, d, mc);
  }
  std::mutex mu;  // progress, timing totals
  int64_t done = 0;
  auto run_group = [&](const Group& g) {
    const GroupHidden gh = forward_group(*model, man, g);
    const Tensor& x_all = gh.hidden[0];  // (B, T, d): input of layer 1
    double mine_s = 0;
    // Original order: for layer, for utterance (MI_Calculator.py loops layer_index outside index).
    for (int64_t l = 1; l <= L; ++l)
      for (size_t b = 0; b < g.utts.size(); ++b) {
        const std::string& path = c.utterances[size_t(g.slots[b])];
        const Tensor x = frames_of(x_all, int64_t(b), gh.lengths[b], opt.keep_padding);
        const Tensor y = frames_of(gh.hidden[size_t(l)], int64_t(b), gh.lengths[b], opt.keep_padding);
        check_mi_inputs(x, y, path + " layer_00", path + " " + layer_name(l));
        const auto s0 = std::chrono::steady_clock::now();
        double v;
        if (opt.warm_start) {
          v = shared->estimate(x, y, /*reset_between_calls=*/false);
        } else {
          MineConfig mc = opt.mine;
          mc.seed = call_seed(opt.seed, g.utts[b], l);
          MineEstimator est(d, d, mc);
          v = est.estimate(x, y);
        }
        mine_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
        c.per_utterance[size_t(l - 1)][size_t(g.slots[b])] = v;
        c.frames[size_t(g.slots[b])] = x.size(0);
      }
    std::lock_guard<std::mutex> lock(mu);
    c.mine_seconds += mine_s;
    c.mine_calls += L * int64_t(g.utts.size());
    done += int64_t(g.utts.size());
    if (opt.progress) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "mi: %lld/%lld utterances, %.1f s, ETA %.0f s\r", (long long)done, (long long)n, el,
                   el / double(done) * double(n - done));
    }
  };

  if (workers == 1) {
    for (const Group& g : groups) run_group(g);
  } else {
    // Utterances in parallel: nested OpenMP regions and the OpenMP build of OpenBLAS run single-threaded inside a
    // parallel region, grad mode is thread_local and the allocator thread-safe; every MINE call has its own
    // Generator, and the model is only read.
    std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1) num_threads(workers)
    for (size_t i = 0; i < groups.size(); ++i) {
      try {
        run_group(groups[i]);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
  }
  if (opt.progress) std::fprintf(stderr, "\n");
  summarize_curve(c, opt.shape_tol);
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return c;
}

Json curve_to_json(const MiCurve& c, const MiAnalysisOptions& opt) {
  auto numbers = [](const auto& v) {
    Json a = Json::array();
    for (const auto& x : v) a.push_back(Json(x));
    return a;
  };
  Json j = Json::object();
  j["label"] = c.label;
  j["ckpt"] = opt.ckpt;
  j["config"] = opt.config;
  j["manifest"] = opt.manifest;
  j["seed"] = opt.seed;
  Json mine = Json::object();
  mine["epochs"] = opt.mine.epochs;
  mine["batch_size"] = opt.mine.batch_size;
  mine["lr"] = opt.mine.lr;
  mine["hidden"] = opt.mine.hidden;
  mine["drop_last"] = opt.mine.drop_last;
  mine["warm_start"] = opt.warm_start;
  mine["keep_padding"] = opt.keep_padding;
  mine["kernel"] = mine_dv_table().selected();
  j["mine"] = mine;
  j["layers"] = numbers(c.layers);
  j["mi_mean"] = numbers(c.mean);
  j["mi_std"] = numbers(c.stddev);
  j["shape"] = curve_shape_name(c.shape);
  j["shape_tol"] = c.shape_tol;
  j["min_layer"] = c.min_layer;
  Json per = Json::array();
  for (const auto& v : c.per_utterance) per.push_back(numbers(v));
  j["mi_per_utterance"] = per;  // [layer][utterance]
  Json utts = Json::array();
  for (const auto& u : c.utterances) utts.push_back(Json(u));
  j["utterances"] = utts;
  j["frames"] = numbers(c.frames);
  j["seconds"] = c.seconds;
  j["mine_seconds_per_call"] = c.mine_calls ? c.mine_seconds / double(c.mine_calls) : 0.0;
  return j;
}

MiCurve curve_from_json(const Json& j, const std::string& source) {
  MiCurve c;
  c.label = j.contains("label") ? j.at("label").as_string(source + " label") : source;
  const Json::Array& per = j.at("mi_per_utterance").as_array(source + " mi_per_utterance");
  for (size_t l = 0; l < per.size(); ++l) {
    std::vector<double> v;
    for (const Json& x : per[l].as_array(source + " mi_per_utterance[" + std::to_string(l) + "]"))
      v.push_back(x.as_number(source + " mi_per_utterance value"));
    c.per_utterance.push_back(std::move(v));
  }
  check(!c.per_utterance.empty(), source, ": mi_per_utterance is empty");
  for (const auto& v : c.per_utterance)
    check(v.size() == c.per_utterance[0].size(), source, ": layers have different numbers of utterances");
  summarize_curve(c, j.contains("shape_tol") ? j.at("shape_tol").as_number(source + " shape_tol") : 0.0);
  return c;
}

void write_curve_plot(const std::string& path, const std::vector<MiCurve>& curves) {
  check(!curves.empty(), "mi: nothing to plot");
  PlotSpec spec;
  spec.title = "I(X, T_i) per layer (MINE)";  // the plot font has no semicolon
  spec.x_label = "layer";
  spec.y_label = "MI (nats)";
  auto as_double = [](const std::vector<int64_t>& v) { return std::vector<double>(v.begin(), v.end()); };
  for (const MiCurve& c : curves) {
    spec.series.push_back({c.label + " (" + curve_shape_name(c.shape) + ")", as_double(c.layers), c.mean});
    if (curves.size() == 1) {
      std::vector<double> lo(c.mean), hi(c.mean);
      for (size_t i = 0; i < lo.size(); ++i) lo[i] -= c.stddev[i], hi[i] += c.stddev[i];
      spec.series.push_back({"mean - std", as_double(c.layers), lo});
      spec.series.push_back({"mean + std", as_double(c.layers), hi});
    }
  }
  write_plot(path, spec);
}

}  // namespace hm
