// conformance: selective_scan — every registered variant of the `selective_scan` kernel table against the scalar
// reference (DESIGN.md 6 tier 2): forward output, last state and all eight gradients, f32 and f64, on shapes that
// hit length 1, odd lengths, lengths that are not a multiple of the 64-step recompute chunk, N not a multiple of
// the vector width (1, 3, 5), more channels than one backward channel group, and large/tiny delta. Output buffers
// are poisoned with NaN first so an element a variant forgets to write fails the comparison.
#include <cmath>
#include <limits>
#include <vector>

#include "engine/rng.h"
#include "hwy/targets.h"
#include "ops/selective_scan.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

struct Case {
  int64_t B, D, L, N;
  bool z, Dskip, bias, softplus, dlast;
  double delta_shift = 0;  // delta = randn * 0.5 + shift (25: softplus linear branch, -12: tiny steps)
};

template <class T>
std::vector<T> random_vec(int64_t n, uint64_t seed, double scale = 1.0, double shift = 0.0) {
  Generator gen(seed);
  const std::vector<double> v = randn({n}, DType::f64, gen).to_vector<double>();
  std::vector<T> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = T(v[size_t(i)] * scale + shift);
  return out;
}

template <class T>
std::vector<T> nan_vec(int64_t n) {
  return std::vector<T>(static_cast<size_t>(n), std::numeric_limits<T>::quiet_NaN());
}

// |a - b| <= atol * max|ref| + rtol * |ref| for every element (NaN fails).
template <class T>
::testing::AssertionResult close(const char* what, const std::vector<T>& got, const std::vector<T>& ref, double rtol) {
  double scale = 0;
  for (T r : ref) scale = std::max(scale, double(std::abs(r)));
  for (size_t i = 0; i < ref.size(); ++i) {
    const double err = std::abs(double(got[i]) - double(ref[i]));
    if (!(err <= rtol * (scale + std::abs(double(ref[i])))))
      return ::testing::AssertionFailure()
             << what << "[" << i << "] = " << got[i] << " vs scalar " << ref[i] << " (max |ref| " << scale << ")";
  }
  return ::testing::AssertionSuccess();
}

// Everything one variant produces for one case.
template <class T>
struct Results {
  std::vector<T> out, last, du, ddelta, dA, dB, dC, dDskip, dz, ddelta_bias;
};

template <class T>
Results<T> run_variant(const cpu::ScanKernels& k, const Case& c, const cpu::ScanInputs<T>& in, const T* dout,
                       const T* dlast) {
  const int64_t B = c.B, D = c.D, L = c.L, N = c.N;
  Results<T> r;
  r.out = nan_vec<T>(B * D * L);
  r.last = nan_vec<T>(B * D * N);
  std::vector<T> checkpoints = nan_vec<T>(k.checkpoint_elems(B, D, L, N));
  k.forward<T>()(in, r.out.data(), r.last.data(), checkpoints.data());
  r.du = nan_vec<T>(B * D * L), r.ddelta = nan_vec<T>(B * D * L), r.dA = nan_vec<T>(D * N);
  r.dB = nan_vec<T>(B * N * L), r.dC = nan_vec<T>(B * N * L);
  r.dDskip = nan_vec<T>(c.Dskip ? D : 0), r.dz = nan_vec<T>(c.z ? B * D * L : 0);
  r.ddelta_bias = nan_vec<T>(c.bias ? D : 0);
  cpu::ScanGrads<T> g;
  g.du = r.du.data(), g.ddelta = r.ddelta.data(), g.dA = r.dA.data(), g.dB = r.dB.data(), g.dC = r.dC.data();
  g.dDskip = c.Dskip ? r.dDskip.data() : nullptr, g.dz = c.z ? r.dz.data() : nullptr;
  g.ddelta_bias = c.bias ? r.ddelta_bias.data() : nullptr;
  k.backward<T>()(in, dout, dlast, checkpoints.data(), g);
  return r;
}

template <class T>
void check_case(const Case& c, uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << "B " << c.B << " D " << c.D << " L " << c.L << " N " << c.N << " z " << c.z
                                    << " Dskip " << c.Dskip << " bias " << c.bias << " softplus " << c.softplus
                                    << " dlast " << c.dlast << " delta_shift " << c.delta_shift << " "
                                    << dtype_name(dtype_of<T>::value));
  const int64_t B = c.B, D = c.D, L = c.L, N = c.N;
  const auto u = random_vec<T>(B * D * L, seed);
  const auto delta = random_vec<T>(B * D * L, seed + 1, 0.5, c.delta_shift + (c.softplus ? 0.0 : 0.6));
  std::vector<T> A = random_vec<T>(D * N, seed + 2, 0.5);
  for (T& a : A) a = -std::exp(a);  // A = -exp(A_log)
  const auto Bm = random_vec<T>(B * N * L, seed + 3), Cm = random_vec<T>(B * N * L, seed + 4);
  const auto Dskip = random_vec<T>(D, seed + 5), z = random_vec<T>(B * D * L, seed + 6);
  const auto bias = random_vec<T>(D, seed + 7, 0.3);
  const auto dout = random_vec<T>(B * D * L, seed + 8), dlast = random_vec<T>(B * D * N, seed + 9);

  cpu::ScanInputs<T> in;
  in.B = B, in.D = D, in.L = L, in.N = N;
  in.u = u.data(), in.delta = delta.data(), in.A = A.data(), in.Bm = Bm.data(), in.Cm = Cm.data();
  in.Dskip = c.Dskip ? Dskip.data() : nullptr, in.z = c.z ? z.data() : nullptr;
  in.delta_bias = c.bias ? bias.data() : nullptr, in.softplus = c.softplus;
  const T* dl = c.dlast ? dlast.data() : nullptr;

  const Results<T> ref = run_variant<T>(selective_scan_table().get("scalar"), c, in, dout.data(), dl);
  const double rtol = sizeof(T) == 4 ? 2e-5 : 1e-12;
  check_all_variants(selective_scan_table(), [&](const std::string&, const cpu::ScanKernels& k) {
    const Results<T> r = run_variant<T>(k, c, in, dout.data(), dl);
    EXPECT_TRUE(close("out", r.out, ref.out, rtol));
    EXPECT_TRUE(close("last_state", r.last, ref.last, rtol));
    EXPECT_TRUE(close("du", r.du, ref.du, rtol));
    EXPECT_TRUE(close("ddelta", r.ddelta, ref.ddelta, rtol));
    EXPECT_TRUE(close("dA", r.dA, ref.dA, rtol));
    EXPECT_TRUE(close("dB", r.dB, ref.dB, rtol));
    EXPECT_TRUE(close("dC", r.dC, ref.dC, rtol));
    EXPECT_TRUE(close("dDskip", r.dDskip, ref.dDskip, rtol));
    EXPECT_TRUE(close("dz", r.dz, ref.dz, rtol));
    EXPECT_TRUE(close("ddelta_bias", r.ddelta_bias, ref.ddelta_bias, rtol));
  });
}

const std::vector<Case> kCases = {
    // B, D, L, N, z, Dskip, bias, softplus, dlast, delta_shift
    {1, 1, 1, 1, false, false, false, false, false},
    {1, 1, 1, 16, true, true, true, true, true},
    {2, 3, 2, 4, true, true, true, true, false},
    {1, 2, 7, 16, false, true, false, true, true},
    {2, 3, 64, 5, true, false, true, true, false},  // exactly one chunk
    {1, 2, 65, 3, true, true, true, true, true},    // one step into the second chunk
    {2, 5, 129, 16, true, true, true, true, true},  // three chunks, the last of length 1
    {1, 2, 128, 1, false, false, true, true, false},
    {2, 70, 37, 16, true, true, true, true, true},     // two backward channel groups
    {1, 3, 200, 8, true, true, false, false, false},   // no softplus
    {2, 2, 99, 16, true, true, true, true, true, 25},  // large delta: softplus linear branch, exp(dt * A) -> 0
    {2, 2, 99, 4, true, true, true, true, true, -12},  // tiny delta: h barely moves
    {2, 130, 150, 16, true, true, true, true, true},   // big enough for the kernels' parallel paths
};

// The Highway variants dispatch to the best SIMD target of the CPU; run them on every other target this build
// compiled and this CPU supports too (AVX2, SSE4, ..., scalar), since vector widths change the code paths
// (padding, lane tags, the batched horizontal sums).
TEST(SelectiveScanConformance, EveryVariantMatchesScalarOnEverySimdTarget) {
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    SCOPED_TRACE(hwy::TargetName(target));
    hwy::SetSupportedTargetsForTest(target);
    uint64_t seed = 900;
    for (size_t i = 0; i + 1 < kCases.size(); ++i) {  // all but the large case
      check_case<float>(kCases[i], seed += 10);
      check_case<double>(kCases[i], seed += 10);
    }
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the CPU's best target
}

TEST(SelectiveScanConformance, EveryVariantMatchesScalarF32) {
  uint64_t seed = 100;
  for (const Case& c : kCases) check_case<float>(c, seed += 10);
}

TEST(SelectiveScanConformance, EveryVariantMatchesScalarF64) {
  uint64_t seed = 500;
  for (const Case& c : kCases) check_case<double>(c, seed += 10);
}

}  // namespace
}  // namespace hm::test
