// Tensor-core bf16 attention (variant `cuda_flash_tc`): the algorithms of cuda/attention_flash.cu (FlashAttention-2
// Algorithms 1 and 2) with every product on WMMA bf16 16x16x16 tiles with f32 accumulation (nvcuda::wmma, sm_80+).
// f32 and f64 inputs use the FMA kernels of cuda_flash.
//
// Block: 4 warps, a 64-query tile (16 rows per warp), key tiles of 64. Shared memory (bf16 tiles with a row pitch
// of D + 8 elements, f32 tiles with D + 4 or 64 + 4: multiples of 16 bytes as WMMA requires, and off the 128-byte
// bank period): Q, K, V tiles; per warp its S (16 x 64, f32), P (16 x 64, bf16) and O accumulator (16 x D, f32).
// WMMA leaves the fragment-to-element mapping unspecified, so O lives in shared memory: each key tile rescales
// its rows by e^(m - m') with plain loads, then loads it as the accumulator of the P V product.
// The probabilities enter P V rounded to bf16 (as in FlashAttention-2); the row sum l uses them unrounded.
//
// Backward: dk/dv kernel (a block per 64 keys, 16 per warp, looping over query tiles) and dq kernel (a block per 64
// queries, looping over key tiles), as in cuda_flash. Each warp computes its S and dP (16 x 64) with WMMA into
// shared memory, turns them into P keep and dS = P (dP keep - D) (rounded to bf16, as FlashAttention-2 does) with
// plain lane loops, and multiplies those into its dk, dv or dq accumulators, which stay in WMMA fragments (no
// rescaling in backward) until the end.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include "cuda/attention.h"
#include "cuda/attention_common.cuh"
#include "cuda/runtime.h"
#include "engine/error.h"

namespace hm::cuda {
namespace {

using attn::Params;
namespace wmma = nvcuda::wmma;
constexpr int kWarps = 4, kThreads = 32 * kWarps;
constexpr int BQ = 16 * kWarps, BK = 64;

template <int D>
struct Layout {
  static constexpr int LD = D + 8;   // bf16 pitch of the Q, K, V tiles
  static constexpr int LS = BK + 4;  // f32 pitch of S
  static constexpr int LP = BK + 8;  // bf16 pitch of P
  static constexpr int LO = D + 4;   // f32 pitch of O
  // byte offsets (all multiples of 32: WMMA wants 256-bit aligned tile pointers)
  static constexpr size_t q = 0;
  static constexpr size_t k = q + size_t(BQ) * LD * 2;
  static constexpr size_t v = k + size_t(BK) * LD * 2;
  static constexpr size_t s = v + size_t(BK) * LD * 2;
  static constexpr size_t p = s + size_t(kWarps) * 16 * LS * 4;
  static constexpr size_t o = p + size_t(kWarps) * 16 * LP * 2;
  static constexpr size_t flag = o + size_t(kWarps) * 16 * LO * 4;
  static constexpr size_t bytes = flag + size_t(BK) * 4;
};

// dst (rows, LD) bf16 := rows [r0, r0 + rows) of src (.., Dh), zero past `total` rows and past Dh.
template <int D>
__device__ void load_tile(__nv_bfloat16* dst, const __nv_bfloat16* src, int rows, int64_t r0, int64_t total,
                          int64_t Dh) {
  for (int x = threadIdx.x; x < rows * D; x += kThreads) {
    const int r = x / D, c = x % D;
    dst[r * Layout<D>::LD + c] = (r0 + r < total && c < Dh) ? src[(r0 + r) * Dh + c] : __float2bfloat16(0.0f);
  }
}

template <int D>
__global__ void __launch_bounds__(kThreads)
    flash_tc_forward_kernel(Params<float> p, const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v,
                            const uint8_t* pad, __nv_bfloat16* out, float* lse) {
  using Lay = Layout<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  auto* Qs = reinterpret_cast<__nv_bfloat16*>(smem + Lay::q);  // (BQ, LD)
  auto* Ks = reinterpret_cast<__nv_bfloat16*>(smem + Lay::k);  // (BK, LD)
  auto* Vs = reinterpret_cast<__nv_bfloat16*>(smem + Lay::v);  // (BK, LD)
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* Ss = reinterpret_cast<float*>(smem + Lay::s) + warp * 16 * Lay::LS;         // (16, LS) this warp's S
  auto* Ps = reinterpret_cast<__nv_bfloat16*>(smem + Lay::p) + warp * 16 * Lay::LP;  // (16, LP) its P
  float* Os = reinterpret_cast<float*>(smem + Lay::o) + warp * 16 * Lay::LO;         // (16, LO) its O
  float* kflag = reinterpret_cast<float*>(smem + Lay::flag);                         // (BK)
  const int64_t bh = blockIdx.y, q0 = int64_t(blockIdx.x) * BQ;
  const uint8_t* padb = pad ? pad + (bh / p.H) * p.Tk : nullptr;
  load_tile<D>(Qs, q + bh * p.Tq * p.Dh, BQ, q0, p.Tq, p.Dh);
  for (int x = lane; x < 16 * D; x += 32) Os[(x / D) * Lay::LO + x % D] = 0;

  // Lane (rr, h) keeps the softmax state of warp row rr and works on its columns [32 h, 32 h + 32) of S / P and
  // [h D / 2, (h + 1) D / 2) of O; the two lanes of a row combine with one xor-shuffle over 16.
  const int rr = lane % 16, h = lane / 16;
  const int64_t i = q0 + warp * 16 + rr;
  float m = attn::neg_inf<float>(), l = 0;
  const int64_t kend = p.causal && q0 + BQ < p.Tk ? q0 + BQ : p.Tk;
  for (int64_t k0 = 0; k0 < kend; k0 += BK) {
    __syncthreads();  // every warp is done with the previous K, V tiles
    load_tile<D>(Ks, k + bh * p.Tk * p.Dh, BK, k0, p.Tk, p.Dh);
    load_tile<D>(Vs, v + bh * p.Tk * p.Dh, BK, k0, p.Tk, p.Dh);
    for (int x = threadIdx.x; x < BK; x += kThreads)
      kflag[x] = (k0 + x < p.Tk && !(padb && padb[k0 + x])) ? 1.0f : 0.0f;
    __syncthreads();

    // S (16, BK) = Q_warp (16, D) K^T (D, BK): K row-major (BK, LD) is K^T column-major.
    for (int n = 0; n < BK / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
      for (int c = 0; c < D / 16; ++c) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b;
        wmma::load_matrix_sync(a, Qs + warp * 16 * Lay::LD + c * 16, Lay::LD);
        wmma::load_matrix_sync(b, Ks + n * 16 * Lay::LD + c * 16, Lay::LD);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(Ss + n * 16, acc, Lay::LS, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax on row rr, columns [32 h, 32 h + 32).
    float mx = attn::neg_inf<float>();
    for (int t = 0; t < 32; ++t) {
      const int x = 32 * h + t;
      const bool ok = kflag[x] != 0.0f && !(p.causal && k0 + x > i);
      const float s = ok ? p.scale * Ss[rr * Lay::LS + x] : attn::neg_inf<float>();
      Ss[rr * Lay::LS + x] = s;
      mx = fmaxf(mx, s);
    }
    const float m_new = fmaxf(m, fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 16)));
    const float alpha = m_new == attn::neg_inf<float>() ? 1.0f : expf(m - m_new);
    float sum = 0;
    for (int t = 0; t < 32; ++t) {
      const int x = 32 * h + t;
      const float pr = m_new == attn::neg_inf<float>() ? 0.0f : expf(Ss[rr * Lay::LS + x] - m_new);
      sum += pr;
      const float keep = p.dropout ? attn::keep_factor(p, bh, i, k0 + x) : 1.0f;
      Ps[rr * Lay::LP + x] = __float2bfloat16(pr * keep);
    }
    l = alpha * l + sum + __shfl_xor_sync(0xffffffffu, sum, 16);
    m = m_new;
    for (int c = h * (D / 2); c < (h + 1) * (D / 2); ++c) Os[rr * Lay::LO + c] *= alpha;
    __syncwarp();

    // O (16, D) += P (16, BK) V (BK, D).
    for (int n = 0; n < D / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, Os + n * 16, Lay::LO, wmma::mem_row_major);
      for (int x = 0; x < BK / 16; ++x) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b;
        wmma::load_matrix_sync(a, Ps + x * 16, Lay::LP);
        wmma::load_matrix_sync(b, Vs + x * 16 * Lay::LD + n * 16, Lay::LD);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(Os + n * 16, acc, Lay::LO, wmma::mem_row_major);
    }
    __syncwarp();
  }
  if (i >= p.Tq) return;
  const float inv = l > 0 ? 1.0f / l : 0.0f;  // l = 0: fully masked row, out = 0
  for (int c = h * (D / 2); c < (h + 1) * (D / 2); ++c)
    if (c < p.Dh) out[(bh * p.Tq + i) * p.Dh + c] = __float2bfloat16(Os[rr * Lay::LO + c] * inv);
  if (h == 0) lse[bh * p.Tq + i] = l > 0 ? m + logf(l) : attn::neg_inf<float>();
}

// ---- backward ----

// Shared-memory layout of both backward kernels: four (64, LD) bf16 tiles, per warp an S and a dP tile (16, LS) f32
// (reused as the (16, LO) f32 staging of the results; 2 * LS >= LO for D <= 128) and two (16, LP) bf16 tiles, and
// three (64) f32 vectors.
template <int D>
struct BwdLayout {
  using L = Layout<D>;
  static_assert(2 * L::LS >= L::LO, "result staging must fit in the S + dP tiles");
  static constexpr size_t tiles = 0;  // 4 x (64, LD) bf16
  static constexpr size_t sf = tiles + 4 * size_t(64) * L::LD * 2;
  static constexpr size_t pb = sf + size_t(kWarps) * 2 * 16 * L::LS * 4;   // per warp: S then dP (f32)
  static constexpr size_t vec = pb + size_t(kWarps) * 2 * 16 * L::LP * 2;  // per warp: P keep then dS (bf16)
  static constexpr size_t bytes = vec + 3 * size_t(64) * 4;
};

// acc (16, 64) = X (16 rows at X, pitch LD) Y^T for Y (64 rows at Y, pitch LD), over D: the S / dP products.
template <int D>
__device__ void product_t(float* out, const __nv_bfloat16* X, const __nv_bfloat16* Y) {
  constexpr int LD = Layout<D>::LD, LS = Layout<D>::LS;
  for (int n = 0; n < 4; ++n) {
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
    for (int c = 0; c < D / 16; ++c) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b;
      wmma::load_matrix_sync(a, X + c * 16, LD);
      wmma::load_matrix_sync(b, Y + n * 16 * LD + c * 16, LD);
      wmma::mma_sync(acc, a, b, acc);
    }
    wmma::store_matrix_sync(out + n * 16, acc, LS, wmma::mem_row_major);
  }
}

using Acc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// acc[n] (16, 16 n ..) += M (16, 64) bf16 (pitch LP) Y (64, D) bf16 (pitch LD).
template <int D>
__device__ void accumulate(Acc (&acc)[D / 16], const __nv_bfloat16* M, const __nv_bfloat16* Y) {
  constexpr int LD = Layout<D>::LD, LP = Layout<D>::LP;
  for (int x = 0; x < 4; ++x) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
    wmma::load_matrix_sync(a, M + x * 16, LP);
    for (int n = 0; n < D / 16; ++n) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b;
      wmma::load_matrix_sync(b, Y + x * 16 * LD + n * 16, LD);
      wmma::mma_sync(acc[n], a, b, acc[n]);
    }
  }
}

// Writes scale * acc (16, D) to rows [r0, r0 + 16) of dst (rows, Dh) bf16 through the warp's f32 staging tile.
template <int D>
__device__ void store_rows(Acc (&acc)[D / 16], float* stage, float scale, __nv_bfloat16* dst, int64_t r0, int64_t rows,
                           int64_t Dh) {
  constexpr int LO = Layout<D>::LO;
  __syncwarp();  // the staging tile (S, dP) is consumed
  for (int n = 0; n < D / 16; ++n) wmma::store_matrix_sync(stage + n * 16, acc[n], LO, wmma::mem_row_major);
  __syncwarp();
  const int lane = threadIdx.x % 32;
  for (int x = lane; x < 16 * D; x += 32) {
    const int r = x / D, c = x % D;
    if (r0 + r < rows && c < Dh) dst[(r0 + r) * Dh + c] = __float2bfloat16(scale * stage[r * LO + c]);
  }
}

// dk, dv of 64 keys: grid (key tiles of 64, B*H). Warp w owns keys k0 + 16 w + [0, 16).
template <int D>
__global__ void __launch_bounds__(kThreads)
    flash_tc_dkdv_kernel(Params<float> p, const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v,
                         const uint8_t* pad, const float* lse, const float* Drow, const __nv_bfloat16* dout,
                         __nv_bfloat16* dk, __nv_bfloat16* dv) {
  using Lay = BwdLayout<D>;
  constexpr int LD = Layout<D>::LD, LS = Layout<D>::LS, LP = Layout<D>::LP;
  extern __shared__ __align__(128) unsigned char smem[];
  auto* Ks = reinterpret_cast<__nv_bfloat16*>(smem + Lay::tiles);  // (64, LD) this block's keys
  auto* Vs = Ks + 64 * LD;                                         // (64, LD) their values
  auto* Qs = Vs + 64 * LD;                                         // (64, LD) query tile
  auto* Gs = Qs + 64 * LD;                                         // (64, LD) its dout
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* Sf = reinterpret_cast<float*>(smem + Lay::sf) + warp * 2 * 16 * LS;         // (16, LS) k_j . q_i
  float* Df = Sf + 16 * LS;                                                          // (16, LS) v_j . dout_i
  auto* Pb = reinterpret_cast<__nv_bfloat16*>(smem + Lay::pb) + warp * 2 * 16 * LP;  // (16, LP) P keep [key][query]
  auto* Db = Pb + 16 * LP;                                                           // (16, LP) dS [key][query]
  float* lse_t = reinterpret_cast<float*>(smem + Lay::vec);                          // (64)
  float* D_t = lse_t + 64;                                                           // (64)
  float* kflag = D_t + 64;                                                           // (64)
  const int64_t bh = blockIdx.y, k0 = int64_t(blockIdx.x) * 64;
  const uint8_t* padb = pad ? pad + (bh / p.H) * p.Tk : nullptr;
  load_tile<D>(Ks, k + bh * p.Tk * p.Dh, 64, k0, p.Tk, p.Dh);
  load_tile<D>(Vs, v + bh * p.Tk * p.Dh, 64, k0, p.Tk, p.Dh);
  for (int x = threadIdx.x; x < 64; x += kThreads) kflag[x] = (k0 + x < p.Tk && !(padb && padb[k0 + x])) ? 1.0f : 0.0f;
  Acc dk_acc[D / 16], dv_acc[D / 16];
  for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(dk_acc[n], 0.0f), wmma::fill_fragment(dv_acc[n], 0.0f);
  const int rr = lane % 16, h = lane / 16;  // lane's key row in the warp, and its half of the 64 queries
  const int64_t j = k0 + warp * 16 + rr;
  for (int64_t q0 = p.causal ? k0 : 0; q0 < p.Tq; q0 += 64) {  // causal: queries before k0 see none of these keys
    __syncthreads();                                           // the previous query tile is consumed
    load_tile<D>(Qs, q + bh * p.Tq * p.Dh, 64, q0, p.Tq, p.Dh);
    load_tile<D>(Gs, dout + bh * p.Tq * p.Dh, 64, q0, p.Tq, p.Dh);
    for (int x = threadIdx.x; x < 64; x += kThreads) {
      lse_t[x] = q0 + x < p.Tq ? lse[bh * p.Tq + q0 + x] : attn::neg_inf<float>();  // -inf: P = 0
      D_t[x] = q0 + x < p.Tq ? Drow[bh * p.Tq + q0 + x] : 0.0f;
    }
    __syncthreads();
    product_t<D>(Sf, Ks + warp * 16 * LD, Qs);
    product_t<D>(Df, Vs + warp * 16 * LD, Gs);
    __syncwarp();
    for (int t = 0; t < 32; ++t) {
      const int x = 32 * h + t;
      const int64_t i = q0 + x;
      const bool ok = kflag[warp * 16 + rr] != 0.0f && lse_t[x] != attn::neg_inf<float>() && !(p.causal && j > i);
      const float pr = ok ? expf(p.scale * Sf[rr * LS + x] - lse_t[x]) : 0.0f;
      const float keep = ok && p.dropout ? attn::keep_factor(p, bh, i, j) : 1.0f;
      Pb[rr * LP + x] = __float2bfloat16(pr * keep);
      Db[rr * LP + x] = __float2bfloat16(pr * (Df[rr * LS + x] * keep - D_t[x]));
    }
    __syncwarp();
    accumulate<D>(dv_acc, Pb, Gs);  // dv_j += sum_i Pd_ji dout_i
    accumulate<D>(dk_acc, Db, Qs);  // dk_j += sum_i dS_ji q_i
  }
  store_rows<D>(dk_acc, Sf, p.scale, dk + bh * p.Tk * p.Dh, k0 + warp * 16, p.Tk, p.Dh);
  store_rows<D>(dv_acc, Sf, 1.0f, dv + bh * p.Tk * p.Dh, k0 + warp * 16, p.Tk, p.Dh);
}

// dq of 64 queries: grid (query tiles of 64, B*H). Warp w owns queries q0 + 16 w + [0, 16).
template <int D>
__global__ void __launch_bounds__(kThreads)
    flash_tc_dq_kernel(Params<float> p, const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v,
                       const uint8_t* pad, const float* lse, const float* Drow, const __nv_bfloat16* dout,
                       __nv_bfloat16* dq) {
  using Lay = BwdLayout<D>;
  constexpr int LD = Layout<D>::LD, LS = Layout<D>::LS, LP = Layout<D>::LP;
  extern __shared__ __align__(128) unsigned char smem[];
  auto* Qs = reinterpret_cast<__nv_bfloat16*>(smem + Lay::tiles);  // (64, LD) this block's queries
  auto* Gs = Qs + 64 * LD;                                         // (64, LD) their dout
  auto* Ks = Gs + 64 * LD;                                         // (64, LD) key tile
  auto* Vs = Ks + 64 * LD;                                         // (64, LD) value tile
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* Sf = reinterpret_cast<float*>(smem + Lay::sf) + warp * 2 * 16 * LS;         // (16, LS) q_i . k_j
  float* Df = Sf + 16 * LS;                                                          // (16, LS) dout_i . v_j
  auto* Db = reinterpret_cast<__nv_bfloat16*>(smem + Lay::pb) + warp * 2 * 16 * LP;  // (16, LP) dS [query][key]
  float* lse_t = reinterpret_cast<float*>(smem + Lay::vec);                          // (64)
  float* D_t = lse_t + 64;                                                           // (64)
  float* kflag = D_t + 64;                                                           // (64)
  const int64_t bh = blockIdx.y, q0 = int64_t(blockIdx.x) * 64;
  const uint8_t* padb = pad ? pad + (bh / p.H) * p.Tk : nullptr;
  load_tile<D>(Qs, q + bh * p.Tq * p.Dh, 64, q0, p.Tq, p.Dh);
  load_tile<D>(Gs, dout + bh * p.Tq * p.Dh, 64, q0, p.Tq, p.Dh);
  for (int x = threadIdx.x; x < 64; x += kThreads) {
    lse_t[x] = q0 + x < p.Tq ? lse[bh * p.Tq + q0 + x] : attn::neg_inf<float>();
    D_t[x] = q0 + x < p.Tq ? Drow[bh * p.Tq + q0 + x] : 0.0f;
  }
  Acc dq_acc[D / 16];
  for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(dq_acc[n], 0.0f);
  const int rr = lane % 16, h = lane / 16;  // lane's query row in the warp, and its half of the 64 keys
  const int qx = warp * 16 + rr;
  const int64_t i = q0 + qx;
  const int64_t kend = p.causal && q0 + 64 < p.Tk ? q0 + 64 : p.Tk;
  for (int64_t k0 = 0; k0 < kend; k0 += 64) {
    __syncthreads();
    load_tile<D>(Ks, k + bh * p.Tk * p.Dh, 64, k0, p.Tk, p.Dh);
    load_tile<D>(Vs, v + bh * p.Tk * p.Dh, 64, k0, p.Tk, p.Dh);
    for (int x = threadIdx.x; x < 64; x += kThreads)
      kflag[x] = (k0 + x < p.Tk && !(padb && padb[k0 + x])) ? 1.0f : 0.0f;
    __syncthreads();
    product_t<D>(Sf, Qs + warp * 16 * LD, Ks);
    product_t<D>(Df, Gs + warp * 16 * LD, Vs);
    __syncwarp();
    for (int t = 0; t < 32; ++t) {
      const int x = 32 * h + t;
      const int64_t j = k0 + x;
      const bool ok = kflag[x] != 0.0f && lse_t[qx] != attn::neg_inf<float>() && !(p.causal && j > i);
      const float pr = ok ? expf(p.scale * Sf[rr * LS + x] - lse_t[qx]) : 0.0f;
      const float keep = ok && p.dropout ? attn::keep_factor(p, bh, i, j) : 1.0f;
      Db[rr * LP + x] = __float2bfloat16(pr * (Df[rr * LS + x] * keep - D_t[qx]));
    }
    __syncwarp();
    accumulate<D>(dq_acc, Db, Ks);  // dq_i += sum_j dS_ij k_j
  }
  store_rows<D>(dq_acc, Sf, p.scale, dq + bh * p.Tq * p.Dh, q0 + warp * 16, p.Tq, p.Dh);
}

void check_dims(const AttentionDims& d, const char* what) {
  hm::check(d.B >= 1 && d.H >= 1 && d.Tq >= 1 && d.Tk >= 1 && d.Dh >= 1, what, ": bad dims B=", d.B, " H=", d.H,
            " Tq=", d.Tq, " Tk=", d.Tk, " Dh=", d.Dh);
  hm::check(d.Dh <= flash::kMaxHeadDim, what, ": head dim ", d.Dh, " > ", flash::kMaxHeadDim);
  hm::check(d.B * d.H <= 65535, what, ": B*H = ", d.B * d.H, " exceeds the grid's y dimension (65535)");
}

// Launches kernel with `bytes` of dynamic shared memory (raising the 48 KiB default first).
template <class K, class... Args>
void launch(K kernel, dim3 grid, size_t bytes, const char* name, Args... args) {
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), name);
  kernel<<<grid, kThreads, bytes, stream()>>>(args...);
  check_launch(name);
}

}  // namespace

namespace flash_tc {

void attention_forward_bf16(const AttentionDims& d, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                            const uint8_t* pad, bf16_bits* out, float* lse) {
  check_dims(d, "attention cuda_flash_tc forward");
  const Params<float> p = attn::make_params<float>(d);
  const dim3 grid(unsigned((d.Tq + BQ - 1) / BQ), unsigned(d.B * d.H));
  attn::with_head_dim(d.Dh, [&](auto dc) {
    constexpr int D = decltype(dc)::value;
    launch(flash_tc_forward_kernel<D>, grid, Layout<D>::bytes, "attention cuda_flash_tc flash_tc_forward_kernel", p,
           reinterpret_cast<const __nv_bfloat16*>(q), reinterpret_cast<const __nv_bfloat16*>(k),
           reinterpret_cast<const __nv_bfloat16*>(v), pad, reinterpret_cast<__nv_bfloat16*>(out), lse);
  });
}

void attention_backward_bf16(const AttentionDims& d, const bf16_bits* q_, const bf16_bits* k_, const bf16_bits* v_,
                             const uint8_t* pad, const bf16_bits* out, const float* lse, const bf16_bits* dout_,
                             bf16_bits* dq, bf16_bits* dk, bf16_bits* dv) {
  check_dims(d, "attention cuda_flash_tc backward");
  const Params<float> p = attn::make_params<float>(d);
  const auto* q = reinterpret_cast<const __nv_bfloat16*>(q_);
  const auto* k = reinterpret_cast<const __nv_bfloat16*>(k_);
  const auto* v = reinterpret_cast<const __nv_bfloat16*>(v_);
  const auto* dout = reinterpret_cast<const __nv_bfloat16*>(dout_);
  const int64_t rows = d.B * d.H * d.Tq;
  const size_t drow_bytes = size_t(rows) * sizeof(float);
  auto* Drow = static_cast<float*>(scratch(drow_bytes));  // (B, H, Tq) rowsum(dout * out)
  attn::row_dot_kernel<__nv_bfloat16, float><<<unsigned((rows * 32 + 255) / 256), 256, 0, stream()>>>(
      rows, d.Dh, dout, reinterpret_cast<const __nv_bfloat16*>(out), Drow);
  check_launch("attention cuda_flash_tc row_dot_kernel (D = rowsum(dout * out))");
  attn::with_head_dim(d.Dh, [&](auto dc) {
    constexpr int D = decltype(dc)::value;
    const unsigned bh = unsigned(d.B * d.H);
    launch(flash_tc_dkdv_kernel<D>, dim3(unsigned((d.Tk + 63) / 64), bh), BwdLayout<D>::bytes,
           "attention cuda_flash_tc flash_tc_dkdv_kernel", p, q, k, v, pad, lse, static_cast<const float*>(Drow), dout,
           reinterpret_cast<__nv_bfloat16*>(dk), reinterpret_cast<__nv_bfloat16*>(dv));
    launch(flash_tc_dq_kernel<D>, dim3(unsigned((d.Tq + 63) / 64), bh), BwdLayout<D>::bytes,
           "attention cuda_flash_tc flash_tc_dq_kernel", p, q, k, v, pad, lse, static_cast<const float*>(Drow), dout,
           reinterpret_cast<__nv_bfloat16*>(dq));
  });
  release(Drow, drow_bytes);
}

}  // namespace flash_tc
}  // namespace hm::cuda
