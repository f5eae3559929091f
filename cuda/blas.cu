// cuBLAS / cuBLASLt glue: one cuBLAS and one cuBLASLt handle per device, bound to hm::cuda::stream() with a
// workspace from the caching allocator; row-major GEMMs as operand-swapped column-major calls (cuda/blas.h); two
// small kernels linear needs around its GEMM (bias broadcast, bias gradient). Every library status is checked and
// reported with the call's name and the GEMM's shape.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "cuda/blas.h"
#include "cuda/runtime.h"
#include "engine/error.h"

namespace hm::cuda {
namespace {

// 32 MiB: the workspace cuBLAS documents for Hopper (cuBLAS docs, cublasSetWorkspace) and what PyTorch uses there.
constexpr size_t kWorkspaceBytes = size_t(32) << 20;

void check_blas(cublasStatus_t s, const char* what) {
  hm::check(s == CUBLAS_STATUS_SUCCESS, "cuBLAS: ", what, " failed: ", cublasGetStatusName(s), " (",
            cublasGetStatusString(s), ")");
}

// The per-device library state. Never destroyed: handles outlive every GEMM and tearing them down at process
// exit, after the CUDA context may already be gone, is a classic crash.
struct Handles {
  cublasHandle_t blas = nullptr;
  cublasLtHandle_t lt = nullptr;
  void* workspace = nullptr;     // (kWorkspaceBytes) bytes, shared by both handles (one stream: never concurrent)
  cudaStream_t bound = nullptr;  // the stream blas is bound to; cublasSetStream also resets the workspace
  bool bound_once = false;
};

std::mutex& handles_mutex() {
  static std::mutex m;
  return m;
}

// The current device's handles, created on first use and re-bound when hm::cuda::stream() changes.
Handles& handles() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice (cuBLAS handle)");
  std::lock_guard<std::mutex> lock(handles_mutex());
  static std::vector<std::unique_ptr<Handles>> per_device;
  if (size_t(device) >= per_device.size()) per_device.resize(size_t(device) + 1);
  std::unique_ptr<Handles>& h = per_device[size_t(device)];
  if (!h) {
    auto fresh = std::make_unique<Handles>();
    check_blas(cublasCreate(&fresh->blas), "cublasCreate");
    check_blas(cublasLtCreate(&fresh->lt), "cublasLtCreate");
    fresh->workspace = scratch(kWorkspaceBytes);
    h = std::move(fresh);
  }
  const cudaStream_t s = stream();
  if (!h->bound_once || h->bound != s) {
    // Order matters: cublasSetStream resets any user workspace to cuBLAS's own pool (cuBLAS docs, cublasSetStream).
    check_blas(cublasSetStream(h->blas, s), "cublasSetStream");
    check_blas(cublasSetWorkspace(h->blas, h->workspace, kWorkspaceBytes), "cublasSetWorkspace");
    h->bound = s, h->bound_once = true;
  }
  return *h;
}

// 1 when f32 GEMMs may use TF32; initialised from HUBMAMBA_TF32 on first use.
int& tf32_flag() {
  static int v = [] {
    const char* e = std::getenv("HUBMAMBA_TF32");
    return e != nullptr && std::strcmp(e, "1") == 0 ? 1 : 0;
  }();
  return v;
}

enum class Kind { f32, f64, bf16 };
const char* kind_name(Kind k) { return k == Kind::f32 ? "f32" : k == Kind::f64 ? "f64" : "bf16"; }

cudaDataType data_type(Kind k) { return k == Kind::f32 ? CUDA_R_32F : k == Kind::f64 ? CUDA_R_64F : CUDA_R_16BF; }
cublasComputeType_t compute_type(Kind k) {
  if (k == Kind::f64) return CUBLAS_COMPUTE_64F;
  if (k == Kind::f32 && tf32_flag() == 1) return CUBLAS_COMPUTE_32F_FAST_TF32;
  return CUBLAS_COMPUTE_32F;  // f32 exact, and bf16 inputs with f32 accumulation
}

// The GEMM's arguments in the row-major terms of cuda/blas.h, for validation and error messages.
struct Gemm {
  Kind kind;
  bool ta, tb;
  int64_t M, N, K, lda, sa, ldb, sb, ldc, sc, batch;
};

std::string describe(const Gemm& g) {
  return cat(kind_name(g.kind), " M=", g.M, " N=", g.N, " K=", g.K, " trans_a=", g.ta, " trans_b=", g.tb,
             " lda=", g.lda, " ldb=", g.ldb, " ldc=", g.ldc, " batch=", g.batch, " strides=(", g.sa, ", ", g.sb, ", ",
             g.sc, ")");
}

// Leading dimensions and 32-bit limits checked here, so a bad call is an hm::Error naming the shape rather than
// CUBLAS_STATUS_INVALID_VALUE.
void validate(const char* fn, const Gemm& g) {
  const int64_t need_a = std::max<int64_t>(1, g.ta ? g.M : g.K), need_b = std::max<int64_t>(1, g.tb ? g.K : g.N);
  const bool sizes = g.M >= 0 && g.N >= 0 && g.K >= 0 && g.batch >= 0;
  const bool lds = g.lda >= need_a && g.ldb >= need_b && g.ldc >= std::max<int64_t>(1, g.N);
  const bool disjoint = g.batch <= 1 || g.sc >= g.M * g.ldc;
  bool fits = true;
  for (int64_t v : {g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.batch}) fits = fits && v <= INT_MAX;
  if (sizes && lds && disjoint && fits) [[likely]]
    return;  // the messages below are formatted only on failure: this runs on every GEMM
  hm::check(sizes, fn, ": negative size: ", describe(g));
  hm::check(lds, fn, ": bad leading dimensions: ", describe(g));
  hm::check(disjoint, fn, ": the C matrices of a batch overlap: ", describe(g));
  throw Error(cat(fn, ": a size exceeds cuBLAS's 32-bit interface: ", describe(g)));
}

// The error of a failed GEMM call, formatted only on failure (the message costs more than the call's host work).
[[noreturn]] void fail_gemm(cublasStatus_t s, const char* call, const Gemm& g) {
  throw Error(cat("cuBLAS: ", call, " ", describe(g), " failed: ", cublasGetStatusName(s), " (",
                  cublasGetStatusString(s), ")"));
}

template <class T>
struct Acc {
  using type = float;
};
template <>
struct Acc<double> {
  using type = double;
};

__device__ __forceinline__ float load(const float* p) { return *p; }
__device__ __forceinline__ double load(const double* p) { return *p; }
__device__ __forceinline__ float load(const __nv_bfloat16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(double* p, double v) { *p = v; }
__device__ __forceinline__ void store(__nv_bfloat16* p, float v) { *p = __float2bfloat16(v); }

// C_i = beta * C_i for the empty product K == 0 (cuBLAS leaves that case to the caller's reading of the spec);
// beta == 0 writes zeros without reading C. One thread per element of the (batch, M, N) grid.
template <class T, class S>
__global__ void scale_c_kernel(int64_t batch, int64_t M, int64_t N, S beta, T* C, int64_t ldc, int64_t stride_c) {
  const int64_t total = batch * M * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / (M * N), r = (i / N) % M, c = i % N;
    T* p = C + b * stride_c + r * ldc + c;
    store(p, beta == S(0) ? S(0) : S(beta * load(p)));
  }
}

template <class T, class S>
void scale_c(const Gemm& g, S beta, T* C) {
  const int64_t total = g.batch * g.M * g.N;
  scale_c_kernel<T, S><<<grid_for(total, 256), 256, 0, stream()>>>(g.batch, g.M, g.N, beta, C, g.ldc, g.sc);
  check_launch("scale_c_kernel (GEMM with K = 0)");
}

// ---- cuBLAS ------------------------------------------------------------------------------------------------------

template <class T, class S>
void cublas_gemm(const Gemm& g, S alpha, const T* A, const T* B, S beta, T* C) {
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  validate("cublas_gemm", g);
  if (g.K == 0) return scale_c(g, beta, C);
  Handles& h = handles();
  // Column-major C^T (N, M) = op(B)^T (N, K) op(A)^T (K, M): B first, then A, flags unchanged.
  const cublasOperation_t op_b = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_a = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cudaDataType t = data_type(g.kind);
  if (g.batch == 1) {
    const cublasStatus_t s =
        cublasGemmEx(h.blas, op_b, op_a, int(g.N), int(g.M), int(g.K), &alpha, B, t, int(g.ldb), A, t, int(g.lda),
                     &beta, C, t, int(g.ldc), compute_type(g.kind), CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS) fail_gemm(s, "cublasGemmEx", g);
  } else {
    const cublasStatus_t s = cublasGemmStridedBatchedEx(
        h.blas, op_b, op_a, int(g.N), int(g.M), int(g.K), &alpha, B, t, int(g.ldb), g.sb, A, t, int(g.lda), g.sa, &beta,
        C, t, int(g.ldc), g.sc, int(g.batch), compute_type(g.kind), CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS) fail_gemm(s, "cublasGemmStridedBatchedEx", g);
  }
}

// ---- cuBLASLt ----------------------------------------------------------------------------------------------------

// Largest power of two (<= 256) dividing the address: what cuBLASLt's MIN_ALIGNMENT preferences describe.
uint32_t alignment_of(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  uint32_t al = 256;
  while (al > 1 && a % al != 0) al /= 2;
  return al;
}

// Descriptors and the heuristic's algorithm for one GEMM configuration, created once and reused.
struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;  // in cuBLASLt's (column-major, swapped) terms
  cublasLtMatmulAlgo_t algo{};
  bool supported = true;  // false: cuBLASLt has no algorithm for this layout; the GEMM goes to cublasGemmEx
};

using LtKey = std::tuple<int, int, bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                         int64_t, int64_t, uint32_t, uint32_t, uint32_t, int>;  // device, kind, ... , tf32

cublasLtMatrixLayout_t lt_layout(Kind kind, int64_t rows, int64_t cols, int64_t ld, int64_t batch, int64_t stride) {
  cublasLtMatrixLayout_t l = nullptr;
  check_blas(cublasLtMatrixLayoutCreate(&l, data_type(kind), uint64_t(rows), uint64_t(cols), ld),
             "cublasLtMatrixLayoutCreate");
  if (batch > 1) {
    const int32_t count = int32_t(batch);
    check_blas(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)),
               "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)");
    check_blas(
        cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)),
        "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)");
  }
  return l;
}

LtPlan make_plan(Handles& h, const Gemm& g, uint32_t al_a, uint32_t al_b, uint32_t al_c) {
  LtPlan p;
  const cudaDataType scale = g.kind == Kind::f64 ? CUDA_R_64F : CUDA_R_32F;
  check_blas(cublasLtMatmulDescCreate(&p.desc, compute_type(g.kind), scale), "cublasLtMatmulDescCreate");
  // cuBLASLt's A is our B, its B our A (the row-major swap); its op flags are ours.
  const cublasOperation_t op_b = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_a = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  check_blas(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_b, sizeof(op_b)),
             "cublasLtMatmulDescSetAttribute(TRANSA)");
  check_blas(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_a, sizeof(op_a)),
             "cublasLtMatmulDescSetAttribute(TRANSB)");
  // Stored column-major shapes: our B is (K, N) row-major -> (N, K) column-major, or (K, N) when transposed.
  p.a = lt_layout(g.kind, g.tb ? g.K : g.N, g.tb ? g.N : g.K, g.ldb, g.batch, g.sb);
  p.b = lt_layout(g.kind, g.ta ? g.M : g.K, g.ta ? g.K : g.M, g.lda, g.batch, g.sa);
  p.c = lt_layout(g.kind, g.N, g.M, g.ldc, g.batch, g.sc);

  cublasLtMatmulPreference_t pref = nullptr;
  check_blas(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
  const uint64_t ws = kWorkspaceBytes;
  check_blas(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)),
             "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
  // cuBLASLt assumes 256-byte aligned buffers unless told otherwise; views (an offset row block) may not be.
  const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, al_b},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, al_a},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, al_c},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, al_c}};
  for (const auto& [attr, v] : aligns)
    check_blas(cublasLtMatmulPreferenceSetAttribute(pref, attr, &v, sizeof(v)),
               "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT)");
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(h.lt, p.desc, p.a, p.b, p.c, p.c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  // Some layouts have no cuBLASLt kernel (e.g. bf16 operands aligned to 2 bytes only, which views produce);
  // like PyTorch, such GEMMs fall back to cublasGemmEx. Any other failure is an error.
  if (s == CUBLAS_STATUS_NOT_SUPPORTED || (s == CUBLAS_STATUS_SUCCESS && found == 0)) {
    p.supported = false;
    return p;
  }
  if (s != CUBLAS_STATUS_SUCCESS) fail_gemm(s, "cublasLtMatmulAlgoGetHeuristic", g);
  p.algo = result.algo;
  return p;
}

template <class T, class S>
void cublaslt_gemm(const Gemm& g, S alpha, const T* A, const T* B, S beta, T* C) {
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  validate("cublaslt_gemm", g);
  if (g.K == 0) return scale_c(g, beta, C);
  Handles& h = handles();
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice (cuBLASLt plan)");
  const uint32_t al_a = alignment_of(A), al_b = alignment_of(B), al_c = alignment_of(C);
  const LtKey key{device, int(g.kind), g.ta,  g.tb, g.M,     g.N,  g.K,  g.lda, g.sa,
                  g.ldb,  g.sb,        g.ldc, g.sc, g.batch, al_a, al_b, al_c,  tf32_flag()};
  static std::map<LtKey, LtPlan> plans;
  LtPlan plan;
  {
    std::lock_guard<std::mutex> lock(handles_mutex());
    auto it = plans.find(key);
    if (it == plans.end()) it = plans.emplace(key, make_plan(h, g, al_a, al_b, al_c)).first;
    plan = it->second;
  }
  if (!plan.supported) return cublas_gemm(g, alpha, A, B, beta, C);
  const cublasStatus_t s = cublasLtMatmul(h.lt, plan.desc, &alpha, B, plan.a, A, plan.b, &beta, C, plan.c, C, plan.c,
                                          &plan.algo, h.workspace, kWorkspaceBytes, stream());
  if (s != CUBLAS_STATUS_SUCCESS) fail_gemm(s, "cublasLtMatmul", g);
}

// ---- linear's helpers ------------------------------------------------------------------------------------------

// out[r][c] = bias[c]; one thread per element.
template <class T>
__global__ void broadcast_rows_kernel(const T* bias, int64_t R, int64_t N, T* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < R * N; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = bias[i % N];
}

template <class T>
void broadcast_rows(const T* bias, int64_t R, int64_t N, T* out) {
  if (R * N == 0) return;
  broadcast_rows_kernel<T><<<grid_for(R * N, 256), 256, 0, stream()>>>(bias, R, N, out);
  check_launch("broadcast_rows_kernel");
}

// out[c] = sum_r X[r][c]. Block (32, 32): threadIdx.x picks the column (coalesced row reads), threadIdx.y strides
// over rows; the 32 partial sums are then added in a fixed order, so the result is deterministic.
template <class T>
__global__ void column_sum_kernel(const T* X, int64_t R, int64_t N, int64_t ldx, T* out) {
  using A = typename Acc<T>::type;
  __shared__ A partial[32][33];  // (ty, tx), padded against bank conflicts
  const int64_t c = blockIdx.x * int64_t(32) + threadIdx.x;
  A s = 0;
  if (c < N)
    for (int64_t r = threadIdx.y; r < R; r += 32) s += load(X + r * ldx + c);
  partial[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < N) {
    A total = 0;
    for (int k = 0; k < 32; ++k) total += partial[k][threadIdx.x];
    store(out + c, total);
  }
}

template <class T>
void column_sum(const T* X, int64_t R, int64_t N, int64_t ldx, T* out) {
  if (N == 0) return;
  column_sum_kernel<T><<<unsigned((N + 31) / 32), dim3(32, 32), 0, stream()>>>(X, R, N, ldx, out);
  check_launch("column_sum_kernel");
}

const __nv_bfloat16* bf(const uint16_t* p) { return reinterpret_cast<const __nv_bfloat16*>(p); }
__nv_bfloat16* bf(uint16_t* p) { return reinterpret_cast<__nv_bfloat16*>(p); }

}  // namespace

void set_allow_tf32(bool allow) { tf32_flag() = allow ? 1 : 0; }
bool allow_tf32() { return tf32_flag() == 1; }

void cublas_gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                     int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc,
                     int64_t batch) {
  cublas_gemm(Gemm{Kind::f32, ta, tb, M, N, K, lda, sa, ldb, sb, ldc, sc, batch}, alpha, A, B, beta, C);
}
void cublas_gemm_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                     int64_t sa, const double* B, int64_t ldb, int64_t sb, double beta, double* C, int64_t ldc,
                     int64_t sc, int64_t batch) {
  cublas_gemm(Gemm{Kind::f64, ta, tb, M, N, K, lda, sa, ldb, sb, ldc, sc, batch}, alpha, A, B, beta, C);
}
void cublas_gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A, int64_t lda,
                      int64_t sa, const uint16_t* B, int64_t ldb, int64_t sb, float beta, uint16_t* C, int64_t ldc,
                      int64_t sc, int64_t batch) {
  cublas_gemm(Gemm{Kind::bf16, ta, tb, M, N, K, lda, sa, ldb, sb, ldc, sc, batch}, alpha, bf(A), bf(B), beta, bf(C));
}

void cublaslt_gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                       int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc,
                       int64_t sc, int64_t batch) {
  cublaslt_gemm(Gemm{Kind::f32, ta, tb, M, N, K, lda, sa, ldb, sb, ldc, sc, batch}, alpha, A, B, beta, C);
}
void cublaslt_gemm_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                       int64_t sa, const double* B, int64_t ldb, int64_t sb, double beta, double* C, int64_t ldc,
                       int64_t sc, int64_t batch) {
  cublaslt_gemm(Gemm{Kind::f64, ta, tb, M, N, K, lda, sa, ldb, sb, ldc, sc, batch}, alpha, A, B, beta, C);
}
void cublaslt_gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A, int64_t lda,
                        int64_t sa, const uint16_t* B, int64_t ldb, int64_t sb, float beta, uint16_t* C, int64_t ldc,
                        int64_t sc, int64_t batch) {
  cublaslt_gemm(Gemm{Kind::bf16, ta, tb, M, N, K, lda, sa, ldb, sb, ldc, sc, batch}, alpha, bf(A), bf(B), beta, bf(C));
}

void broadcast_rows_f32(const float* bias, int64_t R, int64_t N, float* out) { broadcast_rows(bias, R, N, out); }
void broadcast_rows_f64(const double* bias, int64_t R, int64_t N, double* out) { broadcast_rows(bias, R, N, out); }
void broadcast_rows_bf16(const uint16_t* bias, int64_t R, int64_t N, uint16_t* out) {
  broadcast_rows(bf(bias), R, N, bf(out));
}

void column_sum_f32(const float* X, int64_t R, int64_t N, int64_t ldx, float* out) { column_sum(X, R, N, ldx, out); }
void column_sum_f64(const double* X, int64_t R, int64_t N, int64_t ldx, double* out) { column_sum(X, R, N, ldx, out); }
void column_sum_bf16(const uint16_t* X, int64_t R, int64_t N, int64_t ldx, uint16_t* out) {
  column_sum(bf(X), R, N, ldx, bf(out));
}

}  // namespace hm::cuda
