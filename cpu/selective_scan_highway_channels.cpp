// Highway selective scan, variant `highway_channels`: SIMD over channels instead of over the state index.
//
// Why a second layout: the SIMD-over-n variant (cpu/selective_scan_highway.cpp) needs horizontal sums over n
// at every step (y = sum_n h * C forward; y, sum_n hbar * B and sum_n hbar * h * a * A backward). Here each
// vector holds V consecutive channels d0 .. d0 + V - 1 of one batch row, so every lane runs its own scalar scan
// (exactly the reference loop) and all per-channel sums over n are plain vector FMAs. Bm[b, n, t] and Cm[b, n, t]
// are shared by the channels, so they enter as broadcasts. The only cross-lane sums left are dB and dC (sums over
// channels), accumulated as vectors over a whole channel group per chunk and reduced once per (t, n) per group.
// The price: the N state vectors of a step no longer fit in registers, so every (t, n) loads and stores its state,
// adjoint and gradient accumulators (about 14 vector memory operations per (t, n) in the backward). Measured on
// AVX-512 (bench/RESULTS.md) this layout is slower than the SIMD-over-n one once the latter batches its sums;
// it stays as a registered variant because the balance (shuffles vs. loads/stores) differs between CPUs.
//
// Work split: OpenMP over (b, channel block of V) in the forward and over (b, group of kScanChannelGroup
// channels) in the backward; time is sequential in chunks of kChannelsChunk steps. Per chunk the block's rows
// (delta, u, z, dout) are transposed into time-major (chunk, V) scratch, and outputs are transposed back.
//
// Memory/time trade-off: as in the other Highway variant, the forward saves the state at chunk boundaries only
// (B*D*(ceil(L/32) - 1)*N elements, about 1/32 of the full state history) and the backward recomputes each
// chunk's states and exp(delta * A) into (chunk + 1, N, V) buffers; one extra exp + FMA per (b, d, t, n). The chunk is
// shorter than the other variant's 64 because the recompute buffers hold N x V values per step (32 KB per buffer at
// chunk 32, N = 16, V = 16), and they should stay near L1.
//
// Determinism: dA, dDskip, ddelta_bias partials per (b, d) and dB, dC partials per (b, channel group), summed in a
// fixed order (Partials in cpu/selective_scan_highway-inl.h): bit-identical for any thread count.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/selective_scan_highway.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/selective_scan_highway_channels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Must come after foreach_target.h.
#include "cpu/selective_scan_highway-inl.h"
#include "hwy/cache_control.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace hm::cpu::highway_channels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace hm::cpu::scan_hwy::HWY_NAMESPACE;

constexpr int64_t kChunk = kChannelsChunk;
inline int64_t num_chunks(int64_t L) { return ceil_div(L, kChunk); }

// V consecutive channels d0 .. d0 + nv - 1 of batch row b. nv < V only in the last block of a row: the missing
// lanes compute on zeros (u = 0, so they contribute exactly 0 to every sum) and are never written back.
struct Block {
  int64_t b, d0, nv;
};

// ---- transposes between (B, D, L) / (B, D, ..., N) rows and lane-per-channel scratch -------------------------

// dst[j * V + v] = src[b, d0 + v, t0 + j] for j < len; lanes v >= nv get 0.
template <class T>
void gather_rows(const T* src, const Block& blk, int64_t D, int64_t L, int64_t V, int64_t t0, int64_t len, T* dst) {
  for (int64_t v = 0; v < V; ++v) {
    const T* row = src + (blk.b * D + blk.d0 + v) * L + t0;
    for (int64_t j = 0; j < len; ++j) dst[j * V + v] = v < blk.nv ? row[j] : T(0);
  }
}
// dst[b, d0 + v, t0 + j] = src[j * V + v] for the block's real lanes.
template <class T>
void scatter_rows(const T* src, const Block& blk, int64_t D, int64_t L, int64_t V, int64_t t0, int64_t len, T* dst) {
  for (int64_t v = 0; v < blk.nv; ++v) {
    T* row = dst + (blk.b * D + blk.d0 + v) * L + t0;
    for (int64_t j = 0; j < len; ++j) row[j] = src[j * V + v];
  }
}
// Rows t0 .. t0 + len of the block's channels are 16 short runs in 16 different rows, which the hardware prefetcher
// does not see coming; ask for the next chunk's runs while the current one is being computed.
template <class T>
void prefetch_rows(const T* src, const Block& blk, int64_t D, int64_t L, int64_t t0, int64_t len) {
  if (t0 < 0 || t0 >= L) return;
  const int64_t per_line = int64_t(64 / sizeof(T));
  for (int64_t v = 0; v < blk.nv; ++v) {
    const T* row = src + (blk.b * D + blk.d0 + v) * L;
    for (int64_t t = t0; t < std::min(L, t0 + len) + per_line - 1; t += per_line)
      hwy::Prefetch(row + std::min(t, L - 1));
  }
}
// States (N, V) <-> per-channel rows of N at base + (b * D + d) * stride (checkpoints, last state, dlast, dA).
template <class T>
void gather_states(const T* base, int64_t stride, const Block& blk, int64_t D, int64_t N, int64_t V, T* h) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t v = 0; v < V; ++v) h[n * V + v] = v < blk.nv ? base[(blk.b * D + blk.d0 + v) * stride + n] : T(0);
}
template <class T>
void scatter_states(const T* h, const Block& blk, int64_t D, int64_t N, int64_t V, T* base, int64_t stride) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t v = 0; v < blk.nv; ++v) base[(blk.b * D + blk.d0 + v) * stride + n] = h[n * V + v];
}

// Per-block constants: A as (N, V) (A[d0 + v, n] in lane v), Dskip and delta_bias as (V).
template <class T>
struct BlockParams {
  T* A;
  T* Dskip;
  T* bias;
  void load(const ScanInputs<T>& in, const Block& blk, int64_t V) const {
    for (int64_t n = 0; n < in.N; ++n)
      for (int64_t v = 0; v < V; ++v) A[n * V + v] = v < blk.nv ? in.A[(blk.d0 + v) * in.N + n] : T(0);
    for (int64_t v = 0; v < V; ++v) {
      Dskip[v] = v < blk.nv && in.Dskip ? in.Dskip[blk.d0 + v] : T(0);
      bias[v] = v < blk.nv && in.delta_bias ? in.delta_bias[blk.d0 + v] : T(0);
    }
  }
};

// Per-thread scratch: (kChunk, V) time-major rows of one block and chunk, and the recompute buffers.
template <class T>
struct Scratch {
  Buffer<T> mem;
  T *raw, *dt, *dtu, *u, *z, *g, *gy, *out, *du, *ddelta, *dz;  // (kChunk, V)
  T* h;                                                         // (N, V) running state
  T* hist;  // (kChunk + 1, N, V) states of one chunk, hist[0] = state before it
  T* aexp;  // (kChunk, N, V)     exp(dt * A) of one chunk
  T* dBv;   // (kChunk, N, V)     dB, dC of the chunk summed over the group's blocks, one lane per channel
  T* dCv;

  Scratch(int64_t N, int64_t V) {
    const int64_t row = kChunk * V, state = N * V, n_rows = 11;
    const int64_t total = n_rows * row + state + (kChunk + 1) * state + 3 * kChunk * state;
    mem = Buffer<T>(total);
    std::fill(mem.get(), mem.get() + total, T(0));
    T* p = mem.get();
    for (T** r : {&raw, &dt, &dtu, &u, &z, &g, &gy, &out, &du, &ddelta, &dz}) *r = p, p += row;
    h = p, p += state;
    hist = p, p += (kChunk + 1) * state;
    aexp = p, p += kChunk * state;
    dBv = p, p += kChunk * state;
    dCv = p;
  }
};

// Stage rows t0 .. t0 + len of a block: raw = delta + bias, dt = softplus(raw) or raw, u, dtu = dt * u, and z.
template <class T>
void stage_chunk(const ScanInputs<T>& in, const Block& blk, const BlockParams<T>& p, int64_t t0, int64_t len,
                 Scratch<T>& s) {
  const hn::ScalableTag<T> d;
  const int64_t V = int64_t(hn::Lanes(d)), D = in.D, L = in.L;
  gather_rows(in.delta, blk, D, L, V, t0, len, s.raw);
  gather_rows(in.u, blk, D, L, V, t0, len, s.u);
  if (in.z) gather_rows(in.z, blk, D, L, V, t0, len, s.z);
  const auto bias = hn::Load(d, p.bias);
  for (int64_t j = 0; j < len; ++j) {
    const auto raw = hn::Add(hn::Load(d, s.raw + j * V), bias);
    const auto dt = in.softplus ? Softplus(d, raw) : raw;
    hn::Store(raw, d, s.raw + j * V);
    hn::Store(dt, d, s.dt + j * V);
    hn::Store(hn::Mul(dt, hn::Load(d, s.u + j * V)), d, s.dtu + j * V);
  }
}

// h[n] <- exp(dt * A[n]) * h[n] + dtu * B[t, n] for one time step, all n; returns y = sum_n h[n] * C[t, n].
// Optionally records exp(dt * A) and the new states (backward recompute).
template <class D, class V>
HWY_INLINE V step_states(D d, int64_t N, V dt, V dtu, const hn::TFromD<D>* A, const hn::TFromD<D>* Bt,
                         const hn::TFromD<D>* Ct, const hn::TFromD<D>* h_in, hn::TFromD<D>* h_out,
                         hn::TFromD<D>* aexp_out) {
  const int64_t NV = int64_t(hn::Lanes(d));
  auto y = hn::Zero(d);
  for (int64_t n = 0; n < N; ++n) {
    // h = exp(delta * A) * h + (delta * u) * B;  y += h * C
    const auto a = ExpDecay(d, hn::Mul(dt, hn::Load(d, A + n * NV)));
    const auto h = hn::MulAdd(a, hn::Load(d, h_in + n * NV), hn::Mul(dtu, hn::Set(d, Bt[n])));
    hn::Store(h, d, h_out + n * NV);
    if (aexp_out) hn::Store(a, d, aexp_out + n * NV);
    y = hn::MulAdd(h, hn::Set(d, Ct[n]), y);
  }
  return y;
}

// ---- forward --------------------------------------------------------------------------------------------------

template <class T>
void forward_impl(const ScanInputs<T>& in, T* out, T* last_state, T* checkpoints) {
  const hn::ScalableTag<T> d;
  const int64_t V = int64_t(hn::Lanes(d)), B = in.B, D = in.D, L = in.L, N = in.N;
  const int64_t n_blocks = ceil_div(D, V), n_ckpt = num_chunks(L) - 1;
  const StepInputs<T> steps(in, 1);

  scan_parallel_for(B * n_blocks, L * N * V * 16, [&](int64_t w0, int64_t w1) {
    Scratch<T> s(N, V);
    auto pmem = Buffer<T>((N + 2) * V);
    const BlockParams<T> p{pmem.get(), pmem.get() + N * V, pmem.get() + (N + 1) * V};
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / n_blocks, d0 = (w % n_blocks) * V;
      const Block blk{b, d0, std::min(V, D - d0)};
      p.load(in, blk, V);
      const auto Dskip = hn::Load(d, p.Dskip);
      std::fill(s.h, s.h + N * V, T(0));
      for (int64_t c = 0; c <= n_ckpt; ++c) {
        // Save the state entering chunk c for the backward's recompute.
        if (checkpoints && c > 0) scatter_states(s.h, blk, D, N, V, checkpoints + (c - 1) * N, n_ckpt * N);
        const int64_t t0 = c * kChunk, len = std::min(kChunk, L - t0);
        for (const T* src : {in.delta, in.u, in.z, static_cast<const T*>(out)})
          if (src) prefetch_rows(src, blk, D, L, t0 + kChunk, kChunk);
        stage_chunk(in, blk, p, t0, len, s);
        for (int64_t j = 0; j < len; ++j) {
          const auto y =
              step_states(d, N, hn::Load(d, s.dt + j * V), hn::Load(d, s.dtu + j * V), p.A, steps.Bt_row(b, t0 + j, L),
                          steps.Ct_row(b, t0 + j, L), s.h, s.h, static_cast<T*>(nullptr));
          // out = (y + u * D) * silu(z)
          auto o = hn::MulAdd(hn::Load(d, s.u + j * V), Dskip, y);
          if (in.z) {
            const auto z = hn::Load(d, s.z + j * V);
            o = hn::Mul(o, hn::Mul(z, Sigmoid(d, z)));
          }
          hn::Store(o, d, s.out + j * V);
        }
        scatter_rows(s.out, blk, D, L, V, t0, len, out);
      }
      if (last_state) scatter_states(s.h, blk, D, N, V, last_state, N);
    }
  });
}

// ---- backward -------------------------------------------------------------------------------------------------

// State a block carries across the chunks of the backward (the chunks of all blocks of a group interleave).
template <class T>
struct BlockState {
  BlockParams<T> p;
  T* carry;   // (N, V) hbar_{t} * a_{t}, the state adjoint flowing into step t - 1
  T* dA;      // (N, V) sum_t hbar * h_{t-1} * a * dt
  T* dDskip;  // (V)    sum_t gy * u
  T* dbias;   // (V)    sum_t ddelta
};

// One chunk of one block, reversed (formulas in cpu/selective_scan_scalar.cpp), all lanes = channels:
//   hbar = gy * C + carry       dC += gy * h_t           dB += dtu * hbar      s1 += hbar * B
//   gexp = hbar * h_{t-1} * a   s2 += gexp * A           dA += gexp * dt       carry = hbar * a
//   du = dt * s1 + gy * D       ddelta = (u * s1 + s2) * softplus'(raw)       dz = dout * (y + u * D) * silu'(z)
template <class T>
void reverse_chunk(const ScanInputs<T>& in, const StepInputs<T>& steps, const Block& blk, BlockState<T>& st, int64_t t0,
                   int64_t len, Scratch<T>& s) {
  const hn::ScalableTag<T> d;
  const int64_t V = int64_t(hn::Lanes(d)), N = in.N, L = in.L, SV = N * V;
  const auto one = hn::Set(d, T(1)), Dskip = hn::Load(d, st.p.Dskip);
  auto dD = hn::Load(d, st.dDskip), dbias = hn::Load(d, st.dbias);
  for (int64_t j = len - 1; j >= 0; --j) {
    const T* Bt = steps.Bt_row(blk.b, t0 + j, L);
    const T* Ct = steps.Ct_row(blk.b, t0 + j, L);
    const auto gy = hn::Load(d, s.gy + j * V), dt = hn::Load(d, s.dt + j * V), dtu = hn::Load(d, s.dtu + j * V);
    auto s1 = hn::Zero(d), s2 = hn::Zero(d), y = hn::Zero(d);
    for (int64_t n = 0; n < N; ++n) {
      const auto Cn = hn::Set(d, Ct[n]), An = hn::Load(d, st.p.A + n * V);
      const auto a = hn::Load(d, s.aexp + j * SV + n * V);
      const auto h = hn::Load(d, s.hist + (j + 1) * SV + n * V), h_prev = hn::Load(d, s.hist + j * SV + n * V);
      const auto hbar = hn::MulAdd(gy, Cn, hn::Load(d, st.carry + n * V));
      T* dC = s.dCv + j * SV + n * V;
      T* dB = s.dBv + j * SV + n * V;
      hn::Store(hn::MulAdd(gy, h, hn::Load(d, dC)), d, dC);
      hn::Store(hn::MulAdd(dtu, hbar, hn::Load(d, dB)), d, dB);
      s1 = hn::MulAdd(hbar, hn::Set(d, Bt[n]), s1);
      const auto gexp = hn::Mul(hn::Mul(hbar, h_prev), a);  // dLoss/d(dt * A)
      s2 = hn::MulAdd(gexp, An, s2);
      hn::Store(hn::MulAdd(gexp, dt, hn::Load(d, st.dA + n * V)), d, st.dA + n * V);
      hn::Store(hn::Mul(hbar, a), d, st.carry + n * V);
      y = hn::MulAdd(h, Cn, y);
    }
    const auto u = hn::Load(d, s.u + j * V);
    hn::Store(hn::MulAdd(dt, s1, hn::Mul(gy, Dskip)), d, s.du + j * V);
    auto ddelta = hn::MulAdd(u, s1, s2);
    if (in.softplus) ddelta = hn::Mul(ddelta, SoftplusGrad(d, hn::Load(d, s.raw + j * V)));
    hn::Store(ddelta, d, s.ddelta + j * V);
    if (in.z) {
      const auto z = hn::Load(d, s.z + j * V);
      const auto pre = hn::MulAdd(u, Dskip, y);
      hn::Store(hn::Mul(hn::Mul(hn::Load(d, s.g + j * V), pre), SiluGrad(z, Sigmoid(d, z), one)), d, s.dz + j * V);
    }
    dD = hn::MulAdd(gy, u, dD);
    dbias = hn::Add(dbias, ddelta);
  }
  hn::Store(dD, d, st.dDskip);
  hn::Store(dbias, d, st.dbias);
}

template <class T>
void backward_impl(const ScanInputs<T>& in, const T* dout, const T* dlast, const T* checkpoints,
                   const ScanGrads<T>& g) {
  const hn::ScalableTag<T> d;
  const int64_t V = int64_t(hn::Lanes(d)), B = in.B, D = in.D, L = in.L, N = in.N, SV = N * V;
  const int64_t n_groups = ceil_div(D, kScanChannelGroup), blocks_per_group = kScanChannelGroup / V;
  const int64_t n_ckpt = num_chunks(L) - 1;
  const StepInputs<T> steps(in, 1);
  Partials<T> part(in, N, n_groups);

  scan_parallel_for(B * n_groups, std::min(D, kScanChannelGroup) * L * N * 40, [&](int64_t w0, int64_t w1) {
    Scratch<T> s(N, V);
    const int64_t per_block = 3 * SV + 4 * V;
    auto bmem = Buffer<T>(blocks_per_group * per_block);
    std::vector<BlockState<T>> blocks;
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / n_groups, grp = w % n_groups;
      std::vector<Block> blks;
      blocks.clear();
      for (int64_t d0 = grp * kScanChannelGroup; d0 < std::min(D, (grp + 1) * kScanChannelGroup); d0 += V) {
        const Block blk{b, d0, std::min(V, D - d0)};
        T* m = bmem.get() + int64_t(blks.size()) * per_block;
        BlockState<T> st{
            {m, m + SV, m + SV + V}, m + SV + 2 * V, m + 2 * SV + 2 * V, m + 3 * SV + 2 * V, m + 3 * SV + 3 * V};
        st.p.load(in, blk, V);
        if (dlast)
          gather_states(dlast, N, blk, D, N, V, st.carry);
        else
          std::fill(st.carry, st.carry + SV, T(0));
        std::fill(st.dA, st.dA + SV, T(0));
        std::fill(st.dDskip, st.dDskip + V, T(0));
        std::fill(st.dbias, st.dbias + V, T(0));
        blks.push_back(blk);
        blocks.push_back(st);
      }
      T* dBp = part.dB_item(w);  // (L, N) partial over this group's channels
      T* dCp = part.dC_item(w);
      for (int64_t c = n_ckpt; c >= 0; --c) {
        const int64_t t0 = c * kChunk, len = std::min(kChunk, L - t0);
        std::fill(s.dBv, s.dBv + len * SV, T(0));
        std::fill(s.dCv, s.dCv + len * SV, T(0));
        for (size_t k = 0; k < blks.size(); ++k) {
          const Block& blk = blks[k];
          BlockState<T>& st = blocks[k];
          for (const T* src : {in.delta, in.u, in.z, dout, static_cast<const T*>(g.du), static_cast<const T*>(g.ddelta),
                               static_cast<const T*>(g.dz)})
            if (src) prefetch_rows(src, blk, D, L, t0 - kChunk, kChunk);
          stage_chunk(in, blk, st.p, t0, len, s);
          gather_rows(dout, blk, D, L, V, t0, len, s.g);
          for (int64_t j = 0; j < len; ++j) {  // gy = dout * silu(z): the gradient reaching y + u * D
            auto gy = hn::Load(d, s.g + j * V);
            if (in.z) {
              const auto z = hn::Load(d, s.z + j * V);
              gy = hn::Mul(gy, hn::Mul(z, Sigmoid(d, z)));
            }
            hn::Store(gy, d, s.gy + j * V);
          }
          // Recompute the chunk's states from the saved start state.
          if (c > 0)
            gather_states(checkpoints + (c - 1) * N, n_ckpt * N, blk, D, N, V, s.hist);
          else
            std::fill(s.hist, s.hist + SV, T(0));
          for (int64_t j = 0; j < len; ++j)
            step_states(d, N, hn::Load(d, s.dt + j * V), hn::Load(d, s.dtu + j * V), st.p.A, steps.Bt_row(b, t0 + j, L),
                        steps.Ct_row(b, t0 + j, L), s.hist + j * SV, s.hist + (j + 1) * SV, s.aexp + j * SV);
          reverse_chunk(in, steps, blk, st, t0, len, s);
          scatter_rows(s.du, blk, D, L, V, t0, len, g.du);
          scatter_rows(s.ddelta, blk, D, L, V, t0, len, g.ddelta);
          if (g.dz) scatter_rows(s.dz, blk, D, L, V, t0, len, g.dz);
        }
        // dB[t, n], dC[t, n] of this group: one horizontal sum per (t, n) for all of the group's channels.
        for (int64_t j = 0; j < len; ++j)
          for (int64_t n = 0; n < N; ++n) {
            dBp[(t0 + j) * N + n] = hn::GetLane(hn::SumOfLanes(d, hn::Load(d, s.dBv + j * SV + n * V)));
            dCp[(t0 + j) * N + n] = hn::GetLane(hn::SumOfLanes(d, hn::Load(d, s.dCv + j * SV + n * V)));
          }
      }
      for (size_t k = 0; k < blks.size(); ++k) {
        const Block& blk = blks[k];
        scatter_states(blocks[k].dA, blk, D, N, V, part.dA.get(), N);
        for (int64_t v = 0; v < blk.nv; ++v) {
          part.dDskip[b * D + blk.d0 + v] = blocks[k].dDskip[v];
          part.dbias[b * D + blk.d0 + v] = blocks[k].dbias[v];
        }
      }
    }
  });
  part.reduce(g);
}

void ForwardF32(const ScanInputs<float>& in, float* out, float* last, float* ckpt) {
  forward_impl(in, out, last, ckpt);
}
void ForwardF64(const ScanInputs<double>& in, double* out, double* last, double* ckpt) {
  forward_impl(in, out, last, ckpt);
}
void BackwardF32(const ScanInputs<float>& in, const float* dout, const float* dlast, const float* ckpt,
                 const ScanGrads<float>& g) {
  backward_impl(in, dout, dlast, ckpt, g);
}
void BackwardF64(const ScanInputs<double>& in, const double* dout, const double* dlast, const double* ckpt,
                 const ScanGrads<double>& g) {
  backward_impl(in, dout, dlast, ckpt, g);
}

}  // namespace hm::cpu::highway_channels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hm::cpu::highway_channels {

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
  return B * D * ((L + kChannelsChunk - 1) / kChannelsChunk - 1) * N;
}

}  // namespace hm::cpu::highway_channels
#endif  // HWY_ONCE
