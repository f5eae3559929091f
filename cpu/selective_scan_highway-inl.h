// Per-target pieces shared by the two Highway selective scan variants (cpu/selective_scan_highway.cpp: SIMD over
// the state index n; cpu/selective_scan_highway_channels.cpp: SIMD over channels d). Included from inside their
// foreach_target loops, hence the Highway per-target include guard.
#if defined(HM_CPU_SELECTIVE_SCAN_HIGHWAY_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef HM_CPU_SELECTIVE_SCAN_HIGHWAY_INL_H_
#undef HM_CPU_SELECTIVE_SCAN_HIGHWAY_INL_H_
#else
#define HM_CPU_SELECTIVE_SCAN_HIGHWAY_INL_H_
#endif

#include <algorithm>
#include <cstdint>
#include <utility>

#include "cpu/parallel.h"
#include "cpu/selective_scan_scalar.h"
#include "engine/allocator.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace hm::cpu::scan_hwy::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Kernel scratch from the engine's caching allocator: 64-byte aligned (one AVX-512 vector), reused across calls
// (no page faults in the steady state of training), and counted in the peak-memory statistics.
template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(int64_t n)
      : bytes_(size_t(n) * sizeof(T)), p_(static_cast<T*>(hm::cpu_allocator::allocate(bytes_))) {}
  Buffer(Buffer&& o) noexcept : bytes_(o.bytes_), p_(o.p_) { o.p_ = nullptr, o.bytes_ = 0; }
  Buffer& operator=(Buffer&& o) noexcept {
    std::swap(bytes_, o.bytes_);
    std::swap(p_, o.p_);
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (p_) hm::cpu_allocator::deallocate(p_, bytes_);
  }
  T* get() const { return p_; }
  T& operator[](int64_t i) const { return p_[i]; }

 private:
  size_t bytes_ = 0;
  T* p_ = nullptr;
};

// cpu::parallel_for with a higher bar: a parallel region costs tens of microseconds on a quiet machine and up to
// a scheduler time slice when the cores are oversubscribed, so small scans (gradient checks, tiny models) run
// serially. cost_per_item is in rough flops.
template <class F>
void scan_parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
  constexpr int64_t kSerialBelow = int64_t(1) << 22;  // ~4 M flops, about a millisecond of work
  if (n * cost_per_item < kSerialBelow) {
    if (n > 0) f(int64_t(0), n);
    return;
  }
  parallel_for(n, cost_per_item, std::forward<F>(f));
}

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
inline int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

// exp(x) of the scan's decay factors a = exp(delta * A), the bulk of the arithmetic. For f32 this is Cephes' expf
// (x = n ln2 + r with |r| <= ln2 / 2, degree-6 polynomial, scale by 2^n through the exponent bits; about 1 ulp)
// with x clamped to [-87.3, 88.3] so that 2^n stays a normal float: exp(-87.3) = 1.2e-38 replaces the true value
// below it, which is 0 next to the other terms of h = a * h + dt * B * u. 17 instructions against Highway's
// full-range Exp (about 25, with denormal handling). f64 keeps hn::Exp (gradient checks, not speed).
template <class DF, class V>
HWY_INLINE V ExpDecay(DF d, V x) {
  using T = hn::TFromD<DF>;
  if constexpr (sizeof(T) == 8) {
    return hn::Exp(d, x);
  } else {
    x = hn::Min(hn::Max(x, hn::Set(d, -87.3f)), hn::Set(d, 88.3f));
    const auto n = hn::Round(hn::Mul(x, hn::Set(d, 1.44269504088896341f)));
    auto r = hn::NegMulAdd(n, hn::Set(d, 0.693359375f), x);  // ln2 split in two for an exact n * ln2_hi
    r = hn::NegMulAdd(n, hn::Set(d, -2.12194440e-4f), r);
    auto p = hn::Set(d, 1.9875691500e-4f);
    p = hn::MulAdd(p, r, hn::Set(d, 1.3981999507e-3f));
    p = hn::MulAdd(p, r, hn::Set(d, 8.3334519073e-3f));
    p = hn::MulAdd(p, r, hn::Set(d, 4.1665795894e-2f));
    p = hn::MulAdd(p, r, hn::Set(d, 1.6666665459e-1f));
    p = hn::MulAdd(p, r, hn::Set(d, 5.0000001201e-1f));
    p = hn::MulAdd(p, hn::Mul(r, r), hn::Add(r, hn::Set(d, 1.0f)));
    const hn::RebindToSigned<DF> di;
    const auto scale = hn::ShiftLeft<23>(hn::ConvertTo(di, n));  // 2^n as an exponent-field increment
    return hn::BitCast(d, hn::Add(hn::BitCast(di, p), scale));
  }
}

// sigmoid(x) = 1 / (1 + exp(-x)); the exponent is clamped below Exp's valid range (<= 104 for f32), where
// sigmoid is already 0 to working precision.
template <class DF, class V>
HWY_INLINE V Sigmoid(DF d, V x) {
  using T = hn::TFromD<DF>;
  const V one = hn::Set(d, T(1));
  const V max_arg = hn::Set(d, T(sizeof(T) == 4 ? 88 : 700));
  return hn::Div(one, hn::Add(one, hn::Exp(d, hn::Min(hn::Neg(x), max_arg))));
}

// softplus(x) = x if x > 20 else log1p(exp(x))  (SPEC.md 2; torch softplus threshold 20).
template <class DF, class V>
HWY_INLINE V Softplus(DF d, V x) {
  using T = hn::TFromD<DF>;
  const auto linear = hn::Gt(x, hn::Set(d, T(20)));
  return hn::IfThenElse(linear, x, hn::Log1p(d, hn::Exp(d, hn::Min(x, hn::Set(d, T(20))))));
}

// d softplus / dx at x: sigmoid(x), exactly 1 on the linear branch (PyTorch's softplus_backward).
template <class DF, class V>
HWY_INLINE V SoftplusGrad(DF d, V x) {
  using T = hn::TFromD<DF>;
  return hn::IfThenElse(hn::Gt(x, hn::Set(d, T(20))), hn::Set(d, T(1)), Sigmoid(d, x));
}

// silu'(z) = sigmoid(z) * (1 + z * (1 - sigmoid(z))), given s = sigmoid(z).
template <class V>
HWY_INLINE V SiluGrad(V z, V s, V one) {
  return hn::Mul(s, hn::MulAdd(z, hn::Sub(one, s), one));
}

// ---- batched horizontal sums ----------------------------------------------------------------------------------
//
// The SIMD-over-n scan needs sum_n v[n] of one vector v per time step (y, and two more in the backward). One
// SumOfLanes per step costs about 8 shuffles and adds. Instead the step stores v into one of NS = Lanes(d) slots
// and every NS steps SumSlots() reduces all slots at once with a tree that keeps every vector full width
// ("transpose and add": halves, then 128-bit blocks, then 64-bit and 32-bit lanes), about 3.5 instructions per
// slot. Lane l of the result is the sum of slot order[l]; SlotOrder() finds that fixed permutation once per call
// by reducing slots filled with their own index, and the caller stores step j into slot order[j], so that lane j
// of the result belongs to step j.

// slots: (NS, NS) row-major, overwritten. Returns lane l = sum of the lanes of slot order[l].
template <class D>
HWY_INLINE hn::Vec<D> SumSlots(D d, hn::TFromD<D>* slots) {
#if HWY_TARGET == HWY_SCALAR  // one lane: nothing to combine (and no shuffle ops exist)
  return hn::Load(d, slots);
#else
  using T = hn::TFromD<D>;
  constexpr size_t kBytes = hn::MaxLanes(D()) * sizeof(T);
  if constexpr (hn::MaxLanes(D()) == 1) {
    return hn::Load(d, slots);
  } else {
    const size_t NS = hn::Lanes(d);
    size_t n = NS;  // vectors left; each holds NS / n lanes of partial sums per slot
    auto level = [&](auto combine) {
      for (size_t i = 0; i < n / 2; ++i) {
        const auto x = hn::Load(d, slots + 2 * i * NS), y = hn::Load(d, slots + (2 * i + 1) * NS);
        hn::Store(combine(x, y), d, slots + i * NS);
      }
      n /= 2;
    };
    // Halves: [x_lo + x_hi | y_lo + y_hi].
    level([&](auto x, auto y) { return hn::Add(hn::ConcatLowerLower(d, y, x), hn::ConcatUpperUpper(d, y, x)); });
    if constexpr (kBytes == 64) {
      // 128-bit blocks inside each 256-bit half: [x0 + x1, y0 + y1 | x2 + x3, y2 + y3].
      level([&](auto x, auto y) {
        return hn::Add(hn::OddEvenBlocks(y, x),
                       hn::OddEvenBlocks(hn::SwapAdjacentBlocks(y), hn::SwapAdjacentBlocks(x)));
      });
    }
    if constexpr (kBytes >= 32) {
      // 64-bit halves inside each block.
      const hn::Repartition<uint64_t, D> d64;
      level([&](auto x, auto y) {
        const auto x64 = hn::BitCast(d64, x), y64 = hn::BitCast(d64, y);
        return hn::Add(hn::BitCast(d, hn::InterleaveLower(d64, x64, y64)),
                       hn::BitCast(d, hn::InterleaveUpper(d64, x64, y64)));
      });
    }
    if constexpr (sizeof(T) == 4) {
      // Adjacent 32-bit lanes: pairwise sums of x in even lanes, of y in odd lanes.
      level(
          [&](auto x, auto y) { return hn::OddEven(hn::Add(y, hn::Shuffle2301(y)), hn::Add(x, hn::Shuffle2301(x))); });
    }
    return hn::Load(d, slots);
  }
#endif
}

// order[j] = the slot whose sum SumSlots() returns in lane j. scratch: (NS, NS) elements.
template <class D>
void SlotOrder(D d, hn::TFromD<D>* scratch, int64_t* order) {
  using T = hn::TFromD<D>;
  const int64_t NS = int64_t(hn::Lanes(d));
  for (int64_t r = 0; r < NS; ++r) std::fill(scratch + r * NS, scratch + (r + 1) * NS, T(r));
  hn::Store(SumSlots(d, scratch), d, scratch);
  for (int64_t l = 0; l < NS; ++l) order[l] = int64_t(scratch[l]) / NS;
}

// Per-step sums sum_n v_t[n] of a row (y, s1, s2 of one channel), batched NS steps at a time: put(t, v) files v
// for step t; flush(t0) adds the sums of the NS-aligned steps t0 .. t0 + NS - 1 to row[t0 ..]. A group that is cut
// short by the end of the sequence clears its unused slots first (clear_from).
template <class D>
struct BatchedSums {
  using T = hn::TFromD<D>;
  D d;
  T* slots;              // (NS, NS)
  const int64_t* order;  // SlotOrder
  T* row;                // (>= L rounded up to NS)

  int64_t lanes() const { return int64_t(hn::Lanes(d)); }
  void put(int64_t t, hn::Vec<D> v) const { hn::Store(v, d, slots + order[t % lanes()] * lanes()); }
  void clear_from(int64_t j0) const {
    for (int64_t j = j0; j < lanes(); ++j) hn::Store(hn::Zero(d), d, slots + order[j] * lanes());
  }
  void flush(int64_t t0) const { hn::Store(hn::Add(hn::Load(d, row + t0), SumSlots(d, slots)), d, row + t0); }
};

// The inputs every variant reads per time step, laid out for it: A zero-padded to (D, Npad) and Bm, Cm transposed
// from (B, N, L) to (B, L, Npad), so that the N values of one time step are contiguous (and, padded to a vector
// multiple, one aligned vector load in the SIMD-over-n variant). Padding lanes hold A = B = C = 0.
template <class T>
struct StepInputs {
  int64_t Npad = 0;
  Buffer<T> A, Bt, Ct;

  StepInputs(const ScanInputs<T>& in, int64_t state_multiple) : Npad(round_up(in.N, state_multiple)) {
    const int64_t B = in.B, D = in.D, L = in.L, N = in.N, Np = Npad;
    A = Buffer<T>(D * Np);
    Bt = Buffer<T>(B * L * Np);
    Ct = Buffer<T>(B * L * Np);
    for (int64_t d = 0; d < D; ++d)
      for (int64_t n = 0; n < Np; ++n) A[d * Np + n] = n < N ? in.A[d * N + n] : T(0);
    T* bt = Bt.get();
    T* ct = Ct.get();
    scan_parallel_for(B, L * Np, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t t = 0; t < L; ++t)
          for (int64_t n = 0; n < Np; ++n) {
            bt[(b * L + t) * Np + n] = n < N ? in.Bm[(b * N + n) * L + t] : T(0);
            ct[(b * L + t) * Np + n] = n < N ? in.Cm[(b * N + n) * L + t] : T(0);
          }
    });
  }
  const T* Bt_row(int64_t b, int64_t t, int64_t L) const { return Bt.get() + (b * L + t) * Npad; }
  const T* Ct_row(int64_t b, int64_t t, int64_t L) const { return Ct.get() + (b * L + t) * Npad; }
};

// Deterministic reduction of the backward's sums over batch and channels. Work item w = (b, channel group) writes
// its own dB/dC partial (L, Npad); every (b, d) writes its own dA/dDskip/ddelta_bias partial. reduce() adds the
// partials in a fixed order, so gradients are bit-identical for any thread count.
template <class T>
struct Partials {
  int64_t B, D, L, N, Npad, n_groups;
  Buffer<T> dB, dC;  // (B, n_groups, L, Npad)
  Buffer<T> dA;      // (B, D, N)
  Buffer<T> dDskip;  // (B, D)
  Buffer<T> dbias;   // (B, D)

  Partials(const ScanInputs<T>& in, int64_t Npad_, int64_t n_groups_)
      : B(in.B), D(in.D), L(in.L), N(in.N), Npad(Npad_), n_groups(n_groups_) {
    dB = Buffer<T>(B * n_groups * L * Npad);
    dC = Buffer<T>(B * n_groups * L * Npad);
    dA = Buffer<T>(B * D * N);
    dDskip = Buffer<T>(B * D);
    dbias = Buffer<T>(B * D);
  }
  T* dB_item(int64_t w) const { return dB.get() + w * L * Npad; }  // (L, Npad) of work item w
  T* dC_item(int64_t w) const { return dC.get() + w * L * Npad; }

  void reduce(const ScanGrads<T>& g) const {
    scan_parallel_for(B, n_groups * L * Npad, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t n = 0; n < N; ++n)
          for (int64_t t = 0; t < L; ++t) {
            T sb = 0, sc = 0;
            for (int64_t grp = 0; grp < n_groups; ++grp) {
              const int64_t at = ((b * n_groups + grp) * L + t) * Npad + n;
              sb += dB[at];
              sc += dC[at];
            }
            g.dB[(b * N + n) * L + t] = sb;
            g.dC[(b * N + n) * L + t] = sc;
          }
    });
    for (int64_t d = 0; d < D; ++d) {
      for (int64_t n = 0; n < N; ++n) {
        T s = 0;
        for (int64_t b = 0; b < B; ++b) s += dA[(b * D + d) * N + n];
        g.dA[d * N + n] = s;
      }
      T sd = 0, sbias = 0;
      for (int64_t b = 0; b < B; ++b) sd += dDskip[b * D + d], sbias += dbias[b * D + d];
      if (g.dDskip) g.dDskip[d] = sd;
      if (g.ddelta_bias) g.ddelta_bias[d] = sbias;
    }
  }
};

}  // namespace hm::cpu::scan_hwy::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // HM_CPU_SELECTIVE_SCAN_HIGHWAY_INL_H_
