// GPU benchmark of the norm and loss ops (layer / group / batch norm, cross-entropy, CTC): forward + backward of
// each op at HuBERT-Base shapes in f32, every CUDA variant of layer norm, against PyTorch eager on the same shapes
// (bench/pytorch_cuda_normloss.py, run from here so both numbers come from the same machine and minute).
// CUDA-event timing on hubmamba's stream, median of 20 repeats after 3 warm-up runs.
//   bench_cuda_normloss [--repeats N]
// Without a GPU (or in a CPU-only build) it prints "skipped: no GPU" and exits 0.
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "engine/device.h"
#include "ops/ops.h"
#include "ops/registry.h"

#if HUBMAMBA_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace hm {
namespace {

#if HUBMAMBA_WITH_CUDA
// Median milliseconds of `step` (forward + backward), CUDA events around each run on hubmamba's one stream.
double time_ms(const std::function<void()>& step, int repeats) {
  for (int i = 0; i < 3; ++i) step();
  cuda::synchronize();
  cudaEvent_t start, stop;
  cuda::check(cudaEventCreate(&start), "cudaEventCreate");
  cuda::check(cudaEventCreate(&stop), "cudaEventCreate");
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    cuda::check(cudaEventRecord(start, cuda::stream()), "cudaEventRecord");
    step();
    cuda::check(cudaEventRecord(stop, cuda::stream()), "cudaEventRecord");
    cuda::check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float t = 0;
    cuda::check(cudaEventElapsedTime(&t, start, stop), "cudaEventElapsedTime");
    ms.push_back(t);
  }
  cuda::check(cudaEventDestroy(start), "cudaEventDestroy");
  cuda::check(cudaEventDestroy(stop), "cudaEventDestroy");
  return bench::median(ms);
}

// A random (never zero) f32 leaf on the GPU that requires grad.
Tensor leaf(const Shape& shape, uint64_t seed, double scale = 1) {
  Generator gen(seed);
  Tensor t = add(mul(randn(shape, DType::f32, gen), scale), 1e-3).to(Device::cuda());
  t.requires_grad_(true);
  return t;
}

// Forward, backward with a ones upstream gradient, and the input gradients dropped (so that every run does the
// same work, like PyTorch's zero_grad(set_to_none=True)).
void fwd_bwd(const std::function<Tensor()>& f, const std::vector<Tensor>& leaves) {
  for (const Tensor& t : leaves) const_cast<Tensor&>(t).zero_grad();
  const Tensor y = f();
  y.backward(full(y.shape(), 1.0, y.dtype(), y.device()));
}

// The PyTorch baseline's JSON line (python3 from PATH: the GPU machine's PyTorch), or "" when it cannot run.
std::string pytorch_baseline() {
  const std::string cmd = "python3 " + bench::bench_file("pytorch_cuda_normloss.py") + " 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return "";
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  return pclose(pipe) == 0 ? out : "";
}

int run(int repeats) {
  cudaDeviceProp prop{};
  cuda::check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  std::printf("bench_cuda_normloss on %s, f32, fwd+bwd per op, median of %d after 3 warm-up runs\n", prop.name,
              repeats);
  struct Row {
    std::string key, what;
    double ms;
  };
  std::vector<Row> rows;

  // Layer norm over HuBERT-Base's 768 channels, 8 utterances of 500 frames; every CUDA variant.
  {
    const Tensor x = leaf({4000, 768}, 1), w = leaf({768}, 2), b = leaf({768}, 3);
    for (const std::string& v : layer_norm_forward_cuda_table<float>().variants()) {
      set_kernel_overrides("layer_norm_forward_f32=" + v + ",layer_norm_backward_f32=" + v);
      rows.push_back({"", "layer_norm (4000, 768) " + v,
                      time_ms([&] { fwd_bwd([&] { return layer_norm(x, w, b); }, {x, w, b}); }, repeats)});
    }
    clear_kernel_overrides();
    rows.push_back({"layer_norm", "layer_norm (4000, 768) default",
                    time_ms([&] { fwd_bwd([&] { return layer_norm(x, w, b); }, {x, w, b}); }, repeats)});
  }
  // HuBERT's GroupNorm(512, 512) after the first conv: 8 x 1 s of audio (3199 frames).
  {
    const Tensor x = leaf({8, 512, 3199}, 4), w = leaf({512}, 5), b = leaf({512}, 6);
    rows.push_back({"group_norm", "group_norm (8, 512, 3199) G=512",
                    time_ms([&] { fwd_bwd([&] { return group_norm(x, 512, w, b); }, {x, w, b}); }, repeats)});
  }
  // BatchNorm1d of a Conformer convolution module, training mode with running statistics.
  {
    const Tensor x = leaf({8, 768, 500}, 7), w = leaf({768}, 8), b = leaf({768}, 9);
    const Tensor rm = zeros({768}, DType::f32, Device::cuda()), rv = full({768}, 1.0, DType::f32, Device::cuda());
    rows.push_back({"batch_norm", "batch_norm (8, 768, 500) training",
                    time_ms([&] { fwd_bwd([&] { return batch_norm(x, w, b, rm, rv, true); }, {x, w, b}); },
                            repeats)});
  }
  // Masked-prediction cross-entropy: 4000 frames, 504 classes, mean reduction.
  {
    const Tensor x = leaf({4000, 504}, 10, 3.0);
    std::vector<int64_t> t(4000);
    for (int64_t i = 0; i < 4000; ++i) t[size_t(i)] = (7 * i + 31) % 504;
    const Tensor tg = from_vector(t, {4000}).to(Device::cuda());
    rows.push_back({"cross_entropy", "cross_entropy (4000, 504) mean",
                    time_ms([&] { fwd_bwd([&] { return cross_entropy(x, tg); }, {x}); }, repeats)});
  }
  // CTC fine-tuning: 8 utterances of 500 frames, 32 characters, 100-label targets.
  {
    Generator gen(11);
    const Tensor logits = randn({500, 8, 32}, DType::f32, gen);
    const Tensor lp = log_softmax(logits, -1).to(Device::cuda());
    Tensor x = lp.detach();
    x.requires_grad_(true);
    std::vector<int64_t> t(800);
    for (int64_t i = 0; i < 800; ++i) t[size_t(i)] = 1 + (13 * i + 5) % 31;
    const Tensor tg = from_vector(t, {8, 100}).to(Device::cuda());
    const Tensor il = full({8}, 500.0, DType::i64), tl = full({8}, 100.0, DType::i64);
    rows.push_back({"ctc_loss", "ctc_loss T=500 B=8 C=32 S=100 mean",
                    time_ms([&] { fwd_bwd([&] { return ctc_loss(x, tg, il, tl); }, {x}); }, repeats)});
  }

  const std::string baseline = pytorch_baseline();
  if (baseline.empty()) std::printf("(PyTorch baseline unavailable: python3 with CUDA torch not found)\n");
  std::printf("%-44s %12s %12s %16s\n", "op (fwd+bwd)", "hubmamba ms", "torch ms", "torch/hubmamba");
  std::string json = "{\"impl\": \"hubmamba\"";
  for (const Row& r : rows) {
    std::printf("%-44s %12.3f", r.what.c_str(), r.ms);
    if (!r.key.empty() && !baseline.empty()) {
      const double torch_ms = bench::json_number(baseline, r.key);
      std::printf(" %12.3f %16.2f", torch_ms, torch_ms / r.ms);
    }
    std::printf("\n");
    if (!r.key.empty()) json += ", \"" + r.key + "\": " + std::to_string(r.ms);
  }
  std::printf("%s}\n", json.c_str());
  return 0;
}
#endif

}  // namespace
}  // namespace hm

int main(int argc, char** argv) {
  int repeats = 20;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--repeats") == 0) repeats = std::atoi(argv[i + 1]);
#if HUBMAMBA_WITH_CUDA
  if (hm::device_available(hm::DeviceType::cuda)) return hm::run(repeats);
#endif
  (void)repeats;
  std::printf("skipped: no GPU\n");
  return 0;
}
