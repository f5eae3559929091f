// Training-step time of the model presets vs the PyTorch reference models (tools/reference/hubmamba_ref.py) on
// the same shapes and thread count, measured in the same run (DESIGN.md 7). One step = training-mode forward,
// cosine logits of fairseq-style masked frames, cross-entropy + 10 * features_pen, backward (no optimiser, as
// bench/pytorch_baseline.py model-step). Layer drop off on both sides. Peak memory: the engine allocator's
// peak bytes for ours, ru_maxrss (whole process) for PyTorch.
//
//   ./build/bench_models [--threads N] [--reps R] [--batch B] [--seconds S] [--presets a,b,...] [--no-pytorch]
//   ./build/bench_models --scaling OUT.png [--presets a,b]   step time vs utterance length 2..32 s (B = 1):
//       attention grows quadratically with length, the Mamba scan linearly.
//   ./build/bench_models --ctc [...]   CTC fine-tuning step instead (issue 7): the CNN frozen (run without autograd,
//       feature_grad_mult 0, as hubmamba finetune), span-masked projected features, the encoder, a linear head to
//       32 letters, log_softmax, CTC (sum, blank 0, zero_infinity) against random targets of T/4 letters,
//       backward; PyTorch side `bench/pytorch_baseline.py ctc-step`.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cpu/parallel.h"
#include "engine/allocator.h"
#include "engine/json.h"
#include "models/hubert.h"
#include "models/layers.h"
#include "ops/ops.h"
#include "train/masking.h"
#include "train/plot.h"

namespace {

using namespace hm;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double step_seconds(const HubertModel& m, const Tensor& wave, Generator& gen) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t B = wave.size(0), T = m.frames_for(wave.size(1));
  const auto mask = compute_mask_indices(B, T, {}, MaskConfig{}, gen);
  HubertOutput out = m.forward(wave, {}, from_vector(mask, {B, T}), false);
  std::vector<int64_t> idx, tgt;
  for (int64_t i = 0; i < B * T; ++i)
    if (mask[size_t(i)]) idx.push_back(i), tgt.push_back(int64_t(gen.next_below(uint64_t(m.cfg.num_classes))));
  Tensor frames = index_select(out.final.reshape({B * T, m.cfg.d_model}), 0, from_vector(idx, {int64_t(idx.size())}));
  Tensor loss = add(cross_entropy(m.logits(frames), from_vector(tgt, {int64_t(tgt.size())})), mul(out.features_pen, 10.0));
  loss.backward();
  const_cast<HubertModel&>(m).zero_grad();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

constexpr int64_t kCtcVocab = 32;  // as bench/pytorch_baseline.py CTC_VOCAB

// One CTC fine-tuning step (see the header); `head` is the linear CTC layer.
double ctc_step_seconds(const HubertModel& m, const Linear& head, const Tensor& wave, Generator& gen) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t B = wave.size(0), T = m.frames_for(wave.size(1)), S = std::max<int64_t>(1, T / 4);
  const auto mask = compute_mask_indices(B, T, {}, MaskConfig{}, gen);
  HubertOutput out = m.forward(wave, {}, from_vector(mask, {B, T}), false);  // cfg.feature_grad_mult = 0: frozen CNN
  std::vector<int64_t> tgt(size_t(B * S));
  for (int64_t& t : tgt) t = 1 + int64_t(gen.next_below(uint64_t(kCtcVocab - 1)));
  const Tensor lp = log_softmax(head.forward(out.final), -1);  // (B, T, V)
  Tensor loss = ctc_loss(lp.transpose(0, 1).contiguous(), from_vector(tgt, {B, S}),
                         from_vector(std::vector<int64_t>(size_t(B), T), {B}),
                         from_vector(std::vector<int64_t>(size_t(B), S), {B}), 0, LossReduction::sum, true);
  loss.backward();
  const_cast<HubertModel&>(m).zero_grad();
  const_cast<Linear&>(head).zero_grad();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Json pytorch_step(const std::string& preset, int threads, int reps, int batch, double seconds, bool ctc = false) {
  std::ostringstream cmd;
  cmd << "/usr/bin/python3 " << HM_BENCH_SOURCE_DIR << "/bench/pytorch_baseline.py " << (ctc ? "ctc-step" : "model-step")
      << " --preset " << preset
      << " --batch " << batch << " --seconds " << seconds << " --threads " << threads << " --reps " << reps
      << " 2>/dev/null";
  FILE* p = popen(cmd.str().c_str(), "r");
  if (!p) return Json();
  std::string out;
  std::array<char, 4096> buf;
  while (fgets(buf.data(), int(buf.size()), p)) out += buf.data();
  if (pclose(p) != 0 || out.empty()) return Json();
  return Json::parse(out.substr(out.find('{')), "pytorch_baseline.py");
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 3, batch = 4;
  double seconds = 4.0;
  bool pytorch = true, ctc = false;
  std::string scaling_png;
  std::string presets = "tiny-transformer,tiny-conformer,tiny-mamba,tiny-extbimamba,tiny-innbimamba,tiny-conbimamba";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--threads") threads = std::stoi(val());
    else if (a == "--reps") reps = std::stoi(val());
    else if (a == "--batch") batch = std::stoi(val());
    else if (a == "--seconds") seconds = std::stod(val());
    else if (a == "--presets") presets = val();
    else if (a == "--no-pytorch") pytorch = false;
    else if (a == "--scaling") scaling_png = val();
    else if (a == "--ctc") ctc = true;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  cpu::set_num_threads(threads);
  if (!scaling_png.empty()) {
    if (presets.find("tiny-conformer") != std::string::npos) presets = "tiny-transformer,tiny-mamba";
    PlotSpec plot{"training step vs utterance length (B=1)", "seconds of audio", "step time (s)", {}, false, 800, 500};
    std::printf("step time (fwd+bwd) vs length, B=1, %d threads, median of %d\n%-18s", threads, reps, "preset");
    const std::vector<double> lengths = {2, 4, 8, 16, 32};
    for (double l : lengths) std::printf(" %8.0fs", l);
    std::printf("\n");
    std::stringstream ps(presets);
    std::string name;
    while (std::getline(ps, name, ',')) {
      ModelConfig cfg = preset(name);
      cfg.encoder_layerdrop = 0.0;
      HubertModel m(cfg, 0);
      m.train();
      Generator gen(0);
      Series series{name, {}, {}};
      std::printf("%-18s", name.c_str());
      for (double l : lengths) {
        Tensor wave = randn({1, int64_t(l * 16000)}, DType::f32, gen);
        step_seconds(m, wave, gen);
        std::vector<double> times;
        for (int r = 0; r < reps; ++r) times.push_back(step_seconds(m, wave, gen));
        series.x.push_back(l);
        series.y.push_back(median(times));
        std::printf(" %9.3f", series.y.back());
        std::fflush(stdout);
      }
      std::printf("\n");
      plot.series.push_back(series);
    }
    write_plot(scaling_png, plot);
    return 0;
  }
  std::printf("%s (fwd+bwd), B=%d x %.1f s, %d threads, median of %d\n", ctc ? "CTC fine-tuning step" : "model step",
              batch, seconds, threads, reps);
  std::printf("%-18s %10s %10s %8s %12s %12s\n", "preset", "ours s", "torch s", "ratio", "ours MiB", "torch MiB");
  std::stringstream ss(presets);
  std::string name;
  while (std::getline(ss, name, ',')) {
    ModelConfig cfg = preset(name);
    cfg.encoder_layerdrop = 0.0;
    if (ctc) cfg.feature_grad_mult = 0.0;  // fine-tuning freezes the CNN
    HubertModel m(cfg, 0);
    m.train();
    Generator gen(0);
    const Linear head(cfg.d_model, kCtcVocab, true, gen);
    Tensor wave = randn({batch, int64_t(seconds * 16000)}, DType::f32, gen);
    auto one = [&] { return ctc ? ctc_step_seconds(m, head, wave, gen) : step_seconds(m, wave, gen); };
    one();  // warm-up (allocator cache, page faults)
    cpu_allocator::reset_peak();
    std::vector<double> times;
    for (int r = 0; r < reps; ++r) times.push_back(one());
    const double ours = median(times);
    const double ours_mib = double(cpu_allocator::stats().peak_bytes) / (1 << 20);
    double torch_s = 0, torch_mib = 0;
    if (pytorch) {
      const Json j = pytorch_step(name, threads, reps, batch, seconds, ctc);
      if (j.is_object()) torch_s = j.at("median_s").as_number(), torch_mib = j.at("peak_rss_mb").as_number();
    }
    std::printf("%-18s %10.3f %10.3f %8.2f %12.0f %12.0f\n", name.c_str(), ours, torch_s,
                torch_s > 0 ? torch_s / ours : 0.0, ours_mib, torch_mib);
    std::fflush(stdout);
  }
  return 0;
}
