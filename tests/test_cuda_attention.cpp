// conformance: attention@cuda — every variant of the `attention@cuda` kernel table (cuda_reference, cuda_flash,
// cuda_flash_tc)
// against the CPU scalar reference (`attention` table, "scalar"): forward (out, lse) and backward (dq, dk, dv), f32,
// f64 and bf16, on T = 1, 7, 63, 65, 129, 400 (lengths around the 64-row tiles), Tq != Tk, Dh = 16, 64, 80 (80 pads
// to 128 in flash), odd B and H, no mask / key padding with one fully padded batch entry / causal / both, and
// dropout (the CUDA kernels draw the CPU's Philox stream). Device outputs are poisoned with NaN before each launch,
// so an element a kernel forgets to write fails. Then the op itself on CUDA tensors vs the CPU op (forward and the
// gradients of q, k and v), the head-dim fallback, and bad input.
//
// Tolerances, relative to max |reference| of each tensor: f64 1e-10; f32 2e-5 (sums of up to 400 terms in another
// order, exp/log of f32); bf16 1.5e-2 (the reference runs in f32 on the same bf16-rounded inputs, so the difference
// is the rounding of the bf16 outputs, 2^-8 relative, plus f32 noise; lse stays f32: 1e-4).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "ops/attention.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

struct Case {
  int64_t B, H, Tq, Tk, Dh;
  bool causal;
  bool mask;  // ~30% padded keys, the last batch entry fully padded (B > 1)
  double dropout_p;
  std::string str() const {
    return "B=" + std::to_string(B) + " H=" + std::to_string(H) + " Tq=" + std::to_string(Tq) +
           " Tk=" + std::to_string(Tk) + " Dh=" + std::to_string(Dh) + (causal ? " causal" : "") +
           (mask ? " mask" : "") + " p=" + std::to_string(dropout_p);
  }
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (int64_t T : {1, 7, 63, 65, 129, 400})
    for (int64_t Dh : {16, 64, 80})
      for (int m = 0; m < 4; ++m) {          // none, padding, causal, padding + causal
        const int64_t H = T >= 129 ? 1 : 3;  // keeps the CPU scalar reference quick at the long lengths
        out.push_back({3, H, T, T, Dh, m >= 2, m % 2 == 1, 0.0});
      }
  // Tq != Tk (causal stays top-left aligned), dropout with rows starting mid-Philox-block.
  out.push_back({3, 1, 65, 129, 64, true, true, 0.0});
  out.push_back({1, 3, 129, 7, 80, true, false, 0.0});
  out.push_back({3, 3, 63, 65, 64, false, true, 0.2});
  out.push_back({1, 1, 130, 130, 16, true, false, 0.5});
  return out;
}

// Host values of t as doubles; bf16 (device only) is widened on the device first.
std::vector<double> values(const Tensor& t) {
  return (t.dtype() == DType::bf16 ? t.to(DType::f32) : t).to_vector<double>();
}

// max |x - ref| <= rel * max(max |ref|, floor) over the elements, -inf == -inf allowed (lse of fully masked rows),
// NaN fails. `floor` is the scale rounding errors have when the reference is exactly zero (see expect_close).
::testing::AssertionResult close_to(const Tensor& got, const Tensor& ref, double rel, const char* what,
                                    double floor = 0) {
  const std::vector<double> x = values(got), y = values(ref);
  if (x.size() != y.size()) return ::testing::AssertionFailure() << what << ": " << x.size() << " vs " << y.size();
  double scale = 0;
  for (double v : y)
    if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  const double tol = rel * std::max({scale, floor, 1e-30});
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isinf(y[i]) && x[i] == y[i]) continue;
    if (!(std::abs(x[i] - y[i]) <= tol))
      return ::testing::AssertionFailure() << what << " element " << i << ": " << x[i] << " vs scalar " << y[i]
                                           << " (tolerance " << tol << " = " << rel << " * max|ref|)";
  }
  return ::testing::AssertionSuccess();
}

Tensor nan_on_gpu(const Shape& s, DType dt) {
  return full(s, std::numeric_limits<double>::quiet_NaN(), dt, Device::cuda());
}

struct Outputs {
  Tensor out, lse, dq, dk, dv;
};

cpu::AttentionDims dims_of(const Case& c, uint64_t seed) {
  cpu::AttentionDims d;
  d.B = c.B, d.H = c.H, d.Tq = c.Tq, d.Tk = c.Tk, d.Dh = c.Dh;
  d.scale = 1.0 / std::sqrt(double(c.Dh));
  d.causal = c.causal;
  d.dropout_p = c.dropout_p;
  d.seed = seed * 31 + 7;
  d.offset = 1001 + seed;  // rows start mid-block
  return d;
}

cuda::AttentionDims cuda_dims_of(const cpu::AttentionDims& d) {
  cuda::AttentionDims c;
  c.B = d.B, c.H = d.H, c.Tq = d.Tq, c.Tk = d.Tk, c.Dh = d.Dh;
  c.scale = d.scale, c.causal = d.causal, c.dropout_p = d.dropout_p, c.seed = d.seed, c.offset = d.offset;
  return c;
}

// x rounded to the nearest bf16 (ties to even) and widened back: bf16 exists only on the device, so the host
// reference gets its bf16-rounded inputs this way; the device's f32 -> bf16 conversion of them is then exact.
float round_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;  // finite inputs only (randn)
  std::memcpy(&x, &u, 4);
  return x;
}

// Host inputs of one case in the reference dtype R (f32 or f64); bf16 runs round them (f32) to bf16 first.
struct HostInputs {
  Tensor q, k, v, dout, mask;  // mask undefined when the case has none
};

HostInputs host_inputs(const Case& c, DType ref_dtype, bool bf16_values, uint64_t seed) {
  Generator gen(seed);
  HostInputs in;
  Tensor* ts[] = {&in.q, &in.k, &in.v, &in.dout};
  const Shape shapes[] = {
      {c.B, c.H, c.Tq, c.Dh}, {c.B, c.H, c.Tk, c.Dh}, {c.B, c.H, c.Tk, c.Dh}, {c.B, c.H, c.Tq, c.Dh}};
  for (int x = 0; x < 4; ++x) {
    *ts[x] = randn(shapes[x], ref_dtype, gen);
    if (bf16_values) {
      float* p = ts[x]->data<float>();
      for (int64_t e = 0; e < ts[x]->numel(); ++e) p[e] = round_to_bf16(p[e]);
    }
  }
  if (c.mask) {
    in.mask = zeros({c.B, c.Tk}, DType::u8);
    uint8_t* m = in.mask.data<uint8_t>();
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t j = 0; j < c.Tk; ++j) m[b * c.Tk + j] = (c.B > 1 && b == c.B - 1) || gen.next_double() < 0.3;
  }
  return in;
}

// The CPU scalar reference on host tensors of dtype R.
template <class R>
Outputs cpu_reference(const Case& c, const HostInputs& in, const cpu::AttentionDims& d) {
  const DType dt = dtype_of<R>::value;
  const cpu::AttentionKernels ref = attention_table().get("scalar");
  Outputs o{empty(in.q.shape(), dt), empty({c.B, c.H, c.Tq}, dt), empty(in.q.shape(), dt), empty(in.k.shape(), dt),
            empty(in.v.shape(), dt)};
  const uint8_t* pad = in.mask.defined() ? in.mask.data<uint8_t>() : nullptr;
  ref.forward<R>()(d, in.q.data<R>(), in.k.data<R>(), in.v.data<R>(), pad, o.out.data<R>(), o.lse.data<R>());
  ref.backward<R>()(d, in.q.data<R>(), in.k.data<R>(), in.v.data<R>(), pad, o.out.data<R>(), o.lse.data<R>(),
                    in.dout.data<R>(), o.dq.data<R>(), o.dk.data<R>(), o.dv.data<R>());
  return o;
}

// One CUDA variant on device copies of the inputs, in element type T (lse type L), outputs poisoned first.
template <class T, class L>
Outputs cuda_run(const Case& c, const HostInputs& in, const cpu::AttentionDims& d,
                 cuda::AttentionForwardFn<T, L> forward, cuda::AttentionBackwardFn<T, L> backward, DType dt,
                 DType lse_dt) {
  const Tensor q = in.q.to(Device::cuda()).to(dt), k = in.k.to(Device::cuda()).to(dt),
               v = in.v.to(Device::cuda()).to(dt), dout = in.dout.to(Device::cuda()).to(dt);
  const Tensor mask = in.mask.defined() ? in.mask.to(Device::cuda()) : Tensor();
  const uint8_t* pad = mask.defined() ? mask.device_data<uint8_t>() : nullptr;
  Outputs o{nan_on_gpu(q.shape(), dt), nan_on_gpu({c.B, c.H, c.Tq}, lse_dt), nan_on_gpu(q.shape(), dt),
            nan_on_gpu(k.shape(), dt), nan_on_gpu(v.shape(), dt)};
  const cuda::AttentionDims cd = cuda_dims_of(d);
  forward(cd, q.device_data<T>(), k.device_data<T>(), v.device_data<T>(), pad, o.out.device_data<T>(),
          o.lse.device_data<L>());
  backward(cd, q.device_data<T>(), k.device_data<T>(), v.device_data<T>(), pad, o.out.device_data<T>(),
           o.lse.device_data<L>(), dout.device_data<T>(), o.dq.device_data<T>(), o.dk.device_data<T>(),
           o.dv.device_data<T>());
  return o;
}

void expect_close(const Outputs& got, const Outputs& want, double rel, double lse_rel) {
  EXPECT_TRUE(close_to(got.out, want.out, rel, "out"));
  EXPECT_TRUE(close_to(got.lse, want.lse, lse_rel, "lse"));
  // With one key (Tk = 1) P is exactly 1, so dS = P (dP - rowsum(dO * O)) and dq, dk are exactly 0 in the CPU's
  // arithmetic but a rounding residual of dP - D (of the size of dO * v) on the GPU: measure dq/dk errors against the
  // scale of dv (same magnitude as dO * v) when their own reference is (near) zero.
  double dv_scale = 0;
  for (double v : values(want.dv))
    if (std::isfinite(v)) dv_scale = std::max(dv_scale, std::abs(v));
  EXPECT_TRUE(close_to(got.dq, want.dq, rel, "dq", dv_scale));
  EXPECT_TRUE(close_to(got.dk, want.dk, rel, "dk", dv_scale));
  EXPECT_TRUE(close_to(got.dv, want.dv, rel, "dv"));
}

TEST(CudaAttention, TableRegistersTheCudaVariants) {
  // Runs without a GPU: the table exists in every build and holds both variants exactly when CUDA is built.
  EXPECT_EQ(attention_cuda_table().name(), "attention@cuda");
#ifdef HUBMAMBA_WITH_CUDA
  EXPECT_EQ(attention_cuda_table().variants(),
            (std::vector<std::string>{"cuda_flash", "cuda_flash_tc", "cuda_reference"}));
  EXPECT_EQ(attention_cuda_table().selected(), "cuda_flash_tc");
  EXPECT_EQ(attention_cuda_table().get("cuda_flash").max_head_dim, 128);
  EXPECT_EQ(attention_cuda_table().get("cuda_flash_tc").max_head_dim, 128);
  EXPECT_EQ(attention_cuda_table().get("cuda_reference").max_head_dim, 0);
#else
  EXPECT_TRUE(attention_cuda_table().variants().empty());
#endif
}

TEST(CudaAttention, CpuRejectsBf16) {
  // Runs without a GPU: bf16 attention exists only on CUDA.
  const Tensor x = empty({1, 1, 2, 4}, DType::bf16);  // never read: validation throws first
  EXPECT_TRUE(throws_with([&] { attention(x, x, x); }, "expected float32 or float64"));
}

TEST(CudaAttention, EveryVariantMatchesCpuScalar) {
  HM_SKIP_WITHOUT_CUDA();
  const auto names = attention_cuda_table().variants();
  ASSERT_FALSE(names.empty()) << "attention@cuda has no variants";
  uint64_t seed = 1;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.str());
    const cpu::AttentionDims d = dims_of(c, seed);
    const HostInputs in64 = host_inputs(c, DType::f64, false, seed);
    const HostInputs in32 = host_inputs(c, DType::f32, false, seed + 1000);
    const HostInputs inbf = host_inputs(c, DType::f32, true, seed + 2000);
    const Outputs want64 = cpu_reference<double>(c, in64, d), want32 = cpu_reference<float>(c, in32, d),
                  wantbf = cpu_reference<float>(c, inbf, d);
    for (const std::string& name : names) {  // every registered CUDA variant
      SCOPED_TRACE("kernel attention@cuda=" + name);
      const AttentionCudaKernels kern = attention_cuda_table().get(name);
      if (kern.max_head_dim != 0 && c.Dh > kern.max_head_dim) continue;
      {
        SCOPED_TRACE("f64");
        expect_close(cuda_run<double, double>(c, in64, d, kern.forward_f64, kern.backward_f64, DType::f64, DType::f64),
                     want64, 1e-10, 1e-10);
      }
      {
        SCOPED_TRACE("f32");
        expect_close(cuda_run<float, float>(c, in32, d, kern.forward_f32, kern.backward_f32, DType::f32, DType::f32),
                     want32, 2e-5, 2e-5);
      }
      {
        SCOPED_TRACE("bf16");
        expect_close(cuda_run<cuda::bf16_bits, float>(c, inbf, d, kern.forward_bf16, kern.backward_bf16, DType::bf16,
                                                      DType::f32),
                     wantbf, 1.5e-2, 1e-4);
      }
    }
    seed += 3;
  }
}

// The op on CUDA tensors vs the op on the CPU: forward and the gradients of q, k and v (with a mask, causal, and
// training dropout drawn from equal generators).
void check_op(DType dt, int64_t Dh, double rel) {
  for (const Case& c : {Case{3, 3, 65, 63, Dh, false, true, 0.0}, Case{1, 3, 129, 129, Dh, true, false, 0.1}}) {
    SCOPED_TRACE(c.str() + " " + dtype_name(dt));
    const HostInputs in = host_inputs(c, DType::f32, dt == DType::bf16, 77);
    Tensor qc = in.q.clone(), kc = in.k.clone(), vc = in.v.clone();
    Tensor qg = in.q.to(Device::cuda()).to(dt), kg = in.k.to(Device::cuda()).to(dt),
           vg = in.v.to(Device::cuda()).to(dt);
    for (Tensor* t : {&qc, &kc, &vc, &qg, &kg, &vg}) t->requires_grad_(true);
    Generator gen_cpu(5), gen_gpu(5);
    const bool train = c.dropout_p > 0;
    Tensor yc = attention(qc, kc, vc, in.mask, c.causal, c.dropout_p, train, gen_cpu);
    Tensor yg = attention(qg, kg, vg, in.mask.defined() ? in.mask.to(Device::cuda()) : Tensor(), c.causal, c.dropout_p,
                          train, gen_gpu);
    ASSERT_TRUE(yg.is_cuda());
    ASSERT_EQ(yg.dtype(), dt);
    yc.backward(in.dout);
    yg.backward(in.dout.to(Device::cuda()).to(dt));
    EXPECT_TRUE(close_to(yg, yc, rel, "out"));
    EXPECT_TRUE(close_to(qg.grad(), qc.grad(), rel, "dq"));
    EXPECT_TRUE(close_to(kg.grad(), kc.grad(), rel, "dk"));
    EXPECT_TRUE(close_to(vg.grad(), vc.grad(), rel, "dv"));
  }
}

TEST(CudaAttention, OpMatchesCpuOpForwardAndBackward) {
  HM_SKIP_WITHOUT_CUDA();
  check_op(DType::f32, 64, 2e-5);
  check_op(DType::f32, 80, 2e-5);
  check_op(DType::bf16, 64, 1.5e-2);
}

TEST(CudaAttention, LargeHeadDimFallsBackToReference) {
  HM_SKIP_WITHOUT_CUDA();
  // Dh = 136 > the flash variants' 128: the default selection runs cuda_reference; asking for cuda_flash is an error.
  const Case c{1, 3, 9, 9, 136, false, false, 0.0};
  const HostInputs in = host_inputs(c, DType::f32, false, 9);
  const Tensor q = in.q.to(Device::cuda()), k = in.k.to(Device::cuda()), v = in.v.to(Device::cuda());
  EXPECT_TRUE(close_to(attention(q, k, v), attention(in.q, in.k, in.v), 2e-5, "out"));
  set_kernel_overrides("attention=cuda_flash");
  EXPECT_TRUE(throws_with([&] { attention(q, k, v); }, "cuda_flash handles head dims up to 128"));
  clear_kernel_overrides();
}

TEST(CudaAttention, BadInputThrows) {
  HM_SKIP_WITHOUT_CUDA();
  const Tensor cpu_x = zeros({1, 1, 2, 4}), gpu_x = cpu_x.to(Device::cuda());
  EXPECT_TRUE(throws_with([&] { attention(gpu_x, cpu_x, gpu_x); }, "q, k, v must be on one device"));
  EXPECT_TRUE(throws_with(
      [&] {
        attention(gpu_x, gpu_x, gpu_x, zeros({1, 2}, DType::u8));
      },
      "key_padding_mask is on cpu"));
  const Tensor half = gpu_x.to(DType::f16);
  EXPECT_TRUE(throws_with([&] { attention(half, half, half); }, "expected float32, float64 or bfloat16"));
}

}  // namespace
}  // namespace hm::test
