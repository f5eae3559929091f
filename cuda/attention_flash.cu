// Flash-style CUDA attention (variant `cuda_flash`), after FlashAttention-2 (Dao 2023, Algorithms 1 and 2):
// no (Tq, Tk) matrix in memory. Plain FMA in the accumulator type A (f32 for f32 and bf16 inputs, f64 for f64).
//
// Tiling: N = 16 * R rows x N columns per tile (R = 4 in f32: 64 x 64; R = 2 in f64: 32 x 32), 256 threads as a
// 16 x 16 grid (tx = threadIdx % 16, ty = threadIdx / 16). Thread (ty, tx) owns tile rows ty + 16 a (a < R) and
// tile columns tx + 16 b (b < R), and head dims tx + 16 e (e < D / 16) of its rows' accumulators. The 16 threads of
// a row share a half warp, so row max / row sum are xor-shuffles over offsets 8, 4, 2, 1. Operand tiles sit in
// shared memory transposed, (D, N + 1): the odd row pitch makes both access patterns below conflict-free.
// The head dim is zero-padded to D in {16, 32, 64, 128} (zeros change no dot product).
//
// Forward, per (bh, query tile), over key tiles (Algorithm 1, with FA-2's deferred 1 / l):
//   S = scale Q K^T (masked: -inf);  m' = max(m, rowmax S);  P~ = exp(S - m');  l = e^(m - m') l + rowsum P~
//   acc = e^(m - m') acc + (P~ keep) V;  at the end out = acc / l, lse = m + log l (l = 0: out 0, lse -inf).
// Backward (Algorithm 2), D_i = rowsum(dout_i * out_i) precomputed:
//   P = exp(scale q k^T - lse);  dP = keep (dout v^T);  dS = P (dP - D);  dv += (P keep)^T dout;  dk += scale dS^T q;
//   dq += scale dS k. dk/dv: a block per key tile looping over query tiles; dq: a block per query tile looping over
//   key tiles (both recompute S and dP: more FLOPs than FA-2's atomic dq, but deterministic and atomic-free).
#include <cuda_runtime.h>

#include "cuda/attention.h"
#include "cuda/attention_common.cuh"
#include "cuda/runtime.h"
#include "engine/error.h"

namespace hm::cuda {
namespace {

using attn::Params;
constexpr int kThreads = 256;

template <class A>
struct Tile {
  static constexpr int R = sizeof(A) == 4 ? 4 : 2;  // f64 tiles are 32 x 32 to fit shared memory at D = 128
  static constexpr int N = 16 * R;                  // rows (and columns) of a tile
  static constexpr int P = N + 1;                   // pitch of the transposed (D, N) operand tiles
};

// dst (D, P) := rows [r0, r0 + N) of src (rows, Dh) transposed, zero outside [0, rows) x [0, Dh).
// Consecutive threads read consecutive elements of a row (coalesced) and write down a column (pitch P: one bank
// apart).
template <class S, class A, int D>
__device__ void load_transposed(A* dst, const S* src, int64_t r0, int64_t rows, int64_t Dh) {
  constexpr int N = Tile<A>::N, P = Tile<A>::P;
  for (int x = threadIdx.x; x < N * D; x += kThreads) {
    const int r = x / D, c = x % D;
    A val = 0;
    if (r0 + r < rows && c < Dh) val = attn::ld(src + (r0 + r) * Dh + c);
    dst[c * P + r] = val;
  }
}

// s[a][b] = sum_c X[c][ty + 16 a] * Y[c][tx + 16 b] for transposed tiles X, Y (D, P): a tile of X^T Y.
template <class A, int D>
__device__ __forceinline__ void tile_dot(A (&s)[Tile<A>::R][Tile<A>::R], const A* X, const A* Y) {
  constexpr int R = Tile<A>::R, P = Tile<A>::P;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
  for (int a = 0; a < R; ++a)
#pragma unroll
    for (int b = 0; b < R; ++b) s[a][b] = 0;
#pragma unroll 8
  for (int c = 0; c < D; ++c) {
    A x[R], y[R];
#pragma unroll
    for (int a = 0; a < R; ++a) x[a] = X[c * P + ty + 16 * a];
#pragma unroll
    for (int b = 0; b < R; ++b) y[b] = Y[c * P + tx + 16 * b];
#pragma unroll
    for (int a = 0; a < R; ++a)
#pragma unroll
      for (int b = 0; b < R; ++b) s[a][b] = fma(x[a], y[b], s[a][b]);
  }
}

// acc[a][e] += sum_x M[ty + 16 a][x] * Y[tx + 16 e][x] for M (N, P) row-major and Y (D, P) transposed: rows of M
// times the tile whose transpose is Y.
template <class A, int D>
__device__ __forceinline__ void tile_accumulate(A (&acc)[Tile<A>::R][D / 16], const A* M, const A* Y) {
  constexpr int R = Tile<A>::R, N = Tile<A>::N, P = Tile<A>::P, E = D / 16;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll 4
  for (int x = 0; x < N; ++x) {
    A m[R], y[E];
#pragma unroll
    for (int a = 0; a < R; ++a) m[a] = M[(ty + 16 * a) * P + x];
#pragma unroll
    for (int e = 0; e < E; ++e) y[e] = Y[(tx + 16 * e) * P + x];
#pragma unroll
    for (int a = 0; a < R; ++a)
#pragma unroll
      for (int e = 0; e < E; ++e) acc[a][e] = fma(m[a], y[e], acc[a][e]);
  }
}

// Reduction over the 16 threads of a tile row (one half warp).
template <class A>
__device__ __forceinline__ A row_max(A v) {
#pragma unroll
  for (int o = 8; o > 0; o /= 2) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <class A>
__device__ __forceinline__ A row_sum(A v) {
#pragma unroll
  for (int o = 8; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// flag[x] = 1 when key k0 + x exists and is not padded, else 0 (x < N).
template <class A>
__device__ void key_flags(A* flag, const Params<A>& p, const uint8_t* pad, int64_t k0) {
  for (int x = threadIdx.x; x < Tile<A>::N; x += kThreads) {
    const int64_t j = k0 + x;
    flag[x] = (j < p.Tk && !(pad && pad[j])) ? A(1) : A(0);
  }
}

// ---- forward: grid (query tiles, B*H) ----
template <class S, class A, class L, int D>
__global__ void __launch_bounds__(kThreads)
    flash_forward_kernel(Params<A> p, const S* q, const S* k, const S* v, const uint8_t* pad, S* out, L* lse) {
  constexpr int R = Tile<A>::R, N = Tile<A>::N, P = Tile<A>::P, E = D / 16;
  extern __shared__ __align__(16) unsigned char smem[];
  A* Qt = reinterpret_cast<A*>(smem);  // (D, P) query tile, transposed
  A* Kt = Qt + D * P;                  // (D, P) key tile, transposed
  A* Vt = Kt + D * P;                  // (D, P) value tile, transposed
  A* Pt = Vt + D * P;                  // (N, P) P~ keep, [query][key]
  A* kflag = Pt + N * P;               // (N) key exists and is not padded
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t bh = blockIdx.y, q0 = int64_t(blockIdx.x) * N;
  const uint8_t* padb = pad ? pad + (bh / p.H) * p.Tk : nullptr;
  load_transposed<S, A, D>(Qt, q + bh * p.Tq * p.Dh, q0, p.Tq, p.Dh);

  A m[R], l[R], acc[R][E];
#pragma unroll
  for (int a = 0; a < R; ++a) {
    m[a] = attn::neg_inf<A>(), l[a] = 0;
#pragma unroll
    for (int e = 0; e < E; ++e) acc[a][e] = 0;
  }
  const int64_t kend =
      p.causal && q0 + N < p.Tk ? q0 + N : p.Tk;  // causal: keys past the tile's last query never count
  for (int64_t k0 = 0; k0 < kend; k0 += N) {
    __syncthreads();  // the previous tile's Kt, Vt, Pt are consumed
    load_transposed<S, A, D>(Kt, k + bh * p.Tk * p.Dh, k0, p.Tk, p.Dh);
    load_transposed<S, A, D>(Vt, v + bh * p.Tk * p.Dh, k0, p.Tk, p.Dh);
    key_flags(kflag, p, padb, k0);
    __syncthreads();
    A s[R][R];
    tile_dot<A, D>(s, Qt, Kt);
#pragma unroll
    for (int a = 0; a < R; ++a) {
      const int64_t i = q0 + ty + 16 * a;
      A mx = attn::neg_inf<A>();
#pragma unroll
      for (int b = 0; b < R; ++b) {
        const int64_t j = k0 + tx + 16 * b;
        const bool ok = kflag[tx + 16 * b] != A(0) && !(p.causal && j > i);
        s[a][b] = ok ? p.scale * s[a][b] : attn::neg_inf<A>();
        mx = fmax(mx, s[a][b]);
      }
      const A m_new = fmax(m[a], row_max(mx));
      // Nothing visible yet: keep the zero state (and avoid exp(-inf - -inf) = NaN).
      const A alpha = m_new == attn::neg_inf<A>() ? A(1) : attn::exp_(m[a] - m_new);
      A sum = 0;
#pragma unroll
      for (int b = 0; b < R; ++b) {
        const A pr = m_new == attn::neg_inf<A>() ? A(0) : attn::exp_(s[a][b] - m_new);
        sum += pr;
        const A keep = p.dropout ? attn::keep_factor(p, bh, i, k0 + tx + 16 * b) : A(1);
        Pt[(ty + 16 * a) * P + tx + 16 * b] = pr * keep;
      }
      l[a] = alpha * l[a] + row_sum(sum);
      m[a] = m_new;
#pragma unroll
      for (int e = 0; e < E; ++e) acc[a][e] *= alpha;
    }
    __syncthreads();
    tile_accumulate<A, D>(acc, Pt, Vt);
  }
#pragma unroll
  for (int a = 0; a < R; ++a) {
    const int64_t i = q0 + ty + 16 * a;
    if (i >= p.Tq) continue;
    const A inv = l[a] > 0 ? A(1) / l[a] : A(0);  // l = 0: fully masked row, out = 0
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const int c = tx + 16 * e;
      if (c < p.Dh) attn::st(out + (bh * p.Tq + i) * p.Dh + c, acc[a][e] * inv);
    }
    if (tx == 0) lse[bh * p.Tq + i] = l[a] > 0 ? L(m[a] + attn::log_(l[a])) : L(attn::neg_inf<A>());
  }
}

// ---- backward ----

// The shared recompute step of both backward kernels, for one (row tile, column tile) pair where the tile rows
// are queries (kRowsAreQueries: the dq kernel) or keys (the dk/dv kernel). s and dp hold scale-free q.k and dout.v
// for the thread's elements; writes dS = P (dP - D) into the (N, P) row-major tile dSS and, for the dk/dv kernel
// only, Pd = P keep into PdS, in the thread's (row, col) slots.
template <class A, bool kRowsAreQueries>
__device__ __forceinline__ void probs_and_dscores(const Params<A>& p, int64_t bh, int64_t r0, int64_t c0,
                                                  const A (&s)[Tile<A>::R][Tile<A>::R],
                                                  const A (&dp)[Tile<A>::R][Tile<A>::R], const A* kflag, const A* lse_t,
                                                  const A* D_t, A* PdS, A* dSS) {
  constexpr int R = Tile<A>::R, P = Tile<A>::P;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
  for (int a = 0; a < R; ++a)
#pragma unroll
    for (int b = 0; b < R; ++b) {
      const int ra = ty + 16 * a, cb = tx + 16 * b;
      const int qx = kRowsAreQueries ? ra : cb, kx = kRowsAreQueries ? cb : ra;  // tile-local query / key
      const int64_t i = (kRowsAreQueries ? r0 : c0) + qx, j = (kRowsAreQueries ? c0 : r0) + kx;
      // lse_t is -inf for fully masked rows and for queries past Tq: P = 0 there.
      const bool ok = kflag[kx] != A(0) && lse_t[qx] != attn::neg_inf<A>() && !(p.causal && j > i);
      const A pr = ok ? attn::exp_(p.scale * s[a][b] - lse_t[qx]) : A(0);
      const A keep = (ok && p.dropout) ? attn::keep_factor(p, bh, i, j) : A(1);
      if constexpr (!kRowsAreQueries) PdS[ra * P + cb] = pr * keep;
      dSS[ra * P + cb] = pr * (dp[a][b] * keep - D_t[qx]);
    }
}

// lse_t / D_t (N) := lse and Drow of queries [q0, q0 + N), -inf / 0 past Tq.
template <class A, class L>
__device__ void load_row_stats(A* lse_t, A* D_t, const Params<A>& p, int64_t bh, int64_t q0, const L* lse,
                               const A* Drow) {
  for (int x = threadIdx.x; x < Tile<A>::N; x += kThreads) {
    const int64_t i = q0 + x;
    lse_t[x] = i < p.Tq ? A(lse[bh * p.Tq + i]) : attn::neg_inf<A>();
    D_t[x] = i < p.Tq ? Drow[bh * p.Tq + i] : A(0);
  }
}

// dk, dv for one key tile: grid (key tiles, B*H); tile rows are keys, columns queries.
template <class S, class A, class L, int D>
__global__ void __launch_bounds__(kThreads)
    flash_dkdv_kernel(Params<A> p, const S* q, const S* k, const S* v, const uint8_t* pad, const L* lse, const A* Drow,
                      const S* dout, S* dk, S* dv) {
  constexpr int R = Tile<A>::R, N = Tile<A>::N, P = Tile<A>::P, E = D / 16;
  extern __shared__ __align__(16) unsigned char smem[];
  A* Kt = reinterpret_cast<A*>(smem);  // (D, P) this block's keys, transposed
  A* Vt = Kt + D * P;                  // (D, P) its values, transposed
  A* Qt = Vt + D * P;                  // (D, P) query tile, transposed
  A* Gt = Qt + D * P;                  // (D, P) dout tile, transposed
  A* PdS = Gt + D * P;                 // (N, P) P keep, [key][query]
  A* dSS = PdS + N * P;                // (N, P) dS, [key][query]
  A* kflag = dSS + N * P;              // (N)
  A* lse_t = kflag + N;                // (N)
  A* D_t = lse_t + N;                  // (N)
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t bh = blockIdx.y, k0 = int64_t(blockIdx.x) * N;
  load_transposed<S, A, D>(Kt, k + bh * p.Tk * p.Dh, k0, p.Tk, p.Dh);
  load_transposed<S, A, D>(Vt, v + bh * p.Tk * p.Dh, k0, p.Tk, p.Dh);
  key_flags(kflag, p, pad ? pad + (bh / p.H) * p.Tk : nullptr, k0);

  A dk_acc[R][E], dv_acc[R][E];
#pragma unroll
  for (int a = 0; a < R; ++a)
#pragma unroll
    for (int e = 0; e < E; ++e) dk_acc[a][e] = dv_acc[a][e] = 0;
  // causal: queries before k0 see none of these keys
  for (int64_t q0 = p.causal ? (k0 / N) * N : 0; q0 < p.Tq; q0 += N) {
    __syncthreads();  // the previous query tile is consumed
    load_transposed<S, A, D>(Qt, q + bh * p.Tq * p.Dh, q0, p.Tq, p.Dh);
    load_transposed<S, A, D>(Gt, dout + bh * p.Tq * p.Dh, q0, p.Tq, p.Dh);
    load_row_stats<A, L>(lse_t, D_t, p, bh, q0, lse, Drow);
    __syncthreads();
    A s[R][R], dp[R][R];
    tile_dot<A, D>(s, Kt, Qt);   // k_j . q_i
    tile_dot<A, D>(dp, Vt, Gt);  // v_j . dout_i
    probs_and_dscores<A, false>(p, bh, k0, q0, s, dp, kflag, lse_t, D_t, PdS, dSS);
    __syncthreads();
    tile_accumulate<A, D>(dv_acc, PdS, Gt);  // dv_j += sum_i Pd_ji dout_i
    tile_accumulate<A, D>(dk_acc, dSS, Qt);  // dk_j += sum_i dS_ji q_i
  }
#pragma unroll
  for (int a = 0; a < R; ++a) {
    const int64_t j = k0 + ty + 16 * a;
    if (j >= p.Tk) continue;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const int c = tx + 16 * e;
      if (c >= p.Dh) continue;
      attn::st(dk + (bh * p.Tk + j) * p.Dh + c, p.scale * dk_acc[a][e]);
      attn::st(dv + (bh * p.Tk + j) * p.Dh + c, dv_acc[a][e]);
    }
  }
}

// dq for one query tile: grid (query tiles, B*H); tile rows are queries, columns keys.
template <class S, class A, class L, int D>
__global__ void __launch_bounds__(kThreads)
    flash_dq_kernel(Params<A> p, const S* q, const S* k, const S* v, const uint8_t* pad, const L* lse, const A* Drow,
                    const S* dout, S* dq) {
  constexpr int R = Tile<A>::R, N = Tile<A>::N, P = Tile<A>::P, E = D / 16;
  extern __shared__ __align__(16) unsigned char smem[];
  A* Qt = reinterpret_cast<A*>(smem);  // (D, P) this block's queries, transposed
  A* Gt = Qt + D * P;                  // (D, P) their dout, transposed
  A* Kt = Gt + D * P;                  // (D, P) key tile, transposed
  A* Vt = Kt + D * P;                  // (D, P) value tile, transposed
  A* dSS = Vt + D * P;                 // (N, P) dS, [query][key]
  A* kflag = dSS + N * P;              // (N)
  A* lse_t = kflag + N;                // (N)
  A* D_t = lse_t + N;                  // (N)
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t bh = blockIdx.y, q0 = int64_t(blockIdx.x) * N;
  const uint8_t* padb = pad ? pad + (bh / p.H) * p.Tk : nullptr;
  load_transposed<S, A, D>(Qt, q + bh * p.Tq * p.Dh, q0, p.Tq, p.Dh);
  load_transposed<S, A, D>(Gt, dout + bh * p.Tq * p.Dh, q0, p.Tq, p.Dh);
  load_row_stats<A, L>(lse_t, D_t, p, bh, q0, lse, Drow);

  A dq_acc[R][E];
#pragma unroll
  for (int a = 0; a < R; ++a)
#pragma unroll
    for (int e = 0; e < E; ++e) dq_acc[a][e] = 0;
  const int64_t kend = p.causal && q0 + N < p.Tk ? q0 + N : p.Tk;
  for (int64_t k0 = 0; k0 < kend; k0 += N) {
    __syncthreads();
    load_transposed<S, A, D>(Kt, k + bh * p.Tk * p.Dh, k0, p.Tk, p.Dh);
    load_transposed<S, A, D>(Vt, v + bh * p.Tk * p.Dh, k0, p.Tk, p.Dh);
    key_flags(kflag, p, padb, k0);
    __syncthreads();
    A s[R][R], dp[R][R];
    tile_dot<A, D>(s, Qt, Kt);   // q_i . k_j
    tile_dot<A, D>(dp, Gt, Vt);  // dout_i . v_j
    probs_and_dscores<A, true>(p, bh, q0, k0, s, dp, kflag, lse_t, D_t, nullptr, dSS);
    __syncthreads();
    tile_accumulate<A, D>(dq_acc, dSS, Kt);  // dq_i += sum_j dS_ij k_j
  }
#pragma unroll
  for (int a = 0; a < R; ++a) {
    const int64_t i = q0 + ty + 16 * a;
    if (i >= p.Tq) continue;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const int c = tx + 16 * e;
      if (c < p.Dh) attn::st(dq + (bh * p.Tq + i) * p.Dh + c, p.scale * dq_acc[a][e]);
    }
  }
}

// Shared-memory bytes of each kernel (layouts above).
template <class A, int D>
constexpr size_t forward_smem() {
  return sizeof(A) * (3 * D * Tile<A>::P + Tile<A>::N * Tile<A>::P + Tile<A>::N);
}
template <class A, int D>
constexpr size_t dkdv_smem() {
  return sizeof(A) * (4 * D * Tile<A>::P + 2 * Tile<A>::N * Tile<A>::P + 3 * Tile<A>::N);
}
template <class A, int D>
constexpr size_t dq_smem() {
  return sizeof(A) * (4 * D * Tile<A>::P + Tile<A>::N * Tile<A>::P + 3 * Tile<A>::N);
}

// Raise a kernel's dynamic shared memory limit above the 48 KiB default (once per kernel and device is enough,
// but the call is cheap and keeps the launchers stateless).
template <class K>
void allow_smem(K kernel, size_t bytes, const char* what) {
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), what);
}

void check_dims(const AttentionDims& d, const char* what) {
  hm::check(d.B >= 1 && d.H >= 1 && d.Tq >= 1 && d.Tk >= 1 && d.Dh >= 1, what, ": bad dims B=", d.B, " H=", d.H,
            " Tq=", d.Tq, " Tk=", d.Tk, " Dh=", d.Dh);
  hm::check(d.Dh <= flash::kMaxHeadDim, what, ": head dim ", d.Dh, " > ", flash::kMaxHeadDim,
            " (use the cuda_reference variant)");
  hm::check(d.B * d.H <= 65535, what, ": B*H = ", d.B * d.H, " exceeds the grid's y dimension (65535)");
}

}  // namespace

namespace flash {

template <class T, class L>
void attention_forward(const AttentionDims& d, const T* q, const T* k, const T* v, const uint8_t* pad, T* out, L* lse) {
  using S = typename attn::Dev<T>::type;
  using A = L;  // f32 for f32 and bf16, f64 for f64
  check_dims(d, "attention cuda_flash forward");
  const Params<A> p = attn::make_params<A>(d);
  attn::with_head_dim(d.Dh, [&](auto dc) {
    constexpr int D = decltype(dc)::value;
    constexpr size_t smem = forward_smem<A, D>();
    auto kernel = flash_forward_kernel<S, A, L, D>;
    allow_smem(kernel, smem, "attention cuda_flash forward: cudaFuncSetAttribute(max dynamic smem)");
    const dim3 grid(unsigned((d.Tq + Tile<A>::N - 1) / Tile<A>::N), unsigned(d.B * d.H));
    kernel<<<grid, kThreads, smem, stream()>>>(p, reinterpret_cast<const S*>(q), reinterpret_cast<const S*>(k),
                                               reinterpret_cast<const S*>(v), pad, reinterpret_cast<S*>(out), lse);
    check_launch("attention cuda_flash flash_forward_kernel");
  });
}

template <class T, class L>
void attention_backward(const AttentionDims& d, const T* q_, const T* k_, const T* v_, const uint8_t* pad,
                        const T* out_, const L* lse, const T* dout_, T* dq_, T* dk_, T* dv_) {
  using S = typename attn::Dev<T>::type;
  using A = L;
  check_dims(d, "attention cuda_flash backward");
  const auto* q = reinterpret_cast<const S*>(q_);
  const auto* k = reinterpret_cast<const S*>(k_);
  const auto* v = reinterpret_cast<const S*>(v_);
  const auto* dout = reinterpret_cast<const S*>(dout_);
  const Params<A> p = attn::make_params<A>(d);
  const int64_t rows = d.B * d.H * d.Tq;
  const size_t drow_bytes = size_t(rows) * sizeof(A);
  A* Drow = static_cast<A*>(scratch(drow_bytes));  // (B, H, Tq) rowsum(dout * out)
  attn::row_dot_kernel<S, A><<<unsigned((rows * 32 + kThreads - 1) / kThreads), kThreads, 0, stream()>>>(
      rows, d.Dh, dout, reinterpret_cast<const S*>(out_), Drow);
  check_launch("attention cuda_flash row_dot_kernel (D = rowsum(dout * out))");
  attn::with_head_dim(d.Dh, [&](auto dc) {
    constexpr int D = decltype(dc)::value;
    constexpr int N = Tile<A>::N;
    auto dkdv = flash_dkdv_kernel<S, A, L, D>;
    allow_smem(dkdv, dkdv_smem<A, D>(), "attention cuda_flash backward: cudaFuncSetAttribute(max dynamic smem, dk/dv)");
    dkdv<<<dim3(unsigned((d.Tk + N - 1) / N), unsigned(d.B * d.H)), kThreads, dkdv_smem<A, D>(), stream()>>>(
        p, q, k, v, pad, lse, Drow, dout, reinterpret_cast<S*>(dk_), reinterpret_cast<S*>(dv_));
    check_launch("attention cuda_flash flash_dkdv_kernel");
    auto dqk = flash_dq_kernel<S, A, L, D>;
    allow_smem(dqk, dq_smem<A, D>(), "attention cuda_flash backward: cudaFuncSetAttribute(max dynamic smem, dq)");
    dqk<<<dim3(unsigned((d.Tq + N - 1) / N), unsigned(d.B * d.H)), kThreads, dq_smem<A, D>(), stream()>>>(
        p, q, k, v, pad, lse, Drow, dout, reinterpret_cast<S*>(dq_));
    check_launch("attention cuda_flash flash_dq_kernel");
  });
  release(Drow, drow_bytes);
}

template void attention_forward<float, float>(const AttentionDims&, const float*, const float*, const float*,
                                              const uint8_t*, float*, float*);
template void attention_forward<double, double>(const AttentionDims&, const double*, const double*, const double*,
                                                const uint8_t*, double*, double*);
template void attention_forward<bf16_bits, float>(const AttentionDims&, const bf16_bits*, const bf16_bits*,
                                                  const bf16_bits*, const uint8_t*, bf16_bits*, float*);
template void attention_backward<float, float>(const AttentionDims&, const float*, const float*, const float*,
                                               const uint8_t*, const float*, const float*, const float*, float*, float*,
                                               float*);
template void attention_backward<double, double>(const AttentionDims&, const double*, const double*, const double*,
                                                 const uint8_t*, const double*, const double*, const double*, double*,
                                                 double*, double*);
template void attention_backward<bf16_bits, float>(const AttentionDims&, const bf16_bits*, const bf16_bits*,
                                                   const bf16_bits*, const uint8_t*, const bf16_bits*, const float*,
                                                   const bf16_bits*, bf16_bits*, bf16_bits*, bf16_bits*);

}  // namespace flash
}  // namespace hm::cuda
