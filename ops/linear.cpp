// matmul / bmm / linear: Tensors -> BLAS operands (pointer, transpose flag, leading dim, per-batch offsets),
// forward and backward as GEMMs. Derivatives (PyTorch tools/autograd/derivatives.yaml, mm and linear):
//   C = A @ B      ->  dA = dC @ B^T,  dB = A^T @ dC   (batched; broadcast batch dims are summed)
//   y = x W^T + b  ->  dx = dy @ W,    dW = dy^T @ x,  db = sum_rows(dy)
#include "ops/linear.h"

#include <algorithm>
#include <optional>
#include <tuple>

#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/strided.h"

namespace hm {

KernelTable<cpu::GemmKernels>& gemm_table() {
  static KernelTable<cpu::GemmKernels> table("gemm");
  return table;
}

KernelTable<GemmCudaKernels>& gemm_cuda_table() {
  static KernelTable<GemmCudaKernels> table("gemm", DeviceType::cuda);
  return table;
}

namespace {

// One operand of a GEMM on CUDA tensors: the first matrix starts `offset` elements after t's first element, is
// stored row-major with row stride ld (trans: it holds op(X)^T), and matrix i of a batch is `stride` further on.
struct GemmArg {
  Tensor t;
  int64_t offset = 0;
  bool trans = false;
  int64_t ld = 1;
  int64_t stride = 0;
};

// C = alpha op(A) op(B) + beta C for `batch` matrices through the selected gemm@cuda variant; A, B, C CUDA tensors
// of one dtype (f32, f64 or bf16), C.trans false.
void gemm_cuda(int64_t M, int64_t N, int64_t K, double alpha, const GemmArg& A, const GemmArg& B, double beta,
               const GemmArg& C, int64_t batch = 1) {
  const DType t = C.t.dtype();
  check(A.t.dtype() == t && B.t.dtype() == t, "gemm (CUDA): dtype mismatch: A ", A.t.dtype(), ", B ", B.t.dtype(),
        ", C ", t);
  check(A.t.is_cuda() && B.t.is_cuda() && C.t.is_cuda(), "gemm (CUDA): every operand must be a CUDA tensor");
  check(!C.trans, "gemm (CUDA): the output cannot be transposed");
  const GemmCudaKernels k = gemm_cuda_table().get();
  // bf16 has no C++ element type: its kernels take the bits as uint16_t.
  auto ptr = [](auto* tag, const GemmArg& x) {
    using P = std::remove_pointer_t<decltype(tag)>;
    return x.t.template device_data<P>() + x.offset;
  };
  auto run = [&](auto fn, auto* tag, auto scale) {
    using S = decltype(scale);
    fn(A.trans, B.trans, M, N, K, S(alpha), ptr(tag, A), A.ld, A.stride, ptr(tag, B), B.ld, B.stride, S(beta),
       ptr(tag, C), C.ld, C.stride, batch);
  };
  switch (t) {
    case DType::f32: return run(k.f32, static_cast<float*>(nullptr), float{});
    case DType::f64: return run(k.f64, static_cast<double*>(nullptr), double{});
    case DType::bf16: return run(k.bf16, static_cast<uint16_t*>(nullptr), float{});
    default: throw Error(cat("gemm (CUDA): expected float32, float64 or bfloat16 tensors, got ", t));
  }
}

const bool kRegScalar = (gemm_table().add("scalar", {cpu::scalar::gemm<float>, cpu::scalar::gemm<double>}, 0), true);
const bool kRegOpenblas = (gemm_table().add("openblas", {cpu::openblas::sgemm, cpu::openblas::dgemm}, 10), true);

const OpRegistrar kRegistered{"matmul", "bmm", "linear"};

// How BLAS reads a (rows, cols) matrix with element strides (sr, sc): row-major with leading dim ld
// (trans = false), or as the transpose of a row-major (cols, rows) matrix (trans = true, e.g. W.transpose(0, 1)).
struct Layout {
  bool trans = false;
  int64_t ld = 1;
};

// BLAS row-major needs unit stride along a row and ld >= row length; size-1 dims have no stride constraint.
std::optional<Layout> blas_layout(int64_t rows, int64_t cols, int64_t sr, int64_t sc) {
  if ((cols <= 1 || sc == 1) && (rows <= 1 || sr >= std::max<int64_t>(1, cols)))
    return Layout{false, rows <= 1 ? std::max<int64_t>(1, cols) : sr};
  if ((rows <= 1 || sr == 1) && (cols <= 1 || sc >= std::max<int64_t>(1, rows)))
    return Layout{true, cols <= 1 ? std::max<int64_t>(1, rows) : sc};
  return std::nullopt;
}

// An operand as the GEMM sees it: a detached tensor (the input, or its contiguous copy when the layout has no
// BLAS form, e.g. a flipped or expanded matrix dim) and the layout of its last two dims.
struct Operand {
  Tensor t;
  Layout layout;
};

Operand matrix_operand(const Tensor& in) {
  Tensor t = in.detach();
  const int64_t r = t.dim();
  if (auto l = blas_layout(t.shape()[r - 2], t.shape()[r - 1], t.strides()[r - 2], t.strides()[r - 1])) return {t, *l};
  return {t.contiguous(), Layout{false, std::max<int64_t>(1, t.shape()[r - 1])}};
}

Shape batch_of(const Shape& s) { return Shape(s.begin(), s.end() - 2); }

// Broadcast two batch shapes (numpy rules, right-aligned); throws naming the full operand shapes.
Shape broadcast_batch(const char* op, const Shape& a, const Shape& b) {
  const Shape ba = batch_of(a), bb = batch_of(b);
  const size_t n = std::max(ba.size(), bb.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = i < n - ba.size() ? 1 : ba[i - (n - ba.size())];
    const int64_t y = i < n - bb.size() ? 1 : bb[i - (n - bb.size())];
    check(x == y || x == 1 || y == 1, op, ": batch dimensions ", ba, " and ", bb, " do not broadcast: ", a, " @ ", b);
    out[i] = x == 1 ? y : x;
  }
  return out;
}

// For every index of the broadcast batch shape `batch` (row-major), the element offset of the operand's matrix.
// The operand's batch dims (`shape`, `strides`) are right-aligned to `batch`; size-1 and missing dims are
// broadcast and contribute 0.
std::vector<int64_t> batch_offsets(const Shape& batch, const Shape& shape, const Shape& strides) {
  const int64_t n = shape_numel(batch), rank = int64_t(batch.size()), lead = rank - int64_t(shape.size());
  std::vector<int64_t> step(rank, 0);  // (rank,) stride per broadcast batch dim
  for (int64_t d = lead; d < rank; ++d) step[d] = shape[d - lead] == 1 ? 0 : strides[d - lead];
  std::vector<int64_t> offsets(static_cast<size_t>(n)), idx(rank, 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    offsets[i] = off;
    for (int64_t d = rank - 1; d >= 0; --d) {
      off += step[d];
      if (++idx[d] < batch[d]) break;
      off -= step[d] * batch[d];
      idx[d] = 0;
    }
  }
  return offsets;
}

bool is_progression(const std::vector<int64_t>& off, int64_t step) {
  for (size_t i = 1; i < off.size(); ++i)
    if (off[i] != off[0] + int64_t(i) * step) return false;
  return true;
}

// ---- CUDA ----------------------------------------------------------------------------------------------------
// cuBLAS takes one batch stride per operand, so a batch whose matrix offsets are not an arithmetic progression
// (two broadcast batch dims, a flipped batch dim) is materialised first: op.t expanded to (*batch, rows, cols) and
// made contiguous, as torch.matmul does before its bmm. The gradient of a broadcast operand is computed per batch
// entry into a (*batch, rows, cols) buffer and reduced with sum_to (torch's sum_to_size), except for the folded
// (..., M, K) @ (K, N) case, whose gradient of B is one GEMM over all rows.

GemmArg batched_arg(const Operand& op, const std::vector<int64_t>& off, const Shape& batch) {
  const int64_t nb = int64_t(off.size());
  if (nb <= 1) return {op.t, nb == 1 ? off[0] : 0, op.layout.trans, op.layout.ld, 0};
  const int64_t step = off[1] - off[0];
  if (step >= 0 && is_progression(off, step)) return {op.t, off[0], op.layout.trans, op.layout.ld, step};
  const int64_t rows = op.t.size(-2), cols = op.t.size(-1);
  Shape full = batch;
  full.push_back(rows);
  full.push_back(cols);
  return {op.t.expand(full).contiguous(), 0, false, std::max<int64_t>(1, cols), rows * cols};  // (*batch, rows, cols)
}

Tensor matmul_batched_cuda(const char* name, const Tensor& a_in, const Tensor& b_in) {
  const Operand a = matrix_operand(a_in), b = matrix_operand(b_in);
  const Shape batch = broadcast_batch(name, a_in.shape(), b_in.shape());
  const int64_t M = a_in.size(-2), K = a_in.size(-1), N = b_in.size(-1), nb = shape_numel(batch);
  const auto a_off = batch_offsets(batch, batch_of(a.t.shape()), batch_of(a.t.strides()));
  const auto b_off = batch_offsets(batch, batch_of(b.t.shape()), batch_of(b.t.strides()));
  const GemmArg A = batched_arg(a, a_off, batch), B = batched_arg(b, b_off, batch);
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  const Tensor c = empty(out_shape, a_in.dtype(), a_in.device());  // (*batch, M, N)
  const bool b_shared = B.stride == 0;
  // (..., M, K) @ (K, N) with A's matrices stacked rows: one GEMM of (nb*M, K) @ (K, N) (as on the CPU).
  const bool a_rows_stacked = !A.trans && (nb <= 1 || A.stride == M * A.ld);
  if (nb > 0 && b_shared && a_rows_stacked)
    gemm_cuda(nb * M, N, K, 1.0, A, B, 0.0, {c, 0, false, std::max<int64_t>(1, N), 0});
  else if (nb > 0)
    gemm_cuda(M, N, K, 1.0, A, B, 0.0, {c, 0, false, std::max<int64_t>(1, N), M * N}, nb);

  record(name, {a_in, b_in}, {c}, [=](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
    const Tensor dc = g[0].contiguous();  // (*batch, M, N)
    const GemmArg dC{dc, 0, false, std::max<int64_t>(1, N), M * N};
    std::vector<Tensor> grads(2);
    // The gradient of an operand of shape `shape` ((*batch_x, rows, cols)): written directly when its batch is
    // the full batch (`distinct`), else per batch entry into (*batch, rows, cols) and reduced with sum_to.
    auto target = [&](const Shape& shape) {
      const bool distinct = shape_numel(batch_of(shape)) == nb;
      Shape full = batch;
      full.push_back(shape[shape.size() - 2]);
      full.push_back(shape.back());
      return std::pair{empty(distinct ? shape : full, dc.dtype(), dc.device()), distinct};
    };
    if (needs[0]) {
      // dA_i (M, K) = dC_i (M, N) @ op(B_i)^T: B's transpose flag flips, its ld stays.
      auto [da, distinct] = target(a.t.shape());
      const GemmArg Bt{B.t, B.offset, !B.trans, B.ld, B.stride};
      if (nb > 0 && distinct && b_shared)
        gemm_cuda(nb * M, K, N, 1.0, {dc, 0, false, std::max<int64_t>(1, N), 0}, Bt, 0.0,
                  {da, 0, false, std::max<int64_t>(1, K), 0});
      else if (nb > 0)
        gemm_cuda(M, K, N, 1.0, dC, Bt, 0.0, {da, 0, false, std::max<int64_t>(1, K), M * K}, nb);
      grads[0] = distinct ? da : strided::sum_to(da, a.t.shape());
    }
    if (needs[1]) {
      // dB_i (K, N) = op(A_i)^T (K, M) @ dC_i (M, N); for a shared B with stacked A rows one GEMM over every row:
      // A_fold^T (K, nb*M) @ dC (nb*M, N).
      if (nb > 1 && b_shared && a_rows_stacked) {
        Tensor db = empty(b.t.shape(), dc.dtype(), dc.device());  // (K, N) up to leading 1s
        gemm_cuda(K, N, nb * M, 1.0, {A.t, A.offset, true, A.ld, 0}, {dc, 0, false, std::max<int64_t>(1, N), 0}, 0.0,
                  {db, 0, false, std::max<int64_t>(1, N), 0});
        grads[1] = db;
      } else {
        auto [db, distinct] = target(b.t.shape());
        if (nb > 0)
          gemm_cuda(K, N, M, 1.0, {A.t, A.offset, !A.trans, A.ld, A.stride}, dC, 0.0,
                    {db, 0, false, std::max<int64_t>(1, N), K * N}, nb);
        grads[1] = distinct ? db : strided::sum_to(db, b.t.shape());
      }
    }
    return grads;
  });
  return c;
}

// The batched product C (*batch, M, N) = A (*batch_a, M, K) @ B (*batch_b, K, N) with broadcast batch dims,
// recorded as op `name`. Both inputs have rank >= 2 and matching inner dims (checked by the callers).
Tensor matmul_batched(const char* name, const Tensor& a_in, const Tensor& b_in) {
  if (a_in.is_cuda()) return matmul_batched_cuda(name, a_in, b_in);
  const Operand a = matrix_operand(a_in), b = matrix_operand(b_in);
  const Shape batch = broadcast_batch(name, a_in.shape(), b_in.shape());
  const int64_t M = a_in.size(-2), K = a_in.size(-1), N = b_in.size(-1), nb = shape_numel(batch);
  const auto a_off = batch_offsets(batch, batch_of(a.t.shape()), batch_of(a.t.strides()));
  const auto b_off = batch_offsets(batch, batch_of(b.t.shape()), batch_of(b.t.strides()));
  std::vector<int64_t> c_off(static_cast<size_t>(nb));  // C is contiguous (*batch, M, N)
  for (int64_t i = 0; i < nb; ++i) c_off[i] = i * M * N;
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor c = empty(out_shape, a_in.dtype());
  // When B is the same matrix for every batch entry and A's matrices are stacked rows ((..., M, K) @ (K, N)),
  // the batch folds into M: one GEMM of (nb*M, K) @ (K, N), as torch.matmul does.
  const bool b_shared = is_progression(b_off, 0);
  const bool a_rows_stacked = !a.layout.trans && is_progression(a_off, M * a.layout.ld);
  dispatch_float(a_in.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const auto gemm = cpu::gemm_for<T>(gemm_table().get());
    const T* pa = a.t.template data<T>();
    const T* pb = b.t.template data<T>();
    T* pc = c.template data<T>();
    if (nb > 0 && b_shared && a_rows_stacked)
      gemm(false, b.layout.trans, nb * M, N, K, T(1), pa + a_off[0], a.layout.ld, pb + b_off[0], b.layout.ld, T(0), pc,
           N);
    else
      cpu::gemm_batched(gemm, nb, a.layout.trans, b.layout.trans, M, N, K, T(1), pa, a_off.data(), a.layout.ld, pb,
                        b_off.data(), b.layout.ld, T(0), pc, c_off.data(), N);
  });

  record(name, {a_in, b_in}, {c}, [=](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
    const Tensor dc = g[0].contiguous();  // (*batch, M, N)
    std::vector<Tensor> grads(2);
    // Offsets of each batch entry's gradient block in a contiguous gradient of the operand's shape. Several
    // entries share a block (`distinct` false) when the operand was broadcast: the batched path then zeroes the
    // gradient and the GEMMs accumulate into it (beta = 1), which sums dC over the broadcast dims without
    // materialising per-entry products.
    auto grad_target = [&](const Shape& shape) {
      return std::tuple{empty(shape, a.t.dtype()),
                        batch_offsets(batch, batch_of(shape), batch_of(contiguous_strides(shape))),
                        shape_numel(batch_of(shape)) == nb};
    };
    dispatch_float(a.t.dtype(), name, [&](auto tag) {
      using T = decltype(tag);
      const auto gemm = cpu::gemm_for<T>(gemm_table().get());
      const T* pa = a.t.template data<T>();
      const T* pb = b.t.template data<T>();
      const T* pdc = dc.template data<T>();
      if (needs[0]) {
        // dA_i (M, K) = dC_i (M, N) @ op(B_i)^T: B's transpose flag flips, its ld stays.
        auto [da, da_off, distinct] = grad_target(a.t.shape());
        T* pda = da.template data<T>();
        if (nb > 0 && distinct && b_shared) {
          gemm(false, !b.layout.trans, nb * M, K, N, T(1), pdc, N, pb + b_off[0], b.layout.ld, T(0), pda, K);
        } else {
          if (!distinct) strided::fill(da, 0.0);
          cpu::gemm_batched(gemm, nb, false, !b.layout.trans, M, K, N, T(1), pdc, c_off.data(), N, pb, b_off.data(),
                            b.layout.ld, T(distinct ? 0 : 1), pda, da_off.data(), K);
        }
        grads[0] = da;
      }
      if (needs[1]) {
        // dB_i (K, N) = op(A_i)^T (K, M) @ dC_i (M, N). For a shared B with stacked A rows this is one GEMM
        // whose inner dimension runs over every row of every batch entry: A_fold^T (K, nb*M) @ dC (nb*M, N).
        auto [db, db_off, distinct] = grad_target(b.t.shape());
        T* pdb = db.template data<T>();
        if (nb > 0 && b_shared && !distinct && a_rows_stacked) {
          gemm(true, false, K, N, nb * M, T(1), pa + a_off[0], a.layout.ld, pdc, N, T(0), pdb, N);
        } else {
          if (!distinct) strided::fill(db, 0.0);
          cpu::gemm_batched(gemm, nb, !a.layout.trans, false, K, N, M, T(1), pa, a_off.data(), a.layout.ld, pdc,
                            c_off.data(), N, T(distinct ? 0 : 1), pdb, db_off.data(), N);
        }
        grads[1] = db;
      }
    });
    return grads;
  });
  return c;
}

// f32 / f64 everywhere; bf16 too on CUDA (cuBLAS with f32 accumulation).
void check_float_dtype(const char* op, const Tensor& a) {
  const DType t = a.dtype();
  if (a.is_cuda())
    check(t == DType::f32 || t == DType::f64 || t == DType::bf16, op,
          ": expected float32, float64 or bfloat16 CUDA tensors, got ", t);
  else
    check(t == DType::f32 || t == DType::f64, op, ": expected float32 or float64 tensors, got ", t,
          t == DType::bf16 ? " (bfloat16 runs on CUDA only)" : "");
}

void check_float_pair(const char* op, const Tensor& a, const Tensor& b) {
  check(a.device() == b.device(), op, ": operands on different devices: ", a.shape(), " on ", a.device(), " @ ",
        b.shape(), " on ", b.device());
  check(a.dtype() == b.dtype(), op, ": dtype mismatch: ", a.dtype(), " ", a.shape(), " @ ", b.dtype(), " ", b.shape());
  check_float_dtype(op, a);
}

// The rows of x (..., in) as one (rows, in) matrix: the stride between consecutive rows when the leading dims
// collapse into one (each non-unit dim's stride = stride * size of the next non-unit dim), else nullopt.
// Returns 0 when there is at most one row (the stride is then irrelevant).
std::optional<int64_t> collapsed_row_stride(const Tensor& x) {
  int64_t row_stride = 0, inner_stride = 0, inner_size = 0;
  bool have = false;
  for (int64_t d = x.dim() - 2; d >= 0; --d) {
    const int64_t n = x.shape()[d], s = x.strides()[d];
    if (n == 1) continue;
    if (!have)
      row_stride = s;
    else if (s != inner_stride * inner_size)
      return std::nullopt;
    inner_stride = s, inner_size = n, have = true;
  }
  return row_stride;
}

// f(P{}) with P the element type the CUDA kernels take for dtype t: float, double, uint16_t (bf16 bits).
template <class F>
void dispatch_cuda_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::bf16: return f(uint16_t{});
    default: throw Error(cat(op, ": expected float32, float64 or bfloat16 CUDA tensors, got ", t));
  }
}
BroadcastRowsCudaFn<float> broadcast_rows_of(const GemmCudaKernels& k, float) { return k.broadcast_rows_f32; }
BroadcastRowsCudaFn<double> broadcast_rows_of(const GemmCudaKernels& k, double) { return k.broadcast_rows_f64; }
BroadcastRowsCudaFn<uint16_t> broadcast_rows_of(const GemmCudaKernels& k, uint16_t) { return k.broadcast_rows_bf16; }
ColumnSumCudaFn<float> column_sum_of(const GemmCudaKernels& k, float) { return k.column_sum_f32; }
ColumnSumCudaFn<double> column_sum_of(const GemmCudaKernels& k, double) { return k.column_sum_f64; }
ColumnSumCudaFn<uint16_t> column_sum_of(const GemmCudaKernels& k, uint16_t) { return k.column_sum_bf16; }

// linear on CUDA: x (rows, in) with layout xl, w the weight operand, b the contiguous bias or undefined. The same
// GEMMs as the CPU path: y = b (broadcast kernel) + x W^T (beta = 1), dx = dy W, dW = dy^T x, db = column sums.
Tensor linear_cuda(const Tensor& x_in, const Tensor& w_in, const Tensor& bias, const Tensor& x, Layout xl,
                   const Operand& w, const Tensor& b, int64_t rows, int64_t in, int64_t out) {
  Shape out_shape = x_in.shape();
  out_shape.back() = out;
  const Tensor y = empty(out_shape, x_in.dtype(), x_in.device());  // (..., out) == (rows, out)
  const int64_t ld_out = std::max<int64_t>(1, out), ld_in = std::max<int64_t>(1, in);
  if (b.defined())
    dispatch_cuda_float(y.dtype(), "linear", [&](auto tag) {
      using P = decltype(tag);
      broadcast_rows_of(gemm_cuda_table().get(), tag)(b.device_data<P>(), rows, out, y.device_data<P>());
    });
  const GemmArg X{x, 0, xl.trans, xl.ld, 0};
  gemm_cuda(rows, out, in, 1.0, X, {w.t, 0, !w.layout.trans, w.layout.ld, 0}, b.defined() ? 1.0 : 0.0,
            {y, 0, false, ld_out, 0});

  const Shape x_shape = x_in.shape();
  record("linear", {x_in, w_in, bias}, {y}, [=](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
    const Tensor dy = g[0].contiguous();  // (rows, out)
    const GemmArg dY{dy, 0, false, ld_out, 0};
    std::vector<Tensor> grads(3);
    if (needs[0]) {  // dx (rows, in) = dy (rows, out) @ W (out, in)
      grads[0] = empty(x_shape, dy.dtype(), dy.device());
      gemm_cuda(rows, in, out, 1.0, dY, {w.t, 0, w.layout.trans, w.layout.ld, 0}, 0.0, {grads[0], 0, false, ld_in, 0});
    }
    if (needs[1]) {  // dW (out, in) = dy^T (out, rows) @ x (rows, in)
      grads[1] = empty({out, in}, dy.dtype(), dy.device());
      gemm_cuda(out, in, rows, 1.0, {dy, 0, true, ld_out, 0}, X, 0.0, {grads[1], 0, false, ld_in, 0});
    }
    if (needs[2]) {  // db (out,) = sum over rows of dy
      grads[2] = empty({out}, dy.dtype(), dy.device());
      dispatch_cuda_float(dy.dtype(), "linear", [&](auto tag) {
        using P = decltype(tag);
        column_sum_of(gemm_cuda_table().get(), tag)(dy.device_data<P>(), rows, out, ld_out, grads[2].device_data<P>());
      });
    }
    return grads;
  });
  return y;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (autocast_applies(a) && autocast_applies(b))  // bf16 autocast (engine/autocast.h): f32 in, f32 out
    return matmul(a.to(autocast_dtype()), b.to(autocast_dtype())).to(DType::f32);
  check(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dimension, got ", a.shape(), " @ ",
        b.shape());
  check(a.size(-1) == b.size(b.dim() == 1 ? -1 : -2), "matmul: inner dimensions differ: ", a.shape(), " @ ", b.shape());
  check_float_pair("matmul", a, b);
  // 1-D operands: torch.matmul prepends (left) / appends (right) a unit dim and removes it from the result.
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  Tensor c = matmul_batched("matmul", a2, b2);
  if (b.dim() == 1) c = c.squeeze(-1);
  if (a.dim() == 1) c = c.squeeze(b.dim() == 1 ? -1 : -2);
  return c;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  if (autocast_applies(a) && autocast_applies(b))
    return bmm(a.to(autocast_dtype()), b.to(autocast_dtype())).to(DType::f32);
  check(a.dim() == 3 && b.dim() == 3, "bmm: expected 3-D tensors, got ", a.shape(), " @ ", b.shape());
  check(a.size(0) == b.size(0), "bmm: batch sizes differ: ", a.shape(), " @ ", b.shape());
  check(a.size(2) == b.size(1), "bmm: inner dimensions differ: ", a.shape(), " @ ", b.shape());
  check_float_pair("bmm", a, b);
  return matmul_batched("bmm", a, b);
}

Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& bias) {
  if (autocast_applies(x_in) && autocast_applies(w_in) && (!bias.defined() || autocast_applies(bias))) {
    const DType lo = autocast_dtype();
    return linear(x_in.to(lo), w_in.to(lo), bias.defined() ? bias.to(lo) : Tensor()).to(DType::f32);
  }
  check(x_in.dim() >= 1 && w_in.dim() == 2, "linear: expected input (..., in) and weight (out, in), got ", x_in.shape(),
        " and ", w_in.shape());
  const int64_t in = w_in.size(1), out = w_in.size(0);
  check(x_in.size(-1) == in, "linear: input ", x_in.shape(), " has ", x_in.size(-1), " features but weight ",
        w_in.shape(), " expects ", in);
  check(x_in.dtype() == w_in.dtype(), "linear: dtype mismatch: input ", x_in.dtype(), ", weight ", w_in.dtype());
  check_float_dtype("linear", x_in);
  check(w_in.device() == x_in.device(), "linear: input on ", x_in.device(), " but weight on ", w_in.device());
  if (bias.defined()) {
    check(bias.device() == x_in.device(), "linear: input on ", x_in.device(), " but bias on ", bias.device());
    check(bias.dim() == 1 && bias.size(0) == out, "linear: bias ", bias.shape(), " does not match weight ",
          w_in.shape(), " (expected (", out, ",))");
    check(bias.dtype() == x_in.dtype(), "linear: dtype mismatch: bias ", bias.dtype(), ", input ", x_in.dtype());
  }
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < x_in.dim(); ++d) rows *= x_in.shape()[d];

  // x as a (rows, in) matrix: a view when its leading dims collapse (always for contiguous x), else a copy.
  Tensor x = x_in.detach();
  std::optional<Layout> xl;
  if (auto sr = collapsed_row_stride(x)) xl = blas_layout(rows, in, *sr, x.strides().back());
  if (!xl) {
    x = x.contiguous();
    xl = Layout{false, std::max<int64_t>(1, in)};
  }
  const Operand w = matrix_operand(w_in);  // W (out, in); the product uses W^T, i.e. the flipped flag
  const Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  if (x_in.is_cuda()) return linear_cuda(x_in, w_in, bias, x, *xl, w, b, rows, in, out);

  Shape out_shape = x_in.shape();
  out_shape.back() = out;
  Tensor y = empty(out_shape, x_in.dtype());  // (..., out) == (rows, out)
  dispatch_float(x_in.dtype(), "linear", [&](auto tag) {
    using T = decltype(tag);
    const auto gemm = cpu::gemm_for<T>(gemm_table().get());
    T* py = y.template data<T>();
    if (b.defined()) {  // y = b broadcast over rows, then y += x W^T (beta = 1): the bias costs one pass over y
      const T* pb = b.template data<T>();
      for (int64_t r = 0; r < rows; ++r) std::copy(pb, pb + out, py + r * out);
    }
    gemm(xl->trans, !w.layout.trans, rows, out, in, T(1), x.template data<T>(), xl->ld, w.t.template data<T>(),
         w.layout.ld, T(b.defined() ? 1 : 0), py, out);
  });

  const Layout x_layout = *xl;
  const Shape x_shape = x_in.shape();
  record("linear", {x_in, w_in, bias}, {y}, [=](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
    const Tensor dy = g[0].contiguous();  // (rows, out)
    std::vector<Tensor> grads(3);
    dispatch_float(dy.dtype(), "linear", [&](auto tag) {
      using T = decltype(tag);
      const auto gemm = cpu::gemm_for<T>(gemm_table().get());
      const T* pdy = dy.template data<T>();
      if (needs[0]) {  // dx (rows, in) = dy (rows, out) @ W (out, in)
        Tensor dx = empty(x_shape, dy.dtype());
        gemm(false, w.layout.trans, rows, in, out, T(1), pdy, out, w.t.template data<T>(), w.layout.ld, T(0),
             dx.template data<T>(), in);
        grads[0] = dx;
      }
      if (needs[1]) {  // dW (out, in) = dy^T (out, rows) @ x (rows, in)
        Tensor dw = empty({out, in}, dy.dtype());
        gemm(true, x_layout.trans, out, in, rows, T(1), pdy, out, x.template data<T>(), x_layout.ld, T(0),
             dw.template data<T>(), in);
        grads[1] = dw;
      }
      if (needs[2]) {  // db (out,) = sum over rows of dy
        Tensor db = empty({out}, dy.dtype());
        cpu::column_sum(pdy, rows, out, out, db.template data<T>());
        grads[2] = db;
      }
    });
    return grads;
  });
  return y;
}

}  // namespace hm
