#include "train/layer_mi.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>

#include "cpu/parallel.h"
#include "engine/autograd.h"
#include "train/asr_train.h"
#include "train/audio.h"
#include "train/checkpoint.h"
#include "train/manifest.h"
#include "train/masking.h"

namespace hm {

namespace {

// (T, d) rows of every hidden state of a batch of one.
std::vector<Tensor> rows(const std::vector<Tensor>& hidden) {
  std::vector<Tensor> out;
  for (const Tensor& h : hidden) out.push_back(h.select(0, 0).contiguous());
  return out;
}

std::shared_ptr<HubertModel> hubert_from(const Checkpoint& ck, const std::string& path) {
  check(!ck.state.is_null() && ck.state.contains("model_config"), path, ": has no model_config");
  ModelConfig mc = ModelConfig::from_json(ck.state.at("model_config"), path + " model_config");
  NamedTensors w;
  for (const auto& [n, t] : ck.model) {
    if (n.rfind("aux.", 0) == 0) continue;  // the CTC head of a fine-tuning checkpoint
    if (n == "logit_generator.label_embeddings") mc.num_classes = t.size(0);
    w.emplace_back(n, t);
  }
  auto m = std::make_shared<HubertModel>(mc, 1);
  m->load_state_dict(w);
  m->eval();
  return m;
}

std::vector<Tensor> hubert_hidden(const HubertModel& m, const std::string& path) {
  const Audio a = read_audio(path);
  const int64_t n = int64_t(a.samples.size());
  check(m.frames_for(n) >= 2, path, ": ", n, " samples give fewer than 2 frames");
  return rows(m.forward(from_vector(a.samples, {1, n}), {}, Tensor(), true).hidden);
}

}  // namespace

HiddenStates hidden_states_of_checkpoint(const std::string& ckpt) {
  const Checkpoint ck = load_checkpoint(ckpt);
  if (!ck.state.is_null() && ck.state.contains("asr_config")) {
    auto l = std::make_shared<LoadedAsr>(load_asr_checkpoint(ckpt));
    return [l](const std::string& path) {
      NoGradGuard ng;
      std::vector<Tensor> levels;
      std::vector<Tensor> in;
      if (l->frontend->upstream) {
        // Upstream layers first (X = its input of layer 1), then the downstream's.
        levels = hubert_hidden(*l->frontend->upstream, path);
        in = l->frontend->features(path);
      } else {
        in = l->frontend->features(path);
      }
      for (Tensor& t : in) t = t.unsqueeze(0);
      const AsrEncoded enc = l->model->encode(in, {}, true);
      const std::vector<Tensor> down = rows(enc.hidden);
      if (levels.empty()) return down;
      // Frame rates agree (the linear input layer keeps the upstream's 50 Hz frames).
      levels.insert(levels.end(), down.begin() + 1, down.end());
      return levels;
    };
  }
  const std::shared_ptr<HubertModel> m = hubert_from(ck, ckpt);
  return [m](const std::string& path) {
    NoGradGuard ng;
    return hubert_hidden(*m, path);
  };
}

MiCurve layer_mi_curve(const HiddenStates& hidden, const std::string& label, const LayerMiOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  check(opt.utterances >= 1, "mi: utterances must be >= 1, got ", opt.utterances);
  const Manifest man = read_manifest(opt.manifest);
  check(!man.entries.empty(), "mi: manifest ", opt.manifest, " lists no utterances");
  const int64_t total = int64_t(man.entries.size()), n = std::min(opt.utterances, total);
  Generator pick(opt.seed);
  std::vector<int64_t> chosen = sample_without_replacement(total, n, pick);
  std::sort(chosen.begin(), chosen.end());

  // Hidden states first (the models run with their own threading), then every MINE call in parallel.
  std::vector<std::vector<Tensor>> states;
  MiCurve c;
  c.label = label;
  for (int64_t u : chosen) {
    c.utterances.push_back(man.audio_path(size_t(u)));
    states.push_back(hidden(c.utterances.back()));
    check(states.back().size() >= 2, label, ": ", c.utterances.back(), " gave no layer outputs");
    check(states.back().size() == states.front().size(), label, ": utterances with different layer counts");
    c.frames.push_back(states.back()[0].size(0));
  }
  const size_t L = states[0].size() - 1;
  c.per_utterance.assign(L, std::vector<double>(size_t(n), 0.0));
  struct Task {
    size_t utt, layer;
  };
  std::vector<Task> tasks;
  for (size_t u = 0; u < size_t(n); ++u)
    for (size_t l = 1; l <= L; ++l) tasks.push_back({u, l});
  const int workers = std::max(1, opt.workers > 0 ? opt.workers : cpu::num_threads());
  std::mutex mu;
  std::exception_ptr error;
  int64_t done = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(workers)
  for (size_t i = 0; i < tasks.size(); ++i) {
    try {
      const Task& t = tasks[i];
      const Tensor& x = states[t.utt][0];
      const Tensor& y = states[t.utt][t.layer];
      check_mi_inputs(x, y, c.utterances[t.utt] + " X", c.utterances[t.utt] + " layer " + std::to_string(t.layer));
      MineConfig mc = opt.mine;
      // splitmix-style seed per (seed, utterance, layer), independent of the worker count and order.
      uint64_t z = opt.seed * 0x9E3779B97F4A7C15ULL ^ (uint64_t(chosen[t.utt]) << 20) ^ uint64_t(t.layer);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      mc.seed = z ^ (z >> 31);
      MineEstimator est(x.size(1), y.size(1), mc);
      const double v = est.estimate(x, y);
      std::lock_guard<std::mutex> lock(mu);
      c.per_utterance[t.layer - 1][t.utt] = v;
      c.mine_calls++;
      if (opt.progress && ++done % 20 == 0)
        std::fprintf(stderr, "mi %s: %lld/%zu MINE calls\r", label.c_str(), (long long)done, tasks.size());
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  if (opt.progress) std::fprintf(stderr, "\n");
  summarize_curve(c, opt.shape_tol);
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return c;
}

}  // namespace hm
