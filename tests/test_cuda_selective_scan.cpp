// conformance: selective_scan@cuda — every CUDA variant of the selective scan (cuda_sequential, cuda_chunked)
// against the CPU scalar reference (DESIGN.md 6 tier 2): forward output, last state and all eight gradients, f32
// and f64 (tight) and bf16 sequences (loose), on the CPU conformance shapes plus lengths around the 2048-step chunk
// (2047, 2048, 2049, 4100) with N = 1 and 16 and more channels than one backward channel group. Device output
// buffers are poisoned with NaN first, so an element a kernel forgets to write fails. Then: two runs give
// bit-identical results (no atomics), the op on CUDA matches the op on the CPU (forward and every gradient, through
// autograd), and bad inputs fail with clear errors. Every test that touches the GPU skips without one.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "engine/safetensors.h"
#include "ops/selective_scan.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

using cuda::bfloat16_t;

struct Case {
  int64_t B, D, L, N;
  bool z, Dskip, bias, softplus, dlast;
  double delta_shift = 0;  // delta = randn * 0.5 + shift (25: softplus linear branch, -12: tiny steps)
};

const std::vector<Case> kCases = {
    // B, D, L, N, z, Dskip, bias, softplus, dlast, delta_shift  (the CPU conformance shapes first)
    {1, 1, 1, 1, false, false, false, false, false},
    {1, 1, 1, 16, true, true, true, true, true},
    {2, 3, 2, 4, true, true, true, true, false},
    {1, 2, 7, 16, false, true, false, true, true},
    {2, 3, 64, 5, true, false, true, true, false},
    {1, 2, 65, 3, true, true, true, true, true},
    {2, 5, 129, 16, true, true, true, true, true},
    {1, 2, 128, 1, false, false, true, true, false},
    {2, 70, 37, 16, true, true, true, true, true},     // 9 backward channel groups of 8, the last partial
    {1, 3, 200, 8, true, true, false, false, false},   // no softplus
    {2, 2, 99, 16, true, true, true, true, true, 25},  // large delta: softplus linear branch, exp(dt * A) -> 0
    {2, 2, 99, 4, true, true, true, true, true, -12},  // tiny delta: h barely moves
    {2, 130, 150, 16, true, true, true, true, true},
    // Around the 2048-step chunk of cuda_chunked: one step short, exact, one step into the second chunk, three.
    {1, 3, 2047, 16, true, true, true, true, true},
    {2, 2, 2048, 1, true, true, true, true, true},
    {1, 9, 2049, 16, true, true, true, true, true},  // and two channel groups
    {1, 2, 2049, 1, false, false, false, true, false},
    {1, 2, 4100, 1, false, true, true, true, true},
    {2, 3, 4100, 16, true, true, true, true, true},
};

std::vector<double> random_vec(int64_t n, uint64_t seed, double scale = 1.0, double shift = 0.0) {
  Generator gen(seed);
  std::vector<double> v = randn({n}, DType::f64, gen).to_vector<double>();
  for (double& x : v) x = x * scale + shift;
  return v;
}

// Values as the element type `dtype` holds them (bf16: rounded to nearest even; f32: rounded to float).
std::vector<double> representable(std::vector<double> v, DType dtype) {
  for (double& x : v) {
    if (dtype == DType::bf16) x = bf16_to_float(float_to_bf16(float(x)));
    if (dtype == DType::f32) x = double(float(x));
  }
  return v;
}

// A CUDA tensor of `dtype` holding v (exactly representable values). bf16 goes up as float32 and is converted on
// the device (exact for bf16-representable values; the CPU has no bf16 loops).
Tensor upload(const std::vector<double>& v, const Shape& shape, DType dtype) {
  const Tensor host = from_vector<double>(v, shape).to(dtype == DType::f64 ? DType::f64 : DType::f32);
  const Tensor dev = host.to(Device::cuda());
  return dtype == DType::bf16 ? dev.to(DType::bf16) : dev;
}

Tensor poisoned(const Shape& shape, DType dtype) {
  return upload(std::vector<double>(size_t(shape_numel(shape)), std::numeric_limits<double>::quiet_NaN()), shape,
                dtype);
}

// Values of a CUDA tensor (bf16 widened to float32 on the device first).
std::vector<double> download(const Tensor& t) {
  return (t.dtype() == DType::bf16 ? t.detach().to(DType::f32) : t.detach()).cpu().to_vector<double>();
}

// |a - b| <= rtol * (max|ref| + |ref|) for every element (NaN fails).
::testing::AssertionResult close(const char* what, const std::vector<double>& got, const std::vector<double>& ref,
                                 double rtol) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << what << ": " << got.size() << " elements vs " << ref.size();
  double scale = 0;
  for (double r : ref) scale = std::max(scale, std::abs(r));
  for (size_t i = 0; i < ref.size(); ++i) {
    const double err = std::abs(got[i] - ref[i]);
    if (!(err <= rtol * (scale + std::abs(ref[i]))))
      return ::testing::AssertionFailure() << what << "[" << i << "] = " << got[i] << " vs scalar " << ref[i]
                                           << " (max |ref| " << scale << ", rtol " << rtol << ")";
  }
  return ::testing::AssertionSuccess();
}

// The inputs of one case as exact values of their element types: sequences in `seq`, weights in `wt`.
struct Inputs {
  Case c;
  DType seq, wt;
  std::vector<double> u, delta, A_log, Bm, Cm, Dskip, z, bias, dout, dlast;
};

Inputs make_inputs(const Case& c, DType seq, uint64_t seed) {
  const DType wt = seq == DType::bf16 ? DType::f32 : seq;
  const int64_t B = c.B, D = c.D, L = c.L, N = c.N;
  Inputs in{c, seq, wt, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  in.u = representable(random_vec(B * D * L, seed), seq);
  in.delta = representable(random_vec(B * D * L, seed + 1, 0.5, c.delta_shift + (c.softplus ? 0.0 : 0.6)), seq);
  in.A_log = representable(random_vec(D * N, seed + 2, 0.5), wt);
  in.Bm = representable(random_vec(B * N * L, seed + 3), seq);
  in.Cm = representable(random_vec(B * N * L, seed + 4), seq);
  in.Dskip = representable(random_vec(D, seed + 5), wt);
  in.z = representable(random_vec(B * D * L, seed + 6), seq);
  in.bias = representable(random_vec(D, seed + 7, 0.3), wt);
  in.dout = representable(random_vec(B * D * L, seed + 8), seq);
  in.dlast = representable(random_vec(B * D * N, seed + 9), wt);
  return in;
}

// Everything one run produces, as doubles. dA is w.r.t. A_log.
struct Results {
  std::vector<double> out, last, du, ddelta, dA_log, dB, dC, dDskip, dz, ddelta_bias;
};

// The CPU scalar reference in R (float for f32 and bf16 cases, double for f64) on the same values.
template <class R>
Results reference(const Inputs& x) {
  const Case& c = x.c;
  const int64_t B = c.B, D = c.D, L = c.L, N = c.N;
  auto cast = [](const std::vector<double>& v) { return std::vector<R>(v.begin(), v.end()); };
  const auto u = cast(x.u), delta = cast(x.delta), Bm = cast(x.Bm), Cm = cast(x.Cm), Dskip = cast(x.Dskip);
  const auto z = cast(x.z), bias = cast(x.bias), dout = cast(x.dout), dlast = cast(x.dlast);
  std::vector<R> A(size_t(D * N));
  for (size_t i = 0; i < A.size(); ++i) A[i] = -std::exp(R(x.A_log[i]));  // A = -exp(A_log)
  cpu::ScanInputs<R> in;
  in.B = B, in.D = D, in.L = L, in.N = N;
  in.u = u.data(), in.delta = delta.data(), in.A = A.data(), in.Bm = Bm.data(), in.Cm = Cm.data();
  in.Dskip = c.Dskip ? Dskip.data() : nullptr, in.z = c.z ? z.data() : nullptr;
  in.delta_bias = c.bias ? bias.data() : nullptr, in.softplus = c.softplus;

  const cpu::ScanKernels k = selective_scan_table().get("scalar");
  std::vector<R> out(size_t(B * D * L)), last(size_t(B * D * N));
  k.forward<R>()(in, out.data(), last.data(), nullptr);
  std::vector<R> du(out.size()), ddelta(out.size()), dA(A.size()), dB(size_t(B * N * L)), dC(dB.size());
  std::vector<R> dDskip(static_cast<size_t>(D)), dz(out.size()), ddelta_bias(static_cast<size_t>(D));
  cpu::ScanGrads<R> g;
  g.du = du.data(), g.ddelta = ddelta.data(), g.dA = dA.data(), g.dB = dB.data(), g.dC = dC.data();
  g.dDskip = c.Dskip ? dDskip.data() : nullptr, g.dz = c.z ? dz.data() : nullptr;
  g.ddelta_bias = c.bias ? ddelta_bias.data() : nullptr;
  k.backward<R>()(in, dout.data(), c.dlast ? dlast.data() : nullptr, nullptr, g);

  auto back = [](const std::vector<R>& v) { return std::vector<double>(v.begin(), v.end()); };
  Results r;
  r.out = back(out), r.last = back(last), r.du = back(du), r.ddelta = back(ddelta), r.dB = back(dB);
  r.dC = back(dC);
  for (size_t i = 0; i < dA.size(); ++i) r.dA_log.push_back(double(dA[i] * A[i]));  // dA_log = dA * A
  if (c.Dskip) r.dDskip = back(dDskip);
  if (c.z) r.dz = back(dz);
  if (c.bias) r.ddelta_bias = back(ddelta_bias);
  return r;
}

// One CUDA variant on device copies of x, called through its raw-pointer entry points (the kernel-table
// contract); every output buffer, the checkpoints included, starts as NaN.
template <class In, class W>
Results run_cuda(const ScanCudaKernels& k, const Inputs& x) {
  const Case& c = x.c;
  const int64_t B = c.B, D = c.D, L = c.L, N = c.N;
  const Tensor u = upload(x.u, {B, D, L}, x.seq), delta = upload(x.delta, {B, D, L}, x.seq);
  const Tensor A_log = upload(x.A_log, {D, N}, x.wt);
  const Tensor Bm = upload(x.Bm, {B, N, L}, x.seq), Cm = upload(x.Cm, {B, N, L}, x.seq);
  const Tensor Dskip = upload(x.Dskip, {D}, x.wt), z = upload(x.z, {B, D, L}, x.seq);
  const Tensor bias = upload(x.bias, {D}, x.wt), dout = upload(x.dout, {B, D, L}, x.seq);
  const Tensor dlast = upload(x.dlast, {B, D, N}, x.wt);
  cuda::ScanArgs<In, W> a;
  a.B = B, a.D = D, a.L = L, a.N = N;
  a.u = u.device_data<In>(), a.delta = delta.device_data<In>(), a.A_log = A_log.device_data<W>();
  a.Bm = Bm.device_data<In>(), a.Cm = Cm.device_data<In>();
  a.Dskip = c.Dskip ? Dskip.device_data<W>() : nullptr, a.z = c.z ? z.device_data<In>() : nullptr;
  a.delta_bias = c.bias ? bias.device_data<W>() : nullptr, a.softplus = c.softplus;

  const Tensor out = poisoned({B, D, L}, x.seq), last = poisoned({B, D, N}, x.wt);
  const Tensor ckpt = poisoned({k.checkpoint_elems(B, D, L, N)}, x.wt);
  k.forward<In>()(a, out.device_data<In>(), last.device_data<W>(), ckpt.device_data<W>());

  const Tensor du = poisoned({B, D, L}, x.seq), ddelta = poisoned({B, D, L}, x.seq);
  const Tensor dA_log = poisoned({D, N}, x.wt), dB = poisoned({B, N, L}, x.seq), dC = poisoned({B, N, L}, x.seq);
  const Tensor dDskip = poisoned({D}, x.wt), dz = poisoned({B, D, L}, x.seq), dbias = poisoned({D}, x.wt);
  cuda::ScanGradArgs<In, W> g;
  g.du = du.device_data<In>(), g.ddelta = ddelta.device_data<In>(), g.dA_log = dA_log.device_data<W>();
  g.dB = dB.device_data<In>(), g.dC = dC.device_data<In>();
  g.dDskip = c.Dskip ? dDskip.device_data<W>() : nullptr, g.dz = c.z ? dz.device_data<In>() : nullptr;
  g.ddelta_bias = c.bias ? dbias.device_data<W>() : nullptr;
  k.backward<In>()(a, dout.device_data<In>(), c.dlast ? dlast.device_data<W>() : nullptr, ckpt.device_data<W>(), g);

  Results r;
  r.out = download(out), r.last = download(last), r.du = download(du), r.ddelta = download(ddelta);
  r.dA_log = download(dA_log), r.dB = download(dB), r.dC = download(dC);
  if (c.Dskip) r.dDskip = download(dDskip);
  if (c.z) r.dz = download(dz);
  if (c.bias) r.ddelta_bias = download(dbias);
  return r;
}

// Runs `f(In{}, W{})` with the kernel element types of a sequence dtype.
template <class F>
void with_types(DType seq, F&& f) {
  if (seq == DType::f32) f(float{}, float{});
  if (seq == DType::f64) f(double{}, double{});
  if (seq == DType::bf16) f(bfloat16_t{}, float{});
}

std::string describe(const Case& c, DType seq) {
  return cat("B ", c.B, " D ", c.D, " L ", c.L, " N ", c.N, " z ", c.z, " Dskip ", c.Dskip, " bias ", c.bias,
             " softplus ", c.softplus, " dlast ", c.dlast, " delta_shift ", c.delta_shift, " ", dtype_name(seq));
}

// Tolerance relative to max|ref| (see close()): f32 as the CPU conformance test, doubled past 1000 steps where
// dA sums B * L terms in a different order; f64 near rounding; bf16 outputs are rounded to 8 significant bits.
double tolerance(const Case& c, DType seq) {
  if (seq == DType::f64) return 1e-11;
  if (seq == DType::bf16) return 1e-2;
  return c.L > 1000 ? 5e-5 : 2e-5;
}

void check_case(const Case& c, DType seq, uint64_t seed) {
  SCOPED_TRACE(describe(c, seq));
  const Inputs x = make_inputs(c, seq, seed);
  const Results ref = seq == DType::f64 ? reference<double>(x) : reference<float>(x);
  const double rtol = tolerance(c, seq);
  const auto& table = selective_scan_cuda_table();
  ASSERT_FALSE(table.variants().empty()) << table.name() << ": no variants";
  for (const std::string& v : table.variants()) {
    SCOPED_TRACE("kernel " + table.name() + "=" + v);
    with_types(seq, [&](auto in_tag, auto w_tag) {
      const Results r = run_cuda<decltype(in_tag), decltype(w_tag)>(table.get(v), x);
      EXPECT_TRUE(close("out", r.out, ref.out, rtol));
      EXPECT_TRUE(close("last_state", r.last, ref.last, rtol));
      EXPECT_TRUE(close("du", r.du, ref.du, rtol));
      EXPECT_TRUE(close("ddelta", r.ddelta, ref.ddelta, rtol));
      EXPECT_TRUE(close("dA_log", r.dA_log, ref.dA_log, rtol));
      EXPECT_TRUE(close("dB", r.dB, ref.dB, rtol));
      EXPECT_TRUE(close("dC", r.dC, ref.dC, rtol));
      EXPECT_TRUE(close("dDskip", r.dDskip, ref.dDskip, rtol));
      EXPECT_TRUE(close("dz", r.dz, ref.dz, rtol));
      EXPECT_TRUE(close("ddelta_bias", r.ddelta_bias, ref.ddelta_bias, rtol));
    });
  }
}

TEST(CudaSelectiveScanConformance, EveryVariantMatchesScalarF32) {
  HM_SKIP_WITHOUT_CUDA();
  uint64_t seed = 1100;
  for (const Case& c : kCases) check_case(c, DType::f32, seed += 10);
}

TEST(CudaSelectiveScanConformance, EveryVariantMatchesScalarF64) {
  HM_SKIP_WITHOUT_CUDA();
  uint64_t seed = 1500;
  for (const Case& c : kCases) check_case(c, DType::f64, seed += 10);
}

TEST(CudaSelectiveScanConformance, EveryVariantMatchesScalarBf16Inputs) {
  HM_SKIP_WITHOUT_CUDA();
  uint64_t seed = 1900;
  for (const Case& c : kCases) check_case(c, DType::bf16, seed += 10);
}

// No atomics: two runs on the same inputs give the same bits (several chunks, several channel groups).
TEST(CudaSelectiveScan, DeterministicAcrossRuns) {
  HM_SKIP_WITHOUT_CUDA();
  const Case c{2, 20, 4100, 16, true, true, true, true, true};
  for (const DType seq : {DType::f32, DType::bf16}) {
    const Inputs x = make_inputs(c, seq, 77);
    for (const std::string& v : selective_scan_cuda_table().variants()) {
      SCOPED_TRACE(v + " " + dtype_name(seq));
      with_types(seq, [&](auto in_tag, auto w_tag) {
        using In = decltype(in_tag);
        using W = decltype(w_tag);
        const Results r1 = run_cuda<In, W>(selective_scan_cuda_table().get(v), x);
        const Results r2 = run_cuda<In, W>(selective_scan_cuda_table().get(v), x);
        auto same_bits = [](const std::vector<double>& a, const std::vector<double>& b) {
          return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
        };
        EXPECT_TRUE(same_bits(r1.out, r2.out)) << "out";
        EXPECT_TRUE(same_bits(r1.last, r2.last)) << "last_state";
        EXPECT_TRUE(same_bits(r1.du, r2.du)) << "du";
        EXPECT_TRUE(same_bits(r1.ddelta, r2.ddelta)) << "ddelta";
        EXPECT_TRUE(same_bits(r1.dA_log, r2.dA_log)) << "dA_log";
        EXPECT_TRUE(same_bits(r1.dB, r2.dB)) << "dB";
        EXPECT_TRUE(same_bits(r1.dC, r2.dC)) << "dC";
        EXPECT_TRUE(same_bits(r1.dDskip, r2.dDskip)) << "dDskip";
        EXPECT_TRUE(same_bits(r1.dz, r2.dz)) << "dz";
        EXPECT_TRUE(same_bits(r1.ddelta_bias, r2.ddelta_bias)) << "ddelta_bias";
      });
    }
  }
}

// The op itself on CUDA tensors (dispatch, saved context, autograd) against the op on the CPU, every variant:
// output, last state, and the gradients of all eight inputs after out.backward(w).
TEST(CudaSelectiveScan, OpMatchesCpuOpForwardAndBackward) {
  HM_SKIP_WITHOUT_CUDA();
  const int64_t B = 2, D = 10, L = 2100, N = 16;
  for (const DType dtype : {DType::f64, DType::f32}) {
    for (const std::string& v : selective_scan_cuda_table().variants()) {
      SCOPED_TRACE(v + " " + dtype_name(dtype));
      set_kernel_overrides("selective_scan=" + v);
      const std::vector<Tensor> cpu_in = {randn_param({B, D, L}, 31, dtype),   randn_param({B, D, L}, 32, dtype, 0.5),
                                          randn_param({D, N}, 33, dtype, 0.5), randn_param({B, N, L}, 34, dtype),
                                          randn_param({B, N, L}, 35, dtype),   randn_param({D}, 36, dtype),
                                          randn_param({B, D, L}, 37, dtype),   randn_param({D}, 38, dtype, 0.3)};
      std::vector<Tensor> gpu_in;
      for (const Tensor& t : cpu_in) {
        Tensor g = t.detach().to(Device::cuda());
        g.requires_grad_(true);
        gpu_in.push_back(g);
      }
      auto run = [](const std::vector<Tensor>& in) {
        return selective_scan(in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], /*delta_softplus=*/true,
                              /*return_last_state=*/true);
      };
      Generator gen(39);
      const Tensor w = randn({B, D, L}, dtype, gen);
      const SelectiveScanResult rc = run(cpu_in), rg = run(gpu_in);
      EXPECT_TRUE(rg.out.is_cuda());
      rc.out.backward(w);
      rg.out.backward(w.to(Device::cuda()));
      const double atol = dtype == DType::f64 ? 1e-10 : 2e-4, rtol = dtype == DType::f64 ? 1e-9 : 1e-4;
      EXPECT_TRUE(all_close(rg.out.cpu(), rc.out, atol, rtol)) << "out";
      EXPECT_TRUE(all_close(rg.last_state.cpu(), rc.last_state, atol, rtol)) << "last_state";
      const char* names[] = {"u", "delta", "A_log", "Bm", "Cm", "Dskip", "z", "delta_bias"};
      for (size_t i = 0; i < cpu_in.size(); ++i) {
        ASSERT_TRUE(gpu_in[i].grad().defined()) << names[i];
        EXPECT_TRUE(gpu_in[i].grad().is_cuda()) << names[i];
        EXPECT_TRUE(all_close(gpu_in[i].grad().cpu(), cpu_in[i].grad(), atol, rtol)) << "d" << names[i];
      }
    }
  }
  clear_kernel_overrides();
}

// bf16 sequences on CUDA: out and the sequence gradients stay bf16, last_state and the weight gradients float32;
// values match the float32 CPU op on the same (bf16-representable) values.
TEST(CudaSelectiveScan, OpBf16InputsKeepFloat32StateAndWeights) {
  HM_SKIP_WITHOUT_CUDA();
  const Case c{2, 12, 300, 16, true, true, true, true, false};
  const Inputs x = make_inputs(c, DType::bf16, 41);
  const int64_t B = c.B, D = c.D, L = c.L, N = c.N;
  const std::vector<std::pair<const std::vector<double>*, Shape>> parts = {
      {&x.u, {B, D, L}},  {&x.delta, {B, D, L}}, {&x.A_log, {D, N}}, {&x.Bm, {B, N, L}},
      {&x.Cm, {B, N, L}}, {&x.Dskip, {D}},       {&x.z, {B, D, L}},  {&x.bias, {D}}};
  const bool is_weight[] = {false, false, true, false, false, true, false, true};
  std::vector<Tensor> cpu_in, gpu_in;
  for (size_t i = 0; i < parts.size(); ++i) {
    Tensor h = from_vector<double>(*parts[i].first, parts[i].second).to(DType::f32);
    h.requires_grad_(true);
    cpu_in.push_back(h);
    Tensor g = upload(*parts[i].first, parts[i].second, is_weight[i] ? DType::f32 : DType::bf16);
    g.requires_grad_(true);
    gpu_in.push_back(g);
  }
  auto run = [](const std::vector<Tensor>& in) {
    return selective_scan(in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], true, true);
  };
  const SelectiveScanResult rc = run(cpu_in), rg = run(gpu_in);
  EXPECT_EQ(rg.out.dtype(), DType::bf16);
  EXPECT_EQ(rg.last_state.dtype(), DType::f32);
  rc.out.backward(from_vector<double>(x.dout, {B, D, L}).to(DType::f32));
  rg.out.backward(upload(x.dout, {B, D, L}, DType::bf16));
  EXPECT_TRUE(close("out", download(rg.out), rc.out.to_vector<double>(), 1e-2));
  EXPECT_TRUE(close("last_state", download(rg.last_state), rc.last_state.to_vector<double>(), 1e-2));
  const char* names[] = {"du", "ddelta", "dA_log", "dBm", "dCm", "dDskip", "dz", "ddelta_bias"};
  for (size_t i = 0; i < parts.size(); ++i) {
    ASSERT_TRUE(gpu_in[i].grad().defined()) << names[i];
    EXPECT_EQ(gpu_in[i].grad().dtype(), is_weight[i] ? DType::f32 : DType::bf16) << names[i];
    EXPECT_TRUE(close(names[i], download(gpu_in[i].grad()), cpu_in[i].grad().to_vector<double>(), 1e-2));
  }
}

TEST(CudaSelectiveScan, RejectsMixedDevicesAndDtypes) {
  HM_SKIP_WITHOUT_CUDA();
  const Device gpu = Device::cuda();
  const Tensor u = zeros({2, 3, 5}, DType::f32, gpu), A_log = zeros({3, 4}, DType::f32, gpu);
  const Tensor Bm = zeros({2, 4, 5}, DType::f32, gpu);
  EXPECT_TRUE(throws_with(
      [&] {
        selective_scan(u, zeros({2, 3, 5}), A_log, Bm, Bm);
      },
      "selective_scan: delta is on cpu but u is on cuda:0"));
  const Tensor ub = upload(std::vector<double>(30, 1.0), {2, 3, 5}, DType::bf16);
  const Tensor Bb = upload(std::vector<double>(40, 1.0), {2, 4, 5}, DType::bf16);
  EXPECT_TRUE(throws_with(
      [&] {
        selective_scan(ub, ub, zeros({3, 4}, DType::f64, gpu), Bb, Bb);
      },
      "A_log is float64 but u is bfloat16 (A_log, Dskip and delta_bias are float32"));
  EXPECT_TRUE(throws_with([&] { selective_scan(ub, u, A_log, Bb, Bb); }, "delta is float32 but u is bfloat16"));
}

// No GPU needed: bf16 is a CUDA-only input type, and the table holds the two CUDA variants in a CUDA build.
TEST(CudaSelectiveScan, Bf16RejectedOnCpu) {
  const Tensor u = empty({2, 3, 5}, DType::bf16), A_log = zeros({3, 4}), Bm = zeros({2, 4, 5});
  EXPECT_TRUE(throws_with([&] { selective_scan(u, u, A_log, Bm, Bm); },
                          "or bfloat16 u, delta, Bm, Cm, z on CUDA), u is bfloat16 on cpu"));
}

TEST(CudaSelectiveScan, TableHoldsTheCudaVariants) {
  const auto& table = selective_scan_cuda_table();
  EXPECT_EQ(table.name(), "selective_scan@cuda");
#ifdef HUBMAMBA_WITH_CUDA
  EXPECT_EQ(table.variants(), (std::vector<std::string>{"cuda_chunked", "cuda_sequential"}));
  EXPECT_EQ(table.selected(), "cuda_chunked");
#else
  EXPECT_TRUE(table.variants().empty());
#endif
}

}  // namespace
}  // namespace hm::test
