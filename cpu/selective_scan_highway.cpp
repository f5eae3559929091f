// Highway selective scan (SPEC.md 2; DESIGN.md 4 "parallel over (batch, channel), SIMD over d_state, sequential
// in time; backward by reverse scan with chunked recompute").
//
// Layout of the work:
//  * Threads: OpenMP over (b, d) channels in the forward, over (b, group of kScanChannelGroup channels) in the
//    backward.
//  * SIMD: over the state index n. The recurrence h[n] = a[n] * h[n] + delta * B[n] * u is independent per n;
//    only y = sum_n h[n] * C[n] couples the lanes. So the state is walked one vector of lanes at a time (outer
//    loop) and time runs inside (inner loop), which keeps h in one register for the whole sequence. The sums over
//    n that each step needs (y forward; y, sum hbar * B and sum gexp * A backward) are batched NS steps at a time
//    (BatchedSums in cpu/selective_scan_highway-inl.h): one SumOfLanes per step cost as much as the exponential.
//    Bm and Cm (B, N, L) are transposed once to (B, L, Npad) so that the n-vector
//    at time t is one aligned load; Npad pads N with zeros up to the vector width (A pads with 0, so the padded
//    lanes keep h = 0 and contribute nothing). N <= 4 uses 4-lane vectors, so N = 1 or 4 does not pay for 16
//    lanes; N = 16 fills one AVX-512 f32 vector.
//  * Time: sequential. Per-channel rows (delta, u, z, dout, ...) are staged into zero-padded, vector-aligned
//    scratch so the elementwise parts (softplus, gates, du, ddelta) run as vector loops without tail cases.
//
// Memory/time trade-off of the backward (chunked recompute, like mamba_ssm's CUDA kernels):
//  * Storing every state h_t costs B*D*L*N elements (8 x 1536 x 500 x 16 f32 = 393 MB for one Mamba layer at
//    the bench shape); the reverse scan would then need no exponentials beyond the ones stored.
//  * Instead the forward saves only the state at each chunk boundary, B*D*(ceil(L/64) - 1)*N elements (5.5 MB at
//    the same shape, 71x less), and the backward recomputes each chunk's states (and exp(delta * A)) into a
//    per-thread (65, lanes) buffer before walking it in reverse. The price is one more exp and FMA per (b, d, t, n)
//    in the backward, i.e. about the cost of a second forward pass; memory is O(B*D*N*L/chunk).
//
// Determinism: dA, dDskip and ddelta_bias sum over the batch and dB, dC over channels. Every work item writes its
// own partial (per (b, d) for dA/dDskip/ddelta_bias, per (b, channel group) for dB/dC) and the partials are summed
// in a fixed order afterwards, so gradients are bit-identical for any thread count.
#include "cpu/selective_scan_highway.h"

#include <algorithm>
#include <cstring>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/selective_scan_highway.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Must come after foreach_target.h.
#include "cpu/selective_scan_highway-inl.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace hm::cpu::highway::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace hm::cpu::scan_hwy::HWY_NAMESPACE;

inline int64_t num_chunks(int64_t L) { return ceil_div(L, kScanChunk); }

// Per-thread scratch: channel rows of Lpad elements (Lpad = L rounded up to the row vector width, zero padded)
// and the per-chunk recompute buffers of the backward.
template <class T>
struct Scratch {
  int64_t Lpad = 0;
  Buffer<T> mem;
  T* raw = nullptr;  // (Lpad) delta + delta_bias
  T* dt = nullptr;   // (Lpad) effective delta
  T* dtu = nullptr;  // (Lpad) dt * u
  T* u = nullptr;    // (Lpad)
  T* z = nullptr;    // (Lpad)
  T* g = nullptr;    // (Lpad) dout
  T* gy = nullptr;   // (Lpad) gradient reaching y + u * D
  T* y = nullptr;    // (Lpad) sum_n h * C
  T* s1 = nullptr;   // (Lpad) sum_n hbar * B
  T* s2 = nullptr;   // (Lpad) sum_n hbar * h_prev * a * A
  T* du = nullptr;   // (Lpad) gradient outputs of the channel
  T* ddelta = nullptr;
  T* dz = nullptr;
  T* hist = nullptr;  // (kScanChunk + 1, lanes) states of one chunk, hist[0] = state before the chunk
  T* aexp = nullptr;  // (kScanChunk, lanes)     exp(dt * A) of one chunk
  T* lane = nullptr;  // (lanes) staging for partial state vectors
  T* slots[3] = {};   // 3 x (lanes, lanes) BatchedSums slots for y, s1, s2

  Scratch(int64_t L, int64_t row_lanes, int64_t state_lanes) : Lpad(round_up(L, row_lanes)) {
    const int64_t n_rows = 13, NS = state_lanes;
    const int64_t total = n_rows * Lpad + (2 * kScanChunk + 2) * NS + 3 * NS * NS;
    mem = Buffer<T>(total);
    std::fill(mem.get(), mem.get() + total, T(0));
    T** rows[n_rows] = {&raw, &dt, &dtu, &u, &z, &g, &gy, &y, &s1, &s2, &du, &ddelta, &dz};
    for (int64_t i = 0; i < n_rows; ++i) *rows[i] = mem.get() + i * Lpad;
    hist = mem.get() + n_rows * Lpad;
    aexp = hist + (kScanChunk + 1) * NS;
    lane = aexp + kScanChunk * NS;
    for (int64_t i = 0; i < 3; ++i) slots[i] = lane + NS + i * NS * NS;
  }
};

// SlotOrder of the state tag (see BatchedSums).
template <class DS>
std::vector<int64_t> slot_order(DS ds) {
  const int64_t NS = int64_t(hn::Lanes(ds));
  Buffer<hn::TFromD<DS>> scratch(NS * NS);
  std::vector<int64_t> order(static_cast<size_t>(NS));
  SlotOrder(ds, scratch.get(), order.data());
  return order;
}

// Copy `L` elements of a (B, D, L) channel row into zero-padded scratch.
template <class T>
void stage_row(const T* src, int64_t L, int64_t Lpad, T* dst) {
  std::memcpy(dst, src, size_t(L) * sizeof(T));
  std::fill(dst + L, dst + Lpad, T(0));
}

// Stage the delta-related rows of channel (b, d): raw = delta + bias, dt = softplus(raw) or raw, u, dtu = dt * u.
template <class T>
void stage_delta(const ScanInputs<T>& in, int64_t b, int64_t d, Scratch<T>& s) {
  const hn::ScalableTag<T> dl;
  const int64_t L = in.L, row = (b * in.D + d) * L;
  const T bias = in.delta_bias ? in.delta_bias[d] : T(0);
  for (int64_t t = 0; t < L; ++t) s.raw[t] = in.delta[row + t] + bias;
  std::fill(s.raw + L, s.raw + s.Lpad, T(0));
  stage_row(in.u + row, L, s.Lpad, s.u);
  for (int64_t t = 0; t < s.Lpad; t += int64_t(hn::Lanes(dl))) {
    const auto raw = hn::Load(dl, s.raw + t);
    const auto dt = in.softplus ? Softplus(dl, raw) : raw;
    hn::Store(dt, dl, s.dt + t);
    hn::Store(hn::Mul(dt, hn::Load(dl, s.u + t)), dl, s.dtu + t);
  }
}

// State vectors <-> unpadded (N) rows: lanes k .. k + lanes of a length-N row (the last vector may be partial).
template <class DS>
hn::Vec<DS> load_state(DS ds, const hn::TFromD<DS>* row, int64_t k, int64_t N, hn::TFromD<DS>* lane) {
  const int64_t n = std::min<int64_t>(int64_t(hn::Lanes(ds)), N - k);
  std::fill(lane, lane + hn::Lanes(ds), hn::TFromD<DS>(0));
  std::memcpy(lane, row + k, size_t(n) * sizeof(hn::TFromD<DS>));
  return hn::Load(ds, lane);
}
template <class DS>
void store_state(DS ds, hn::Vec<DS> v, hn::TFromD<DS>* row, int64_t k, int64_t N, hn::TFromD<DS>* lane) {
  const int64_t n = std::min<int64_t>(int64_t(hn::Lanes(ds)), N - k);
  hn::Store(v, ds, lane);
  std::memcpy(row + k, lane, size_t(n) * sizeof(hn::TFromD<DS>));
}

// ---- forward --------------------------------------------------------------------------------------------------

template <class DS, class T>
void forward_impl(DS ds, const ScanInputs<T>& in, T* out, T* last_state, T* checkpoints) {
  const hn::ScalableTag<T> dl;
  const int64_t B = in.B, D = in.D, L = in.L, N = in.N, NS = int64_t(hn::Lanes(ds)), NL = int64_t(hn::Lanes(dl));
  const StepInputs<T> pad(in, NS);
  const int64_t Npad = pad.Npad, n_ckpt = num_chunks(L) - 1;
  const std::vector<int64_t> order = slot_order(ds);

  scan_parallel_for(B * D, L * N * 16, [&](int64_t i0, int64_t i1) {
    Scratch<T> s(L, NL, NS);
    const BatchedSums<DS> ysum{ds, s.slots[0], order.data(), s.y};
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / D, d = i % D, row = i * L;
      stage_delta(in, b, d, s);
      std::fill(s.y, s.y + s.Lpad, T(0));
      const T* Bt = pad.Bt.get() + b * L * Npad;  // (L, Npad)
      const T* Ct = pad.Ct.get() + b * L * Npad;  // (L, Npad)
      for (int64_t k = 0; k < Npad; k += NS) {
        const auto A = hn::Load(ds, pad.A.get() + d * Npad + k);
        auto h = hn::Zero(ds);
        for (int64_t c = 0; c <= n_ckpt; ++c) {
          // Save the state entering chunk c (the end of chunk c - 1) for the backward's recompute.
          if (checkpoints && c > 0) store_state(ds, h, checkpoints + (i * n_ckpt + c - 1) * N, k, N, s.lane);
          for (int64_t t = c * kScanChunk; t < std::min(L, (c + 1) * kScanChunk); ++t) {
            // h = exp(delta * A) * h + (delta * u) * B;  y += sum_n h * C
            const auto a = ExpDecay(ds, hn::Mul(hn::Set(ds, s.dt[t]), A));
            h = hn::MulAdd(a, h, hn::Mul(hn::Set(ds, s.dtu[t]), hn::Load(ds, Bt + t * Npad + k)));
            ysum.put(t, hn::Mul(h, hn::Load(ds, Ct + t * Npad + k)));
            if (t % NS == NS - 1) ysum.flush(t + 1 - NS);
          }
        }
        if (L % NS != 0) {
          ysum.clear_from(L % NS);
          ysum.flush(L - L % NS);
        }
        if (last_state) store_state(ds, h, last_state + i * N, k, N, s.lane);
      }
      // out = (y + u * D) * silu(z)
      if (in.z) stage_row(in.z + row, L, s.Lpad, s.z);
      const auto Dskip = hn::Set(dl, in.Dskip ? in.Dskip[d] : T(0));
      for (int64_t t = 0; t < s.Lpad; t += NL) {
        const auto u = hn::Load(dl, s.u + t);
        auto o = hn::MulAdd(u, Dskip, hn::Load(dl, s.y + t));
        if (in.z) {
          const auto z = hn::Load(dl, s.z + t);
          o = hn::Mul(o, hn::Mul(z, Sigmoid(dl, z)));
        }
        hn::Store(o, dl, s.y + t);
      }
      std::memcpy(out + row, s.y, size_t(L) * sizeof(T));
    }
  });
}

// ---- backward -------------------------------------------------------------------------------------------------

// Reverse scan of one channel (b, d) over one state vector (lanes k .. k + NS). Recomputes each chunk's states from
// its checkpoint, then walks the chunk backwards (formulas in cpu/selective_scan_scalar.cpp):
//   hbar = gy_t * C_t + carry                dC_t += gy_t * h_t            dB_t += dtu_t * hbar
//   s1_t += sum(hbar * B_t)                  s2_t += sum(hbar * h_{t-1} * a_t * A)
//   dA   += hbar * h_{t-1} * a_t * dt_t      carry = hbar * a_t
// Adds this vector's part of y_t = sum(h_t * C_t) (needed for dz) to s.y when `need_y`. Returns the dA vector.
template <class DS, class T>
hn::Vec<DS> reverse_scan_lanes(DS ds, const ScanInputs<T>& in, const StepInputs<T>& pad, int64_t b, int64_t d,
                               int64_t k, const T* dlast, const T* checkpoints, bool need_y, T* dBp, T* dCp,
                               const int64_t* order, Scratch<T>& s) {
  const int64_t D = in.D, L = in.L, N = in.N, NS = int64_t(hn::Lanes(ds)), Npad = pad.Npad;
  const int64_t i = b * D + d, n_chunks = num_chunks(L);
  const T* Bt = pad.Bt.get() + b * L * Npad;  // (L, Npad)
  const T* Ct = pad.Ct.get() + b * L * Npad;  // (L, Npad)
  const auto A = hn::Load(ds, pad.A.get() + d * Npad + k);
  auto dA = hn::Zero(ds);
  auto carry = dlast ? load_state(ds, dlast + i * N, k, N, s.lane) : hn::Zero(ds);
  const BatchedSums<DS> ysum{ds, s.slots[0], order, s.y}, s1sum{ds, s.slots[1], order, s.s1},
      s2sum{ds, s.slots[2], order, s.s2};
  if (L % NS != 0)  // the first group walked (the last in time) is cut short by the end of the sequence
    for (const auto& sums : {ysum, s1sum, s2sum}) sums.clear_from(L % NS);
  for (int64_t c = n_chunks - 1; c >= 0; --c) {
    const int64_t t0 = c * kScanChunk, t1 = std::min(L, t0 + kScanChunk);
    // Recompute h_{t0-1} .. h_{t1-1} and a_t for this chunk from the saved start state.
    auto h = c == 0 ? hn::Zero(ds) : load_state(ds, checkpoints + (i * (n_chunks - 1) + c - 1) * N, k, N, s.lane);
    hn::Store(h, ds, s.hist);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t j = t - t0;
      const auto a = ExpDecay(ds, hn::Mul(hn::Set(ds, s.dt[t]), A));
      h = hn::MulAdd(a, h, hn::Mul(hn::Set(ds, s.dtu[t]), hn::Load(ds, Bt + t * Npad + k)));
      hn::Store(a, ds, s.aexp + j * NS);
      hn::Store(h, ds, s.hist + (j + 1) * NS);
    }
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const int64_t j = t - t0;
      const auto gy = hn::Set(ds, s.gy[t]);
      const auto Bv = hn::Load(ds, Bt + t * Npad + k);
      const auto a = hn::Load(ds, s.aexp + j * NS);
      const auto Cv = hn::Load(ds, Ct + t * Npad + k), h = hn::Load(ds, s.hist + (j + 1) * NS);
      const auto hbar = hn::MulAdd(gy, Cv, carry);
      T* dC = dCp + t * Npad + k;
      T* dB = dBp + t * Npad + k;
      hn::Store(hn::MulAdd(gy, h, hn::Load(ds, dC)), ds, dC);
      hn::Store(hn::MulAdd(hn::Set(ds, s.dtu[t]), hbar, hn::Load(ds, dB)), ds, dB);
      const auto gexp = hn::Mul(hn::Mul(hbar, hn::Load(ds, s.hist + j * NS)), a);  // dLoss/d(dt * A)
      s1sum.put(t, hn::Mul(hbar, Bv));
      s2sum.put(t, hn::Mul(gexp, A));
      if (need_y) ysum.put(t, hn::Mul(h, Cv));
      if (t % NS == 0) {
        s1sum.flush(t);
        s2sum.flush(t);
        if (need_y) ysum.flush(t);
      }
      dA = hn::MulAdd(gexp, hn::Set(ds, s.dt[t]), dA);
      carry = hn::Mul(hbar, a);
    }
  }
  return dA;
}

template <class DS, class T>
void backward_impl(DS ds, const ScanInputs<T>& in, const T* dout, const T* dlast, const T* checkpoints,
                   const ScanGrads<T>& g) {
  const hn::ScalableTag<T> dl;
  const int64_t B = in.B, D = in.D, L = in.L, N = in.N, NS = int64_t(hn::Lanes(ds)), NL = int64_t(hn::Lanes(dl));
  const StepInputs<T> pad(in, NS);
  const int64_t Npad = pad.Npad, n_groups = (D + kScanChannelGroup - 1) / kScanChannelGroup;

  Partials<T> part(in, Npad, n_groups);
  const std::vector<int64_t> order = slot_order(ds);
  scan_parallel_for(B * n_groups, std::min(D, kScanChannelGroup) * L * N * 40, [&](int64_t w0, int64_t w1) {
    Scratch<T> s(L, NL, NS);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / n_groups, grp = w % n_groups;
      T* dBp = part.dB_item(w);  // (L, Npad) partial over this group's channels
      T* dCp = part.dC_item(w);  // (L, Npad)
      std::fill(dBp, dBp + L * Npad, T(0));
      std::fill(dCp, dCp + L * Npad, T(0));
      for (int64_t d = grp * kScanChannelGroup; d < std::min(D, (grp + 1) * kScanChannelGroup); ++d) {
        const int64_t i = b * D + d, row = i * L;
        stage_delta(in, b, d, s);
        stage_row(dout + row, L, s.Lpad, s.g);
        if (in.z) stage_row(in.z + row, L, s.Lpad, s.z);
        // gy = dout * silu(z): the gradient reaching y + u * D.
        for (int64_t t = 0; t < s.Lpad; t += NL) {
          auto gy = hn::Load(dl, s.g + t);
          if (in.z) {
            const auto z = hn::Load(dl, s.z + t);
            gy = hn::Mul(gy, hn::Mul(z, Sigmoid(dl, z)));
          }
          hn::Store(gy, dl, s.gy + t);
        }
        std::fill(s.y, s.y + s.Lpad, T(0));
        std::fill(s.s1, s.s1 + s.Lpad, T(0));
        std::fill(s.s2, s.s2 + s.Lpad, T(0));
        for (int64_t k = 0; k < Npad; k += NS) {
          const auto dA =
              reverse_scan_lanes(ds, in, pad, b, d, k, dlast, checkpoints, in.z != nullptr, dBp, dCp, order.data(), s);
          store_state(ds, dA, part.dA.get() + i * N, k, N, s.lane);
        }
        // du = gy * D + dt * s1;  ddelta = (u * s1 + s2) * softplus'(raw);  dz = dout * (y + u * D) * silu'(z)
        const T dskip = in.Dskip ? in.Dskip[d] : T(0);
        const auto Dskip = hn::Set(dl, dskip), one = hn::Set(dl, T(1));
        auto sum_gyu = hn::Zero(dl), sum_ddelta = hn::Zero(dl);
        for (int64_t t = 0; t < s.Lpad; t += NL) {
          const auto u = hn::Load(dl, s.u + t), gy = hn::Load(dl, s.gy + t), s1 = hn::Load(dl, s.s1 + t);
          hn::Store(hn::MulAdd(hn::Load(dl, s.dt + t), s1, hn::Mul(gy, Dskip)), dl, s.du + t);
          auto ddelta = hn::MulAdd(u, s1, hn::Load(dl, s.s2 + t));
          if (in.softplus) ddelta = hn::Mul(ddelta, SoftplusGrad(dl, hn::Load(dl, s.raw + t)));
          hn::Store(ddelta, dl, s.ddelta + t);
          sum_gyu = hn::MulAdd(gy, u, sum_gyu);
          sum_ddelta = hn::Add(sum_ddelta, ddelta);  // padded tail: s1 = s2 = 0 there, so ddelta = 0
          if (in.z) {
            const auto z = hn::Load(dl, s.z + t), sz = Sigmoid(dl, z);
            const auto pre = hn::MulAdd(u, Dskip, hn::Load(dl, s.y + t));
            hn::Store(hn::Mul(hn::Mul(hn::Load(dl, s.g + t), pre), SiluGrad(z, sz, one)), dl, s.dz + t);
          }
        }
        std::memcpy(g.du + row, s.du, size_t(L) * sizeof(T));
        std::memcpy(g.ddelta + row, s.ddelta, size_t(L) * sizeof(T));
        if (g.dz) std::memcpy(g.dz + row, s.dz, size_t(L) * sizeof(T));
        part.dDskip[i] = hn::GetLane(hn::SumOfLanes(dl, sum_gyu));
        part.dbias[i] = hn::GetLane(hn::SumOfLanes(dl, sum_ddelta));
      }
    }
  });

  part.reduce(g);
}

// N <= 4 runs on 4-lane vectors (no 16-lane padding for tiny states); otherwise the full native width.
template <class T>
void forward_dispatch(const ScanInputs<T>& in, T* out, T* last_state, T* checkpoints) {
  if (in.N <= 4)
    forward_impl(hn::CappedTag<T, 4>(), in, out, last_state, checkpoints);
  else
    forward_impl(hn::ScalableTag<T>(), in, out, last_state, checkpoints);
}
template <class T>
void backward_dispatch(const ScanInputs<T>& in, const T* dout, const T* dlast, const T* checkpoints,
                       const ScanGrads<T>& g) {
  if (in.N <= 4)
    backward_impl(hn::CappedTag<T, 4>(), in, dout, dlast, checkpoints, g);
  else
    backward_impl(hn::ScalableTag<T>(), in, dout, dlast, checkpoints, g);
}

void ForwardF32(const ScanInputs<float>& in, float* out, float* last, float* ckpt) {
  forward_dispatch(in, out, last, ckpt);
}
void ForwardF64(const ScanInputs<double>& in, double* out, double* last, double* ckpt) {
  forward_dispatch(in, out, last, ckpt);
}
void BackwardF32(const ScanInputs<float>& in, const float* dout, const float* dlast, const float* ckpt,
                 const ScanGrads<float>& g) {
  backward_dispatch(in, dout, dlast, ckpt, g);
}
void BackwardF64(const ScanInputs<double>& in, const double* dout, const double* dlast, const double* ckpt,
                 const ScanGrads<double>& g) {
  backward_dispatch(in, dout, dlast, ckpt, g);
}

}  // namespace hm::cpu::highway::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hm::cpu::highway {

HWY_EXPORT(ForwardF32);
HWY_EXPORT(ForwardF64);
HWY_EXPORT(BackwardF32);
HWY_EXPORT(BackwardF64);

void selective_scan_forward_f32(const ScanInputs<float>& in, float* out, float* last_state, float* checkpoints) {
  HWY_DYNAMIC_DISPATCH(ForwardF32)(in, out, last_state, checkpoints);
}
void selective_scan_forward_f64(const ScanInputs<double>& in, double* out, double* last_state, double* checkpoints) {
  HWY_DYNAMIC_DISPATCH(ForwardF64)(in, out, last_state, checkpoints);
}
void selective_scan_backward_f32(const ScanInputs<float>& in, const float* dout, const float* dlast,
                                 const float* checkpoints, const ScanGrads<float>& grads) {
  HWY_DYNAMIC_DISPATCH(BackwardF32)(in, dout, dlast, checkpoints, grads);
}
void selective_scan_backward_f64(const ScanInputs<double>& in, const double* dout, const double* dlast,
                                 const double* checkpoints, const ScanGrads<double>& grads) {
  HWY_DYNAMIC_DISPATCH(BackwardF64)(in, dout, dlast, checkpoints, grads);
}
int64_t selective_scan_checkpoint_elems(int64_t B, int64_t D, int64_t L, int64_t N) {
  return B * D * ((L + kScanChunk - 1) / kScanChunk - 1) * N;
}

}  // namespace hm::cpu::highway
#endif  // HWY_ONCE
