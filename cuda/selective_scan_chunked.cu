// cuda_chunked: the fused selective scan in the style of mamba_ssm's selective_scan_fwd/bwd kernels
// (csrc/selective_scan/selective_scan_{fwd,bwd}_kernel.cuh), our own code.
//
// One step of the recurrence is the affine map h -> a * h + b with a = exp(delta * A), b = delta * B * u. Maps
// compose associatively, (a1, b1) then (a2, b2) = (a2 * a1, a2 * b1 + b2), so a block of threads scans a chunk of
// kScanChunk = threads x items steps with cub::BlockScan (blocked arrangement: thread i owns steps i*K .. i*K+K-1),
// one state n at a time; the state leaving a chunk enters the next one through CUB's block-prefix callback.
//
// Forward: one block per channel (b, d). Fused: delta_bias + softplus, the D skip, the silu(z) gate. Saves only
// the state at the end of every chunk (B, D, n_chunks, N) for the backward, plus the last state on request.
//
// Backward: one block per (b, group of kGroup channels), channels in turn, chunks in reverse. Per chunk and state
// n it recomputes the forward states from the saved chunk-start state (an exclusive CUB scan gives h_{t-1}) and
// runs a reverse scan for the state adjoint. With q_t = a_t * hbar_t (what flows from step t into step t-1):
//     q_t = a_t * q_{t+1} + a_t * gy_t * C_t,   hbar_t = gy_t * C_t + q_{t+1},   q_L = dlast
// again an affine map per step, scanned from the end (BlockReverseScan below). The gradients are then local:
//     du_t += hbar_t * delta_t * B_t            ddelta_t += hbar_t * (B_t u_t + A a_t h_{t-1})
//     dB_t += hbar_t * delta_t * u_t            dC_t += gy_t * h_t            dA += hbar_t * h_{t-1} * a_t * delta_t
// Deterministic: sums that cross blocks (dB, dC over channel groups; dA, dDskip, ddelta_bias over the batch) are
// written as per-block partials and summed in a fixed order by sum_partials_kernel; sums inside a block use
// cub::BlockReduce (fixed order for a fixed block shape). No atomics anywhere.
#include <cub/block/block_load.cuh>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/block/block_store.cuh>

#include "cuda/selective_scan_common.cuh"

namespace hm::cuda {
namespace {

using namespace scan_detail;

// Threads per block; items per thread = kScanChunk / threads. The backward holds about twice as many live
// per-step arrays, so it spreads a chunk over twice the threads; double needs twice the registers per value.
template <class W>
constexpr int kForwardThreads = sizeof(W) == 8 ? 256 : 128;
template <class W>
constexpr int kBackwardThreads = sizeof(W) == 8 ? 512 : 256;
// Two resident backward blocks per SM for float (16 warps, at most 128 registers a thread): the backward is
// latency-bound (about seven barriers per state and chunk), so occupancy beats the few spilled registers. The
// double path exists for the tests and is left unconstrained.
template <class W>
constexpr int kBackwardMinBlocks = sizeof(W) == 8 ? 1 : 2;
// Channels handled by one backward block: the dB/dC partial buffers hold B * ceil(D / kGroup) * N * L values each.
constexpr int64_t kGroup = 8;

// The affine map h -> a * h + b of one step, or of a run of steps.
template <class W>
struct Pair {
  W a, b;
};

// `first` then `second` (CUB calls scan_op(earlier, later)):  h -> second.a * (first.a * h + first.b) + second.b.
template <class W>
struct Compose {
  __device__ __forceinline__ Pair<W> operator()(const Pair<W>& first, const Pair<W>& second) const {
    return {second.a * first.a, second.a * first.b + second.b};
  }
};

// CUB block-prefix callback: hands the scan the state entering this chunk, and folds the chunk's aggregate in so
// that `running.b` is the state leaving it (valid in thread 0, which is the lane whose result CUB uses).
template <class W>
struct ChunkCarry {
  Pair<W> running;  // (1, h entering the chunk)
  __device__ Pair<W> operator()(const Pair<W>& chunk_aggregate) {
    const Pair<W> prefix = running;
    running = Compose<W>()(running, chunk_aggregate);
    return prefix;
  }
};

// Blocked loads and stores of one chunk of a (.., L) row, converted to and from W; steps past `valid` read 0 and
// are not written. Each call begins with a barrier so the shared staging buffer is free.
template <class In, class W, int NT, int K>
struct ChunkIO {
  using Load = cub::BlockLoad<In, NT, K, cub::BLOCK_LOAD_WARP_TRANSPOSE>;
  using Store = cub::BlockStore<In, NT, K, cub::BLOCK_STORE_WARP_TRANSPOSE>;
  union TempStorage {
    typename Load::TempStorage load;
    typename Store::TempStorage store;
  };
  static __device__ void load(TempStorage& s, const In* src, int valid, W (&out)[K]) {
    In raw[K];
    __syncthreads();
    Load(s.load).Load(src, raw, valid, In{});
#pragma unroll
    for (int k = 0; k < K; ++k) out[k] = to_w<W>(raw[k]);
  }
  static __device__ void store(TempStorage& s, In* dst, int valid, const W (&vals)[K]) {
    In raw[K];
#pragma unroll
    for (int k = 0; k < K; ++k) raw[k] = from_w<In>(vals[k]);
    __syncthreads();
    Store(s.store).Store(dst, raw, valid);
  }
};

// Reverse (suffix) block scan of affine maps in blocked arrangement with a carry from the later chunk:
// out[k] = the value entering step k from the later side (q_{t+1}); `carry` (shared) enters after the chunk's
// last step and leaves as the value after its first step (q_{t0}). Warp shuffles inside a warp, shared memory
// across warps: the mirror image of cub::BlockScan's warp-scans algorithm (mamba_ssm writes its own reverse scan
// for the same reason: CUB has none).
template <class W, int NT, int K>
struct BlockReverseScan {
  static constexpr int kWarps = NT / 32;
  struct TempStorage {
    Pair<W> warp_total[kWarps];
  };
  static __device__ void scan(TempStorage& s, const Pair<W> (&x)[K], W (&out)[K], W& carry) {
    constexpr unsigned kAll = 0xffffffffu;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    Pair<W> total{W(1), W(0)};  // this thread's steps, the last one acting first
#pragma unroll
    for (int k = K - 1; k >= 0; --k) total = Compose<W>()(total, x[k]);
    // Inclusive suffix over lanes lane..31: higher lanes hold later steps, so their maps act first.
    Pair<W> incl = total;
#pragma unroll
    for (int off = 1; off < 32; off *= 2) {
      const Pair<W> later{__shfl_down_sync(kAll, incl.a, off), __shfl_down_sync(kAll, incl.b, off)};
      if (lane + off < 32) incl = Compose<W>()(later, incl);
    }
    Pair<W> excl{__shfl_down_sync(kAll, incl.a, 1), __shfl_down_sync(kAll, incl.b, 1)};  // lanes lane+1..31
    if (lane == 31) excl = {W(1), W(0)};
    if (lane == 0) s.warp_total[warp] = incl;
    const W carry_in = carry;  // read before the barrier; thread 0 rewrites it after the next one
    __syncthreads();
    W v = carry_in;
    for (int w = kWarps - 1; w > warp; --w) v = s.warp_total[w].a * v + s.warp_total[w].b;
    v = excl.a * v + excl.b;
#pragma unroll
    for (int k = K - 1; k >= 0; --k) {
      out[k] = v;
      v = x[k].a * v + x[k].b;
    }
    __syncthreads();                  // every thread has read warp_total and carry
    if (threadIdx.x == 0) carry = v;  // thread 0 ends after the chunk's first step
  }
};

// Forward, block (b, d): out (B, D, L), last_state (B, D, N) or null, ckpt (B, D, n_chunks, N) or null.
template <class In, class W, int NT, int K>
__global__ __launch_bounds__(NT) void scan_chunked_forward_kernel(ScanArgs<In, W> p, In* out, W* last_state, W* ckpt,
                                                                  int n_chunks) {
  using IO = ChunkIO<In, W, NT, K>;
  using Scan = cub::BlockScan<Pair<W>, NT, cub::BLOCK_SCAN_WARP_SCANS>;
  __shared__ typename IO::TempStorage io;
  __shared__ typename Scan::TempStorage scan_tmp;
  extern __shared__ __align__(16) unsigned char smem_dyn[];
  W* h_chunk = reinterpret_cast<W*>(smem_dyn);  // (N) state entering the current chunk

  const int64_t ch = blockIdx.x, b = ch / p.D, d = ch % p.D, L = p.L, N = p.N;
  for (int64_t n = threadIdx.x; n < N; n += NT) h_chunk[n] = W(0);
  const W bias = load_or_zero(p.delta_bias, d), Dd = load_or_zero(p.Dskip, d);

  for (int c = 0; c < n_chunks; ++c) {
    const int64_t t0 = int64_t(c) * kScanChunk;
    const int valid = int(L - t0 < kScanChunk ? L - t0 : kScanChunk);
    W u[K], dt[K], acc[K];  // acc: y + u * D
    IO::load(io, p.u + ch * L + t0, valid, u);
    IO::load(io, p.delta + ch * L + t0, valid, dt);
#pragma unroll
    for (int k = 0; k < K; ++k) {
      dt[k] = effective_delta(dt[k] + bias, p.softplus);
      acc[k] = u[k] * Dd;
    }
    for (int64_t n = 0; n < N; ++n) {
      const W A = -exp_w(p.A_log[d * N + n]);
      W Bv[K], Cv[K];
      IO::load(io, p.Bm + (b * N + n) * L + t0, valid, Bv);
      IO::load(io, p.Cm + (b * N + n) * L + t0, valid, Cv);
      Pair<W> x[K];
#pragma unroll
      for (int k = 0; k < K; ++k)  // steps past the end are the identity map, so the carry is h_{L-1}
        x[k] = int(threadIdx.x) * K + k < valid ? Pair<W>{exp_w(dt[k] * A), dt[k] * Bv[k] * u[k]} : Pair<W>{W(1), W(0)};
      ChunkCarry<W> carry{{W(1), h_chunk[n]}};
      Scan(scan_tmp).InclusiveScan(x, x, Compose<W>(), carry);  // x[k].b = h at step k
#pragma unroll
      for (int k = 0; k < K; ++k) acc[k] += x[k].b * Cv[k];
      __syncthreads();  // every thread has read h_chunk[n]; scan_tmp is free again
      if (threadIdx.x == 0) {
        h_chunk[n] = carry.running.b;
        if (ckpt) ckpt[(ch * n_chunks + c) * N + n] = carry.running.b;
      }
    }
    if (p.z) {
      W z[K];
      IO::load(io, p.z + ch * L + t0, valid, z);
#pragma unroll
      for (int k = 0; k < K; ++k) acc[k] *= z[k] * sigmoid(z[k]);
    }
    IO::store(io, out + ch * L + t0, valid, acc);
  }
  if (last_state) {
    __syncthreads();
    for (int64_t n = threadIdx.x; n < N; n += NT) last_state[ch * N + n] = h_chunk[n];
  }
}

// Per-block partial sums of the backward, reduced by sum_partials_kernel.
template <class W>
struct Partials {
  W* dB;     // (B, n_groups, N, L)
  W* dC;     // (B, n_groups, N, L)
  W* dA;     // (B, D, N)  already multiplied by A (the dA_log chain rule)
  W* dD;     // (B, D)
  W* dbias;  // (B, D)
};

// Backward, block (b, channel group): see the file comment for the formulas.
template <class In, class W, int NT, int K>
__global__ __launch_bounds__(NT,
                             kBackwardMinBlocks<W>) void scan_chunked_backward_kernel(ScanArgs<In, W> p, const In* dout,
                                                                                      const W* dlast, const W* ckpt,
                                                                                      ScanGradArgs<In, W> g,
                                                                                      int n_chunks, Partials<W> part) {
  using IO = ChunkIO<In, W, NT, K>;
  using Scan = cub::BlockScan<Pair<W>, NT, cub::BLOCK_SCAN_WARP_SCANS>;
  using RScan = BlockReverseScan<W, NT, K>;
  using Reduce = cub::BlockReduce<W, NT>;
  __shared__ typename IO::TempStorage io;
  __shared__ typename Scan::TempStorage scan_tmp;
  __shared__ typename RScan::TempStorage rscan_tmp;
  __shared__ typename Reduce::TempStorage reduce_tmp;
  extern __shared__ __align__(16) unsigned char smem_dyn[];
  W* q_carry = reinterpret_cast<W*>(smem_dyn);  // (N) adjoint entering the current chunk from the later one
  W* dA_acc = q_carry + p.N;                    // (N) this channel's dA, summed over chunks

  const int64_t L = p.L, N = p.N, D = p.D;
  const int64_t n_groups = (D + kGroup - 1) / kGroup;
  const int64_t b = blockIdx.x / n_groups, grp = blockIdx.x % n_groups;
  const int64_t d_begin = grp * kGroup, d_end = D < d_begin + kGroup ? D : d_begin + kGroup;
  const int tid = threadIdx.x;

  for (int64_t d = d_begin; d < d_end; ++d) {
    const int64_t ch = b * D + d;
    const bool first_channel = d == d_begin;  // writes the dB/dC partials; later channels add to them
    const W bias = load_or_zero(p.delta_bias, d), Dd = load_or_zero(p.Dskip, d);
    __syncthreads();  // the previous channel is done with q_carry and dA_acc
    for (int64_t n = tid; n < N; n += NT) {
      q_carry[n] = dlast ? dlast[ch * N + n] : W(0);
      dA_acc[n] = W(0);
    }
    W sum_dD = 0, sum_dbias = 0;  // this thread's steps, all chunks

    for (int c = n_chunks - 1; c >= 0; --c) {
      const int64_t t0 = int64_t(c) * kScanChunk;
      const int valid = int(L - t0 < kScanChunk ? L - t0 : kScanChunk);
      // Live across the loop over n: u, dt, gy, du, ddt, y. The softplus and gate derivatives are needed only
      // at the end of the chunk and are recomputed there from reloaded delta, z and dout (registers are the
      // limit of this kernel's occupancy; the reloads hit L1/L2).
      W u[K], dt[K], gy[K];
      IO::load(io, p.u + ch * L + t0, valid, u);
      IO::load(io, p.delta + ch * L + t0, valid, dt);
      IO::load(io, dout + ch * L + t0, valid, gy);
#pragma unroll
      for (int k = 0; k < K; ++k) dt[k] = effective_delta(dt[k] + bias, p.softplus);
      if (p.z) {
        W z[K];  // out = pre * silu(z), so the gradient reaching pre is gy = dout * silu(z)
        IO::load(io, p.z + ch * L + t0, valid, z);
#pragma unroll
        for (int k = 0; k < K; ++k) gy[k] *= z[k] * sigmoid(z[k]);
      }
      W du[K], ddt[K], y[K];
#pragma unroll
      for (int k = 0; k < K; ++k) {
        du[k] = gy[k] * Dd, ddt[k] = W(0), y[k] = W(0);
        sum_dD += gy[k] * u[k];  // steps past the end loaded u = dout = 0
      }

      for (int64_t n = 0; n < N; ++n) {
        const W A = -exp_w(p.A_log[d * N + n]);
        W Bv[K], Cv[K];
        IO::load(io, p.Bm + (b * N + n) * L + t0, valid, Bv);
        IO::load(io, p.Cm + (b * N + n) * L + t0, valid, Cv);
        // Forward maps (identity past the end) and the reverse maps (a, a * gy * C).
        Pair<W> fwd[K], rev[K];
#pragma unroll
        for (int k = 0; k < K; ++k) {
          const bool in_range = tid * K + k < valid;
          const W a = in_range ? exp_w(dt[k] * A) : W(1);
          fwd[k] = {a, in_range ? dt[k] * Bv[k] * u[k] : W(0)};
          rev[k] = {a, a * gy[k] * Cv[k]};
        }
        const W h_start = c > 0 ? ckpt[(ch * n_chunks + c - 1) * N + n] : W(0);
        ChunkCarry<W> carry{{W(1), h_start}};
        Scan(scan_tmp).ExclusiveScan(fwd, fwd, Compose<W>(), carry);  // fwd[k].b = h_{t-1}
        W q_next[K];                                                  // q_{t+1}
        RScan::scan(rscan_tmp, rev, q_next, q_carry[n]);

        W dA_part = 0;
        const int64_t part_row = ((b * n_groups + grp) * N + n) * L + t0;
#pragma unroll
        for (int k = 0; k < K; ++k) {
          const int step = tid * K + k;
          if (step >= valid) continue;
          const W a = rev[k].a, h_prev = fwd[k].b;
          const W h = a * h_prev + dt[k] * Bv[k] * u[k];
          const W hbar = gy[k] * Cv[k] + q_next[k];
          y[k] += h * Cv[k];
          du[k] += hbar * dt[k] * Bv[k];
          ddt[k] += hbar * (Bv[k] * u[k] + A * a * h_prev);
          dA_part += hbar * h_prev * a * dt[k];
          const W dB_val = hbar * dt[k] * u[k], dC_val = gy[k] * h;
          part.dB[part_row + step] = first_channel ? dB_val : part.dB[part_row + step] + dB_val;
          part.dC[part_row + step] = first_channel ? dC_val : part.dC[part_row + step] + dC_val;
        }
        const W dA_chunk = Reduce(reduce_tmp).Sum(dA_part);
        if (tid == 0) dA_acc[n] += dA_chunk;
        __syncthreads();  // reduce_tmp and scan_tmp are free again
      }

      W raw[K];  // delta + delta_bias: ddelta = ddt * softplus'(raw)
      IO::load(io, p.delta + ch * L + t0, valid, raw);
#pragma unroll
      for (int k = 0; k < K; ++k) {
        ddt[k] *= p.softplus ? softplus_grad(raw[k] + bias) : W(1);
        if (tid * K + k < valid) sum_dbias += ddt[k];
      }
      if (p.z) {
        // dz = dout * pre * silu'(z), silu'(z) = s (1 + z (1 - s)), pre = y + u D; y now holds sum_n h C.
        W z[K], dz[K];
        IO::load(io, p.z + ch * L + t0, valid, z);
        IO::load(io, dout + ch * L + t0, valid, dz);
#pragma unroll
        for (int k = 0; k < K; ++k) {
          const W s = sigmoid(z[k]);
          dz[k] *= (y[k] + u[k] * Dd) * s * (W(1) + z[k] * (W(1) - s));
        }
        IO::store(io, g.dz + ch * L + t0, valid, dz);
      }
      IO::store(io, g.du + ch * L + t0, valid, du);
      IO::store(io, g.ddelta + ch * L + t0, valid, ddt);
    }

    const W dD_total = Reduce(reduce_tmp).Sum(sum_dD);
    __syncthreads();
    const W dbias_total = Reduce(reduce_tmp).Sum(sum_dbias);
    if (tid == 0) part.dD[ch] = dD_total, part.dbias[ch] = dbias_total;
    __syncthreads();  // dA_acc is complete
    for (int64_t n = tid; n < N; n += NT) part.dA[ch * N + n] = dA_acc[n] * -exp_w(p.A_log[d * N + n]);
  }
}

// out[o, r] = sum_g part[o, g, r] in order g = 0, 1, ...  (part (outer, groups, inner), out (outer, inner)).
template <class W, class Out>
__global__ void sum_partials_kernel(const W* part, Out* out, int64_t outer, int64_t groups, int64_t inner) {
  const int64_t total = outer * inner;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = i / inner, r = i % inner;
    W s = 0;
    for (int64_t gi = 0; gi < groups; ++gi) s += part[(o * groups + gi) * inner + r];
    out[i] = from_w<Out>(s);
  }
}

template <class W, class Out>
void sum_partials(const W* part, Out* out, int64_t outer, int64_t groups, int64_t inner, const char* what) {
  constexpr int kThreads = 256;
  sum_partials_kernel<W, Out>
      <<<grid_for(outer * inner, kThreads), kThreads, 0, stream()>>>(part, out, outer, groups, inner);
  check_launch(what);
}

int chunks_of(int64_t L) { return int((L + kScanChunk - 1) / kScanChunk); }

// Per-state carries live in dynamic shared memory (N or 2N values of W beside up to 17 KB of CUB storage), kept
// under the 48 KB a block gets without opting in. Mamba uses N <= 16 (its kernels cap N at 256).
constexpr int64_t kMaxN = 1024;
void check_state_size(int64_t N) {
  check(N <= kMaxN, "selective_scan cuda_chunked: d_state N = ", N, " exceeds the supported ", kMaxN,
        " (use --kernel selective_scan=cuda_sequential)");
}

}  // namespace

int64_t scan_chunked_checkpoint_elems(int64_t B, int64_t D, int64_t L, int64_t N) { return B * D * chunks_of(L) * N; }

template <class In, class W>
void scan_chunked_forward(const ScanArgs<In, W>& in, In* out, W* last_state, W* checkpoints) {
  check_state_size(in.N);
  constexpr int NT = kForwardThreads<W>, K = int(kScanChunk) / NT;
  const size_t smem = size_t(in.N) * sizeof(W);
  scan_chunked_forward_kernel<In, W, NT, K>
      <<<unsigned(in.B * in.D), NT, smem, stream()>>>(in, out, last_state, checkpoints, chunks_of(in.L));
  check_launch("scan_chunked_forward_kernel");
}

template <class In, class W>
void scan_chunked_backward(const ScanArgs<In, W>& in, const In* dout, const W* dlast, const W* checkpoints,
                           const ScanGradArgs<In, W>& g) {
  check(checkpoints != nullptr || in.L <= kScanChunk,
        "selective_scan cuda_chunked backward: the forward's chunk-boundary states are missing");
  check_state_size(in.N);
  constexpr int NT = kBackwardThreads<W>, K = int(kScanChunk) / NT;
  const int64_t B = in.B, D = in.D, L = in.L, N = in.N;
  const int64_t n_groups = (D + kGroup - 1) / kGroup;
  Scratch<W> part_dB(B * n_groups * N * L), part_dC(B * n_groups * N * L);  // (B, n_groups, N, L)
  Scratch<W> part_dA(B * D * N);                                            // (B, D, N)
  Scratch<W> part_dD(B * D), part_dbias(B * D);                             // (B, D)
  const Partials<W> part{part_dB.ptr, part_dC.ptr, part_dA.ptr, part_dD.ptr, part_dbias.ptr};
  const size_t smem = 2 * size_t(N) * sizeof(W);
  scan_chunked_backward_kernel<In, W, NT, K>
      <<<unsigned(B * n_groups), NT, smem, stream()>>>(in, dout, dlast, checkpoints, g, chunks_of(L), part);
  check_launch("scan_chunked_backward_kernel");
  sum_partials(part.dB, g.dB, B, n_groups, N * L, "sum_partials_kernel (dB)");
  sum_partials(part.dC, g.dC, B, n_groups, N * L, "sum_partials_kernel (dC)");
  sum_partials(part.dA, g.dA_log, 1, B, D * N, "sum_partials_kernel (dA_log)");
  if (g.dDskip) sum_partials(part.dD, g.dDskip, 1, B, D, "sum_partials_kernel (dDskip)");
  if (g.ddelta_bias) sum_partials(part.dbias, g.ddelta_bias, 1, B, D, "sum_partials_kernel (ddelta_bias)");
}

// The three element-type pairs the op dispatches: f32, f64, and bf16 sequences with f32 weights and state.
template void scan_chunked_forward(const ScanArgs<float, float>&, float*, float*, float*);
template void scan_chunked_forward(const ScanArgs<double, double>&, double*, double*, double*);
template void scan_chunked_forward(const ScanArgs<bfloat16_t, float>&, bfloat16_t*, float*, float*);
template void scan_chunked_backward(const ScanArgs<float, float>&, const float*, const float*, const float*,
                                    const ScanGradArgs<float, float>&);
template void scan_chunked_backward(const ScanArgs<double, double>&, const double*, const double*, const double*,
                                    const ScanGradArgs<double, double>&);
template void scan_chunked_backward(const ScanArgs<bfloat16_t, float>&, const bfloat16_t*, const float*, const float*,
                                    const ScanGradArgs<bfloat16_t, float>&);

}  // namespace hm::cuda
