// CUDA cross-entropy and CTC (DESIGN.md 6, tier 2): every CUDA variant against the CPU scalar reference (odd class
// counts, rows 1 and 33, ignored rows, class weights; CTC with padded and concatenated targets, repeated labels,
// empty targets and inputs, infeasible alignments, zero_infinity, a few hundred time steps), outputs poisoned with
// NaN first; the ops forward and backward on the GPU against the CPU ops for every reduction; bad input (mixed
// devices, NaN log-probabilities, bf16). Tests that need a GPU skip with "skipped: no GPU". The CPU CTC table is
// checked against a brute-force sum over all alignments (runs everywhere).
//   conformance: cross_entropy_forward_f32@cuda
//   conformance: cross_entropy_forward_f64@cuda
//   conformance: cross_entropy_backward_f32@cuda
//   conformance: cross_entropy_backward_f64@cuda
//   conformance: ctc_loss_f32@cuda
//   conformance: ctc_loss_f64@cuda
//   conformance: ctc_loss_f32
//   conformance: ctc_loss_f64
#include <functional>

#include "ops/ops.h"
#include "tests/cuda_norm_util.h"

namespace hm::test {
namespace {

using namespace cuda_util;

// Rows of a (rows, C) matrix of random logits turned into log-probabilities (log-softmax in double).
template <class T>
std::vector<T> random_log_probs(int64_t rows, int64_t C, uint64_t seed) {
  const std::vector<double> v = random_vec<double>(rows * C, seed, 0, 2);
  std::vector<T> out(v.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = v[size_t(r * C)], s = 0;
    for (int64_t c = 0; c < C; ++c) m = std::max(m, v[size_t(r * C + c)]);
    for (int64_t c = 0; c < C; ++c) s += std::exp(v[size_t(r * C + c)] - m);
    for (int64_t c = 0; c < C; ++c) out[size_t(r * C + c)] = T(v[size_t(r * C + c)] - m - std::log(s));
  }
  return out;
}

// One CTC problem: log_probs (T, B, C), labels with per-element offsets (padded rows of S or concatenated).
struct CtcCase {
  int64_t T, B, C;
  std::vector<int64_t> il, tl;
  bool padded;
  std::vector<int64_t> targets, offsets;
  int64_t max_target = 0;
};

// Labels in [1, C) (blank = 0); with `repeats`, every third label repeats the previous one (the skip rule).
CtcCase make_ctc_case(int64_t T, int64_t B, int64_t C, std::vector<int64_t> il, std::vector<int64_t> tl, bool padded,
                      bool repeats, uint64_t seed) {
  CtcCase k{T, B, C, std::move(il), std::move(tl), padded, {}, std::vector<int64_t>(static_cast<size_t>(B)), 0};
  for (int64_t v : k.tl) k.max_target = std::max(k.max_target, v);
  const int64_t S = k.max_target + 2;  // padded row length, longer than any target
  Generator gen(seed);
  const std::vector<double> u = rand({B * S}, DType::f64, gen).to_vector<double>();
  for (int64_t b = 0; b < B; ++b) {
    k.offsets[size_t(b)] = padded ? b * S : int64_t(k.targets.size());
    for (int64_t j = 0; j < (padded ? S : k.tl[size_t(b)]); ++j) {
      int64_t label = 1 + int64_t(u[size_t(b * S + j)] * double(C - 1)) % (C - 1);
      if (repeats && j > 0 && j % 3 == 0) label = k.targets.back();
      k.targets.push_back(label);
    }
  }
  return k;
}

// ---- the CPU CTC table against a brute-force sum over every alignment ------------------------------------------
// p = sum over paths pi in C^il whose collapse (merge repeats, drop blanks) is the target of prod_t exp(lp[t, pi_t]);
// nll = -log p; gradient (torch's, w.r.t. the logits): scale * (exp(lp[t, c]) - P(pi_t = c | target)).
struct BruteCtc {
  double nll;
  std::vector<double> grad;  // (T, C) for this element
};
BruteCtc brute_ctc(const std::vector<double>& lp, int64_t T, int64_t B, int64_t C, int64_t b, int64_t il,
                   const std::vector<int64_t>& target, double scale) {
  std::vector<double> post(static_cast<size_t>(T * C), 0.0);
  double p = 0;
  int64_t paths = 1;
  for (int64_t t = 0; t < il; ++t) paths *= C;
  for (int64_t code = 0; code < paths; ++code) {
    std::vector<int64_t> pi(static_cast<size_t>(il)), collapsed;
    for (int64_t t = 0, r = code; t < il; ++t, r /= C) pi[size_t(t)] = r % C;
    for (int64_t t = 0; t < il; ++t)
      if (pi[size_t(t)] != 0 && (t == 0 || pi[size_t(t)] != pi[size_t(t - 1)])) collapsed.push_back(pi[size_t(t)]);
    if (collapsed != target) continue;
    double lpath = 0;
    for (int64_t t = 0; t < il; ++t) lpath += lp[size_t((t * B + b) * C + pi[size_t(t)])];
    p += std::exp(lpath);
    for (int64_t t = 0; t < il; ++t) post[size_t(t * C + pi[size_t(t)])] += std::exp(lpath);
  }
  BruteCtc r{-std::log(p), std::vector<double>(static_cast<size_t>(T * C), 0.0)};
  for (int64_t t = 0; t < il; ++t)
    for (int64_t c = 0; c < C; ++c)
      r.grad[size_t(t * C + c)] = scale * (std::exp(lp[size_t((t * B + b) * C + c)]) - post[size_t(t * C + c)] / p);
  return r;
}

template <class T>
void ctc_cpu_table_matches_brute_force() {
  check_all_variants(ctc_loss_table<T>(), [&](const std::string& name, CtcLossFns<T> k) {
    // T = 5 frames of 3 classes: 243 paths per element. Repeated labels, an empty target, a short input.
    for (bool padded : {true, false}) {
      SCOPED_TRACE(name + (padded ? " padded" : " concatenated"));
      CtcCase cc = make_ctc_case(5, 4, 3, {5, 4, 3, 5}, {2, 1, 0, 3}, padded, false, 3);
      // Element 0's labels are "1 1" (the repeat needs a blank between), element 3's "2 1 2".
      cc.targets[size_t(cc.offsets[0])] = 1, cc.targets[size_t(cc.offsets[0] + 1)] = 1;
      cc.targets[size_t(cc.offsets[3])] = 2, cc.targets[size_t(cc.offsets[3] + 1)] = 1;
      cc.targets[size_t(cc.offsets[3] + 2)] = 2;
      const std::vector<double> lp = random_log_probs<double>(cc.T * cc.B, cc.C, 17);
      const std::vector<double> scale = {0.5, -1.25, 2.0, 0.75};
      const std::vector<T> lpt(lp.begin(), lp.end()), st(scale.begin(), scale.end());
      const int64_t A = 2 * cc.max_target + 1;
      std::vector<T> nll(static_cast<size_t>(cc.B)), alpha(static_cast<size_t>(cc.B * cc.T * A)), grad(static_cast<size_t>(cc.T * cc.B * cc.C));
      EXPECT_EQ(k.first_nan(lpt.data(), cc.il.data(), cc.T, cc.B, cc.C), -1);
      k.forward(lpt.data(), cc.targets.data(), cc.offsets.data(), cc.il.data(), cc.tl.data(), cc.T, cc.B, cc.C,
                cc.max_target, 0, nll.data(), alpha.data());
      k.backward(lpt.data(), cc.targets.data(), cc.offsets.data(), cc.il.data(), cc.tl.data(), cc.T, cc.B, cc.C,
                 cc.max_target, 0, nll.data(), alpha.data(), st.data(), false, grad.data());
      for (int64_t b = 0; b < cc.B; ++b) {
        SCOPED_TRACE("element " + std::to_string(b));
        const std::vector<int64_t> target(cc.targets.begin() + cc.offsets[size_t(b)],
                                          cc.targets.begin() + cc.offsets[size_t(b)] + cc.tl[size_t(b)]);
        const BruteCtc ref = brute_ctc(lp, cc.T, cc.B, cc.C, b, cc.il[size_t(b)], target, scale[size_t(b)]);
        EXPECT_NEAR(double(nll[size_t(b)]), ref.nll, tolerance<T>(10) * (1 + std::abs(ref.nll)));
        std::vector<T> g(static_cast<size_t>(cc.T * cc.C));
        for (int64_t t = 0; t < cc.T; ++t)
          for (int64_t c = 0; c < cc.C; ++c) g[size_t(t * cc.C + c)] = grad[size_t((t * cc.B + b) * cc.C + c)];
        EXPECT_TRUE(close_to(g, std::vector<T>(ref.grad.begin(), ref.grad.end()), tolerance<T>(10)));
      }
    }
    // The first NaN in scan order (element, then frame, then class) among the frames inside each input length.
    std::vector<T> lp = random_log_probs<T>(5 * 3, 4, 9);
    lp[size_t((2 * 3 + 1) * 4 + 2)] = std::numeric_limits<T>::quiet_NaN();  // t = 2, b = 1
    lp[size_t((4 * 3 + 2) * 4 + 1)] = std::numeric_limits<T>::quiet_NaN();  // t = 4, b = 2: past il = 4
    lp[size_t((3 * 3 + 0) * 4 + 3)] = std::numeric_limits<T>::quiet_NaN();  // t = 3, b = 0: the first
    const std::vector<int64_t> il = {5, 5, 4};
    EXPECT_EQ(k.first_nan(lp.data(), il.data(), 5, 3, 4), (0 * 5 + 3) * 4 + 3);
  });
}

TEST(CtcLossTable, CpuVariantsMatchBruteForce) {
  ctc_cpu_table_matches_brute_force<float>();
  ctc_cpu_table_matches_brute_force<double>();
}

TEST(LossCuda, TablesRegistered) {
#if HUBMAMBA_WITH_CUDA
  EXPECT_EQ(cross_entropy_forward_cuda_table<float>().variants(), std::vector<std::string>{"cuda_rowwise"});
  EXPECT_EQ(cross_entropy_backward_cuda_table<double>().variants(), std::vector<std::string>{"cuda_rowwise"});
  EXPECT_EQ(ctc_loss_cuda_table<float>().variants(), std::vector<std::string>{"cuda_blockwise"});
  EXPECT_EQ(ctc_loss_cuda_table<double>().name(), "ctc_loss_f64@cuda");
  set_kernel_overrides("ctc_loss_f64=scalar");
  EXPECT_EQ(ctc_loss_table<double>().selected(), "scalar");
  EXPECT_EQ(ctc_loss_cuda_table<double>().selected(), "cuda_blockwise");
  clear_kernel_overrides();
#else
  EXPECT_TRUE(cross_entropy_forward_cuda_table<float>().variants().empty());
  EXPECT_TRUE(ctc_loss_cuda_table<float>().variants().empty());
#endif
}

// ---- CUDA variants vs the CPU scalar kernels -----------------------------------------------------------------------
template <class T>
void cross_entropy_cuda_conformance() {
  const auto ref_fwd = cross_entropy_forward_table<T>().get("scalar");
  const auto ref_bwd = cross_entropy_backward_table<T>().get("scalar");
  for_each_cuda_variant(cross_entropy_forward_cuda_table<T>(), [&](const std::string&,
                                                                   cpu::CrossEntropyForwardFn<T> fwd) {
    for_each_cuda_variant(cross_entropy_backward_cuda_table<T>(), [&](const std::string&,
                                                                      cpu::CrossEntropyBackwardFn<T> bwd) {
      for (int64_t N : {1, 7, 33})
        for (int64_t C : {1, 7, 504, 769})
          for (int weighted = 0; weighted < 2; ++weighted) {
            SCOPED_TRACE("N=" + std::to_string(N) + " C=" + std::to_string(C) + " weighted=" +
                         std::to_string(weighted));
            const auto x = random_vec<T>(N * C, uint64_t(N * 100 + C), 0, 3), g = random_vec<T>(N, 3);
            std::vector<T> w = random_vec<T>(C, 4);
            for (T& v : w) v = std::abs(v);
            std::vector<int64_t> t(static_cast<size_t>(N));
            for (int64_t i = 0; i < N; ++i) t[size_t(i)] = i % 5 == 3 ? -100 : (i * 7919 + C / 2) % C;  // row 3 ignored
            const T* pw = weighted ? w.data() : nullptr;
            std::vector<T> loss(static_cast<size_t>(N)), lse(static_cast<size_t>(N)), rw(static_cast<size_t>(N)), dx(static_cast<size_t>(N * C));
            ref_fwd(x.data(), t.data(), pw, -100, N, C, loss.data(), lse.data(), rw.data());
            ref_bwd(x.data(), t.data(), pw, -100, lse.data(), g.data(), N, C, dx.data());

            const Tensor X = to_gpu(x), TG = to_gpu(t), W = to_gpu(w), G = to_gpu(g);
            const Tensor L = poisoned<T>(N), LSE = poisoned<T>(N), RW = poisoned<T>(N), DX = poisoned<T>(N * C);
            fwd(dptr<T>(X), dptr<int64_t>(TG), weighted ? dptr<T>(W) : nullptr, -100, N, C, dptr<T>(L), dptr<T>(LSE),
                dptr<T>(RW));
            EXPECT_TRUE(close_to(L, loss, tolerance<T>()));
            EXPECT_TRUE(close_to(LSE, lse, tolerance<T>()));
            EXPECT_TRUE(close_to(RW, rw, tolerance<T>()));
            bwd(dptr<T>(X), dptr<int64_t>(TG), weighted ? dptr<T>(W) : nullptr, -100, dptr<T>(to_gpu(lse)),
                dptr<T>(G), N, C, dptr<T>(DX));
            EXPECT_TRUE(close_to(DX, dx, tolerance<T>()));
          }
    });
  });
}

TEST(LossCuda, CrossEntropyConformance) {
  HM_SKIP_WITHOUT_CUDA();
  cross_entropy_cuda_conformance<float>();
  cross_entropy_cuda_conformance<double>();
}

std::vector<CtcCase> ctc_cases() {
  return {make_ctc_case(1, 1, 2, {1}, {0}, true, false, 1),  // one frame, empty target
          make_ctc_case(1, 1, 2, {1}, {1}, false, false, 2),
          make_ctc_case(7, 3, 5, {7, 4, 0}, {3, 2, 0}, true, false, 3),  // an empty input
          make_ctc_case(50, 4, 29, {50, 33, 17, 1}, {12, 10, 5, 3}, false, true, 4),  // last element infeasible
          make_ctc_case(50, 4, 29, {50, 33, 17, 9}, {12, 10, 5, 3}, true, true, 5),
          make_ctc_case(9, 2, 4, {2, 9}, {5, 4}, false, true, 6),  // first element infeasible
          make_ctc_case(400, 2, 32, {400, 311}, {150, 140}, true, false, 7),
          make_ctc_case(600, 1, 6, {600}, {300}, false, false, 8)};  // more states (601) than threads
}

template <class T>
void ctc_cuda_conformance() {
  const CtcLossFns<T> ref = ctc_loss_table<T>().get("scalar");
  for_each_cuda_variant(ctc_loss_cuda_table<T>(), [&](const std::string&, CtcLossFns<T> k) {
    int index = 0;
    for (const CtcCase& cc : ctc_cases())
      for (bool zero_infinity : {false, true}) {
        SCOPED_TRACE("case " + std::to_string(index++ / 2) + (zero_infinity ? " zero_infinity" : ""));
        const int64_t A = 2 * cc.max_target + 1;
        const std::vector<T> lp = random_log_probs<T>(cc.T * cc.B, cc.C, uint64_t(100 + index));
        const std::vector<T> scale = random_vec<T>(cc.B, 55);
        std::vector<T> nll(static_cast<size_t>(cc.B)), alpha(static_cast<size_t>(cc.B * cc.T * A)), grad(static_cast<size_t>(cc.T * cc.B * cc.C));
        ref.forward(lp.data(), cc.targets.data(), cc.offsets.data(), cc.il.data(), cc.tl.data(), cc.T, cc.B, cc.C,
                    cc.max_target, 0, nll.data(), alpha.data());
        ref.backward(lp.data(), cc.targets.data(), cc.offsets.data(), cc.il.data(), cc.tl.data(), cc.T, cc.B, cc.C,
                     cc.max_target, 0, nll.data(), alpha.data(), scale.data(), zero_infinity, grad.data());

        const Tensor LP = to_gpu(lp), TG = to_gpu(cc.targets), OFF = to_gpu(cc.offsets), IL = to_gpu(cc.il),
                     TL = to_gpu(cc.tl), SC = to_gpu(scale);
        const Tensor NLL = poisoned<T>(cc.B), ALPHA = poisoned<T>(cc.B * cc.T * A),
                     GRAD = poisoned<T>(cc.T * cc.B * cc.C);
        EXPECT_EQ(k.first_nan(dptr<T>(LP), dptr<int64_t>(IL), cc.T, cc.B, cc.C), -1);
        k.forward(dptr<T>(LP), dptr<int64_t>(TG), dptr<int64_t>(OFF), dptr<int64_t>(IL), dptr<int64_t>(TL), cc.T,
                  cc.B, cc.C, cc.max_target, 0, dptr<T>(NLL), dptr<T>(ALPHA));
        // Log-space recursions over up to 600 steps: 10x looser in f32.
        EXPECT_TRUE(close_to(NLL, nll, tolerance<T>(10)));
        EXPECT_TRUE(close_to(ALPHA, alpha, tolerance<T>(10)));
        // Backward from the reference forward, so that it is checked on its own.
        k.backward(dptr<T>(LP), dptr<int64_t>(TG), dptr<int64_t>(OFF), dptr<int64_t>(IL), dptr<int64_t>(TL), cc.T,
                   cc.B, cc.C, cc.max_target, 0, dptr<T>(to_gpu(nll)), dptr<T>(to_gpu(alpha)), dptr<T>(SC),
                   zero_infinity, dptr<T>(GRAD));
        EXPECT_TRUE(close_to(GRAD, grad, tolerance<T>(10)));
      }
    // NaN detection: the first NaN in the CPU op's scan order, ignoring frames past the input lengths.
    std::vector<T> lp = random_log_probs<T>(5 * 3, 4, 9);
    lp[size_t((2 * 3 + 1) * 4 + 2)] = std::numeric_limits<T>::quiet_NaN();
    lp[size_t((4 * 3 + 2) * 4 + 1)] = std::numeric_limits<T>::quiet_NaN();  // past il[2] = 4
    lp[size_t((3 * 3 + 0) * 4 + 3)] = std::numeric_limits<T>::quiet_NaN();
    const std::vector<int64_t> il = {5, 5, 4};
    EXPECT_EQ(k.first_nan(dptr<T>(to_gpu(lp)), dptr<int64_t>(to_gpu(il)), 5, 3, 4),
              ref.first_nan(lp.data(), il.data(), 5, 3, 4));
  });
}

TEST(LossCuda, CtcConformance) {
  HM_SKIP_WITHOUT_CUDA();
  ctc_cuda_conformance<float>();
  ctc_cuda_conformance<double>();
}

// ---- the ops on the GPU vs the same ops on the CPU -----------------------------------------------------------------
const DType kDtypes[] = {DType::f32, DType::f64};

double op_tolerance(DType dt) { return dt == DType::f32 ? 1e-4 : 1e-11; }

// f(input) on the CPU and on the GPU (a leaf copy), the same upstream gradient backpropagated through both; the
// outputs and the input gradients must agree.
void expect_gpu_loss_matches_cpu(const std::function<Tensor(const Tensor&)>& f, const Tensor& x_cpu, double tol) {
  const Tensor x_gpu = x_cpu.detach().to(gpu()).requires_grad_(true);
  const Tensor y_cpu = f(x_cpu), y_gpu = f(x_gpu);
  ASSERT_TRUE(y_gpu.is_cuda());
  EXPECT_TRUE(close_to(y_gpu.to_vector<double>(), y_cpu.to_vector<double>(), tol)) << "output";
  Generator gen(5);
  const Tensor gy = randn(y_cpu.shape(), y_cpu.dtype(), gen);
  y_cpu.backward(gy);
  y_gpu.backward(gy.to(gpu()));
  ASSERT_TRUE(x_gpu.grad().defined() && x_gpu.grad().is_cuda());
  EXPECT_TRUE(close_to(x_gpu.grad().to_vector<double>(), x_cpu.grad().to_vector<double>(), tol)) << "gradient";
}

TEST(LossCuda, CrossEntropyOpMatchesCpu) {
  HM_SKIP_WITHOUT_CUDA();
  for (DType dt : kDtypes)
    for (LossReduction red : {LossReduction::mean, LossReduction::sum, LossReduction::none})
      for (bool weighted : {false, true}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " reduction " + std::to_string(int(red)) +
                     (weighted ? " weighted" : ""));
        const int64_t N = 33, C = 504;
        const Tensor x = randn_param({N, C}, 1, dt, 3.0);
        std::vector<int64_t> t(static_cast<size_t>(N));
        for (int64_t i = 0; i < N; ++i) t[size_t(i)] = i % 4 == 1 ? -100 : (i * 37) % C;
        const Tensor tg = from_vector(t, {N}), tg_gpu = tg.to(gpu());
        Generator gen(2);
        const Tensor w = weighted ? add(rand({C}, dt, gen), 0.5) : Tensor(), w_gpu = weighted ? w.to(gpu()) : Tensor();
        expect_gpu_loss_matches_cpu(
            [&](const Tensor& in) {
              return in.is_cuda() ? cross_entropy(in, tg_gpu, w_gpu, -100, red) : cross_entropy(in, tg, w, -100, red);
            },
            x, op_tolerance(dt));
      }
}

TEST(LossCuda, CtcOpMatchesCpu) {
  HM_SKIP_WITHOUT_CUDA();
  for (DType dt : kDtypes)
    for (bool padded : {true, false})
      for (LossReduction red : {LossReduction::mean, LossReduction::sum, LossReduction::none})
        for (bool zero_infinity : {false, true}) {
          SCOPED_TRACE(std::string(dtype_name(dt)) + (padded ? " padded" : " concatenated") + " reduction " +
                       std::to_string(int(red)) + (zero_infinity ? " zero_infinity" : ""));
          // Element 2 is infeasible (4 labels in 3 frames): inf and a NaN gradient on both devices, or 0 and a zero
          // gradient with zero_infinity.
          const int64_t T = 40, B = 4, C = 11;
          const CtcCase cc = make_ctc_case(T, B, C, {40, 31, 3, 17}, {9, 12, 4, 0}, padded, true, 9);
          const std::vector<double> lp = random_log_probs<double>(T * B, C, 10);
          const Tensor x = from_vector(lp, {T, B, C}).to(dt).requires_grad_(true);
          const Tensor tg = padded ? from_vector(cc.targets, {B, int64_t(cc.targets.size()) / B})
                                   : from_vector(cc.targets, {int64_t(cc.targets.size())});
          const Tensor il = from_vector(cc.il, {B}), tl = from_vector(cc.tl, {B});
          const Tensor tg_gpu = tg.to(gpu());
          auto f = [&](const Tensor& in) {
            // Targets on the logits' device, lengths on the host (as torch accepts).
            return ctc_loss(in, in.is_cuda() ? tg_gpu : tg, il, tl, 0, red, zero_infinity);
          };
          expect_gpu_loss_matches_cpu(f, x, op_tolerance(dt));
        }
}

TEST(LossCuda, BadInput) {
  HM_SKIP_WITHOUT_CUDA();
  const Tensor x = randn_param({3, 5}, 1, DType::f32).detach().to(gpu());
  const Tensor t_cpu = from_vector<int64_t>({0, 1, 2}, {3});
  EXPECT_TRUE(throws_with([&] { cross_entropy(x, t_cpu); }, "cross_entropy: target is on cpu but the logits are on"));
  EXPECT_TRUE(throws_with([&] { cross_entropy(x, t_cpu.to(gpu()), full({5}, 1.0)); },
                          "cross_entropy: weight is on cpu"));
  EXPECT_TRUE(throws_with([&] { cross_entropy(x, from_vector<int64_t>({0, 5, 1}, {3}).to(gpu())); },
                          "target 5 at position 1 is out of range"));
  EXPECT_TRUE(throws_with([&] { cross_entropy(x.to(DType::bf16), t_cpu.to(gpu())); },
                          "expected a float32 or float64 tensor, got bfloat16"));

  // CTC: NaN in a used frame is named, as on the CPU.
  std::vector<float> lp = random_log_probs<float>(4 * 2, 3, 1);
  lp[size_t((2 * 2 + 1) * 3 + 0)] = std::numeric_limits<float>::quiet_NaN();  // t = 2, b = 1, c = 0
  const Tensor lp_gpu = from_vector(lp, {4, 2, 3}).to(gpu());
  const Tensor tg = from_vector<int64_t>({1, 2, 1, 2}, {2, 2}), len4 = from_vector<int64_t>({4, 4}, {2}),
               len2 = from_vector<int64_t>({2, 2}, {2});
  EXPECT_TRUE(throws_with([&] { ctc_loss(lp_gpu, tg.to(gpu()), len4, len2); },
                          "contains NaN at (t = 2, b = 1, c = 0)"));
  EXPECT_TRUE(throws_with([&] { ctc_loss(lp_gpu.to(DType::bf16), tg, len4, len2); },
                          "expected a float32 or float64 tensor, got bfloat16"));
}

}  // namespace
}  // namespace hm::test
