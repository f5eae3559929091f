// `hubmamba bench`: training-step throughput of a model preset on the CPU or a GPU — the engine side of the
// "training step vs PyTorch eager" benchmark (bench/pytorch_cuda_train_step.py is the other side and computes the
// same step: masked-prediction loss of HuBERT pretraining, backward, AdamW update). Prints one JSON line.
//
// The frame mask is deterministic (frames with (t / 10) % 2 == 0, i.e. half the frames in spans of 10) and the
// targets are (7 t + 31 b) mod C, so both sides do identical work. FLOPs are the model's matmul + convolution work
// counted analytically from the configuration (see model_flops), so MFU is comparable across implementations.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "engine/autocast.h"
#include "engine/device.h"
#include "models/hubert.h"
#include "ops/ops.h"
#include "train/cli.h"
#include "train/optim.h"

namespace hm::cli {
namespace {

// Forward multiply-adds x 2 of the layers that dominate: CNN convolutions, feature projection, positional conv,
// the encoder's linear layers and attention products, and the pretraining head; x 3 for forward + backward.
double model_flops(const ModelConfig& c, int64_t B, int64_t L) {
  double f = 0;
  int64_t len = L, cin = 1;
  for (const ConvLayerSpec& s : c.conv_layers) {
    len = (len - s.kernel) / s.stride + 1;
    f += 2.0 * double(B * len) * double(s.channels) * double(cin * s.kernel);
    cin = s.channels;
  }
  const double T = double(len), d = double(c.d_model), BT = double(B) * T;
  f += 2.0 * BT * double(cin) * d;                                                  // feature projection
  f += 2.0 * BT * d * (d / double(c.pos_conv_groups)) * double(c.pos_conv_kernel);  // positional conv
  const double di = double(c.expand) * d, ffn = double(c.ffn_dim);
  double per_layer = 0;
  const std::string& t = c.layer_type;
  const double attn = 2.0 * BT * 4 * d * d + 2.0 * 2.0 * double(B) * T * T * d;  // projections + QK^T, PV
  const double ffn_cost = 2.0 * BT * 2 * d * ffn;
  // One Mamba mixer: in_proj (d -> 2 di), x_proj (di -> dt_rank + 2N), dt_proj, out_proj (di -> d).
  const double dt_rank = std::ceil(d / 16.0), N = double(c.d_state);
  const double mixer = 2.0 * BT * (d * 2 * di + di * (dt_rank + 2 * N) + dt_rank * di + di * d);
  const double conv_module = 2.0 * BT * (d * 2 * d + d * d) + 2.0 * BT * d * double(c.depthwise_kernel);
  if (t == "transformer") per_layer = attn + ffn_cost;
  else if (t == "conformer") per_layer = attn + 2 * ffn_cost + conv_module;
  else if (t == "mamba") per_layer = mixer + (c.mamba_ffn ? ffn_cost : 0);
  else if (t == "extbimamba" || t == "innbimamba") per_layer = 2 * mixer + (c.mamba_ffn ? ffn_cost : 0);
  else if (t == "conbimamba") per_layer = 2 * mixer + 2 * ffn_cost + conv_module;
  f += double(c.num_layers) * per_layer;
  f += 2.0 * BT * 0.5 * (d * double(c.final_dim) + double(c.final_dim) * double(c.num_classes));  // head, masked half
  return 3.0 * f;
}

int run_bench(int argc, char** argv) {
  Args args("bench",
            "Time training steps (forward, masked-prediction loss, backward, AdamW) of a model preset on random audio.\n"
            "Example: hubmamba bench --model base-conbimamba --device cuda --precision bf16 --batch 8 --seconds 10");
  args.option("model", "tiny-conbimamba", "model preset or JSON config")
      .option("device", "cpu", "cpu or cuda")
      .option("precision", "f32", "f32, or bf16 (CUDA autocast: bf16 GEMM/conv/attention, f32 master weights)")
      .option("batch", "8", "utterances per batch")
      .option("seconds", "10", "seconds of audio per utterance (16 kHz)")
      .option("steps", "3", "timed steps")
      .option("warmup", "1", "untimed steps first")
      .option("peak-tflops", "0", "device peak for the MFU figure (0: 989 for bf16 / 67 for f32 on CUDA, none on CPU)");
  if (!args.parse(argc, argv)) return 0;
  const Device dev = device_from_name(args.str("device"));
  check(dev.type == DeviceType::cpu || device_available(dev.type), "bench: --device ", args.str("device"),
        ": no usable GPU (or a build without the CUDA backend)");
  const std::string precision = args.str("precision");
  check(precision == "f32" || precision == "bf16", "bench: --precision must be f32 or bf16, got ", precision);
  check(precision == "f32" || dev.is_cuda(), "bench: --precision bf16 needs --device cuda");
  const int64_t B = args.integer("batch"), L = int64_t(args.real("seconds") * 16000);
  const int64_t steps = args.integer("steps"), warmup = args.integer("warmup");
  check(B >= 1 && L >= 400 && steps >= 1 && warmup >= 0, "bench: bad --batch/--seconds/--steps/--warmup");

  ModelConfig cfg = ModelConfig::load(args.str("model"));
  HubertModel model(cfg, 1);
  model.to(dev);
  model.train();
  Adam opt(model.named_parameters(), AdamConfig{5e-4, 0.9, 0.98, 1e-6, 0.01, true});
  Generator gen(3);
  const Tensor wave = randn({B, L}, DType::f32, gen).to(dev);
  const int64_t T = cfg.cnn_output_length(L);
  std::vector<uint8_t> mask(size_t(B * T));
  std::vector<int64_t> rows, targets;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      if ((mask[size_t(b * T + t)] = uint8_t((t / 10) % 2 == 0)))
        rows.push_back(b * T + t), targets.push_back((7 * t + 31 * b) % cfg.num_classes);
  const int64_t n = int64_t(rows.size());
  const Tensor frame_mask = from_vector(mask, {B, T}).to(dev);
  const Tensor row_index = from_vector(rows, {n}).to(dev), target = from_vector(targets, {n}).to(dev);

  double loss_value = 0;
  auto step = [&] {
    model.zero_grad();
    Tensor loss;
    {
      AutocastGuard autocast(precision == "bf16");
      HubertOutput out = model.forward(wave, {}, frame_mask, false);
      const Tensor logits = model.logits(index_select(out.final.reshape({B * T, cfg.d_model}), 0, row_index));
      loss = add(cross_entropy(logits, target), mul(out.features_pen, 10.0));
    }
    loss.backward();
    clip_grad_norm(opt.params(), 10.0);
    opt.step(5e-4);
    loss_value = loss.item();  // waits for the device: the step is complete when the clock is read
  };
  for (int64_t i = 0; i < warmup; ++i) step();
  std::vector<double> ms;
  for (int64_t i = 0; i < steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  const double flops = model_flops(cfg, B, L);
  double peak = args.real("peak-tflops");
  if (peak == 0 && dev.is_cuda()) peak = precision == "bf16" ? 989.0 : 67.0;  // H100 SXM dense bf16 / f32
  const double tflops = flops / (median / 1000) / 1e12;
  const AllocatorStats mem = dev.is_cuda() ? device_backend(dev).stats() : AllocatorStats{};
  std::printf("{\"impl\": \"hubmamba\", \"model\": \"%s\", \"device\": \"%s\", \"precision\": \"%s\", \"batch\": %lld, "
              "\"seconds\": %g, \"ms_per_step\": %.2f, \"audio_s_per_s\": %.1f, \"tflops\": %.2f, \"mfu\": %.4f, "
              "\"loss\": %.4f, \"peak_device_mib\": %.0f}\n",
              cfg.name.c_str(), args.str("device").c_str(), precision.c_str(), (long long)B, args.real("seconds"), median,
              double(B) * args.real("seconds") / (median / 1000), tflops, peak > 0 ? tflops / peak : 0.0, loss_value,
              double(mem.peak_bytes) / (1 << 20));
  return 0;
}

const CommandRegistrar reg("bench", "training-step throughput of a model on cpu or cuda (JSON line)", run_bench);

}  // namespace
}  // namespace hm::cli
