// cat / stack / pad move blocks with strided copies (engine/strided.h, on any device); embedding / gather /
// index_select run on the index kernel tables of the tensors' device (ops/shape.h: `index` / `index_add` on the
// CPU, `index@cuda` / `index_add@cuda` on CUDA), one code path for both. Backward passes (PyTorch
// tools/autograd/derivatives.yaml):
//   cat          -> each input gets its slice of dC along dim
//   pad          -> the input gets the window of dY it was copied to (cropped parts get nothing)
//   embedding    -> dW[idx[i]] += dY[i]                       (embedding_dense_backward)
//   gather       -> dT = zeros.scatter_add(dim, index, dY)
//   index_select -> dT = zeros.index_add(dim, index, dY)
#include "ops/shape.h"

#include <algorithm>

#include "cpu/index.h"
#include "engine/autograd.h"
#include "engine/strided.h"
#include "ops/registry.h"

namespace hm {
namespace {

const OpRegistrar kRegistered{"cat", "stack", "pad", "embedding", "gather", "index_select"};

// A view of `base` with `shape` starting at element `start` along every dim (start in elements, per dim).
Tensor window(const Tensor& base, const Shape& start, const Shape& shape) {
  int64_t off = base.offset();
  for (size_t d = 0; d < shape.size(); ++d) off += start[d] * base.strides()[d];
  return make_view(base, shape, base.strides(), off);
}

// ---- index ops: the CPU reference kernels as table entries, and the device dispatch ---------------------------

// Call f(W{}) with W the unsigned word of `elem_bytes` bytes: the forward kernels only move bits.
template <class F>
void dispatch_word(const char* op, int64_t elem_bytes, F&& f) {
  switch (elem_bytes) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    case 8: return f(uint64_t{});
    default: throw Error(cat(op, ": unsupported element size ", elem_bytes, " bytes"));
  }
}

int64_t scalar_first_out_of_range(const int64_t* index, int64_t count, int64_t n) {
  return cpu::first_out_of_range(index, count, n);
}

void scalar_select_rows(const void* src, int64_t elem_bytes, int64_t outer, int64_t N, int64_t inner,
                        const int64_t* index, int64_t n, void* out) {
  dispatch_word("index_select_rows", elem_bytes, [&](auto w) {
    using W = decltype(w);
    cpu::index_select_rows(static_cast<const W*>(src), outer, N, inner, index, n, static_cast<W*>(out));
  });
}

void scalar_gather_dim(const void* src, int64_t elem_bytes, const int64_t* src_strides, const int64_t* index,
                       const int64_t* index_shape, int64_t rank, int64_t dim, void* out) {
  dispatch_word("gather_dim", elem_bytes, [&](auto w) {
    using W = decltype(w);
    cpu::gather_dim(static_cast<const W*>(src), src_strides, index, index_shape, rank, dim, static_cast<W*>(out));
  });
}

const bool kRegIndex =
    (index_table().add("scalar", {scalar_first_out_of_range, scalar_select_rows, scalar_gather_dim}, 0), true);
const bool kRegIndexAdd =
    (index_add_table().add("scalar",
                           {{cpu::index_add_rows<float, int64_t>, cpu::scatter_add_dim<float, int64_t>},
                            {cpu::index_add_rows<double, int64_t>, cpu::scatter_add_dim<double, int64_t>}},
                           0),
     true);

IndexKernels index_kernels(const Tensor& t) { return t.is_cuda() ? index_cuda_table().get() : index_table().get(); }

template <class T>
IndexAddFns<T> index_add_fns(const Tensor& t) {
  const IndexAddKernels k = t.is_cuda() ? index_add_cuda_table().get() : index_add_table().get();
  if constexpr (sizeof(T) == sizeof(float)) {
    return k.f32;
  } else {
    return k.f64;
  }
}

void check_same_device(const char* op, const Tensor& t, const Tensor& index) {
  check(t.device() == index.device(), op, ": input ", t.shape(), " on ", t.device(), " but index ", index.shape(),
        " on ", index.device());
}

// The index as the kernels take it: contiguous int64 on the index's device (int32 is converted once).
Tensor index_i64(const char* op, const Tensor& index) {
  check(index.dtype() == DType::i32 || index.dtype() == DType::i64, op,
        ": expected an int32 or int64 index tensor, got ", index.dtype());
  const Tensor c = index.contiguous();
  return c.dtype() == DType::i64 ? c : c.to(DType::i64);
}

// Every index must lie in [0, n); the message names the op, the offending value and what it indexes.
void check_indices(const char* op, const Tensor& idx, int64_t n, const std::string& what) {
  const int64_t bad = index_kernels(idx).first_out_of_range(idx.device_data<int64_t>(), idx.numel(), n);
  check(bad < 0, op, ": index ", bad < 0 ? 0 : int64_t(idx.reshape({-1}).select(0, bad).item()), " out of range for ",
        what);
}

int64_t elem_bytes(const Tensor& t) { return int64_t(dtype_size(t.dtype())); }

}  // namespace

KernelTable<IndexKernels>& index_table() {
  static KernelTable<IndexKernels> table("index");
  return table;
}
KernelTable<IndexKernels>& index_cuda_table() {
  static KernelTable<IndexKernels> table("index", DeviceType::cuda);
  return table;
}
KernelTable<IndexAddKernels>& index_add_table() {
  static KernelTable<IndexAddKernels> table("index_add");
  return table;
}
KernelTable<IndexAddKernels>& index_add_cuda_table() {
  static KernelTable<IndexAddKernels> table("index_add", DeviceType::cuda);
  return table;
}

Tensor cat_tensors(const std::vector<Tensor>& tensors, int64_t dim) {
  check(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& first = tensors[0];
  check(first.dim() >= 1, "cat: zero-dimensional tensor 0 cannot be concatenated");
  const int64_t d = wrap_dim(dim, first.dim(), "cat");
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check(t.dtype() == first.dtype(), "cat: dtype mismatch: tensor ", i, " is ", t.dtype(), " but tensor 0 is ",
          first.dtype());
    check(t.device() == first.device(), "cat: tensor ", i, " is on ", t.device(), " but tensor 0 is on ",
          first.device());
    bool same = t.dim() == first.dim();
    for (int64_t k = 0; same && k < t.dim(); ++k) same = k == d || t.shape()[k] == first.shape()[k];
    check(same, "cat: tensor ", i, " has shape ", t.shape(), " but tensor 0 has ", first.shape(),
          "; sizes must match except in dim ", d);
    out_shape[d] += t.shape()[d];
  }
  Tensor out = empty(out_shape, first.dtype(), first.device());
  std::vector<int64_t> starts(tensors.size());  // offset of each input along d in the output
  int64_t at = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    starts[i] = at;
    Shape start(out_shape.size(), 0);
    start[d] = at;
    strided::copy(window(out, start, tensors[i].shape()), tensors[i]);
    at += tensors[i].shape()[d];
  }
  std::vector<int64_t> sizes(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) sizes[i] = tensors[i].shape()[d];
  record("cat", tensors, {out}, [d, starts, sizes](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
    std::vector<Tensor> grads(needs.size());
    for (size_t i = 0; i < needs.size(); ++i)
      if (needs[i]) grads[i] = g[0].narrow(d, starts[i], sizes[i]).contiguous();
    return grads;
  });
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  check(!tensors.empty(), "stack: expected a non-empty list of tensors");
  const int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (size_t i = 0; i < tensors.size(); ++i) {
    check(tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " has shape ", tensors[i].shape(),
          " but tensor 0 has ", tensors[0].shape(), "; all shapes must be equal");
    expanded.push_back(tensors[i].unsqueeze(d));  // differentiable view; cat's backward slices it back out
  }
  return cat_tensors(expanded, d);
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  const int64_t rank = x.dim();
  check(pads.size() % 2 == 0 && int64_t(pads.size()) <= 2 * rank, "pad: expected an even number of pad values, at ",
        "most 2 * rank = ", 2 * rank, " for input ", x.shape(), ", got ", pads.size());
  // For every dim: the window [src_start, src_start + len) of x lands at dst_start in the output.
  Shape out_shape = x.shape(), src_start(rank, 0), dst_start(rank, 0), len = x.shape();
  bool empty_window = false;
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    const int64_t d = rank - 1 - int64_t(k), n = x.shape()[d], left = pads[2 * k], right = pads[2 * k + 1];
    out_shape[d] = n + left + right;
    check(out_shape[d] >= 0, "pad: padding (", left, ", ", right, ") on dim ", d, " of size ", n, " of input ",
          x.shape(), " gives a negative size ", out_shape[d]);
    src_start[d] = std::max<int64_t>(0, -left);
    dst_start[d] = std::max<int64_t>(0, left);
    len[d] = n - src_start[d] - std::max<int64_t>(0, -right);
    if (len[d] <= 0) empty_window = true;
  }
  for (int64_t& l : len) l = std::max<int64_t>(l, 0);
  Tensor out = full(out_shape, value, x.dtype(), x.device());
  const Tensor xd = x.detach();
  if (!empty_window) strided::copy(window(out, dst_start, len), window(xd, src_start, len));
  const Shape in_shape = x.shape();
  record("pad", {x}, {out}, [=](const std::vector<Tensor>& g, const std::vector<bool>&) {
    Tensor dx = zeros(in_shape, g[0].dtype(), g[0].device());
    if (!empty_window) strided::copy(window(dx, src_start, len), window(g[0], dst_start, len));
    return std::vector<Tensor>{dx};
  });
  return out;
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  check(weight.dim() == 2, "embedding: weight must be (V, D), got ", weight.shape());
  check_same_device("embedding", weight, indices);
  const int64_t V = weight.size(0), D = weight.size(1), n = indices.numel();
  const Tensor idx = index_i64("embedding", indices);  // (n)
  check_indices("embedding", idx, V, cat("an embedding table of V = ", V, " rows (weight ", weight.shape(), ")"));
  const Tensor w = weight.detach().contiguous();  // (V, D)
  Shape out_shape = indices.shape();
  out_shape.push_back(D);
  Tensor out = empty(out_shape, weight.dtype(), weight.device());  // (n, D)
  index_kernels(w).select_rows(w.device_raw_data(), elem_bytes(w), 1, V, D, idx.device_data<int64_t>(), n,
                               out.device_raw_data());
  record("embedding", {weight}, {out}, [idx, V, D, n](const std::vector<Tensor>& g, const std::vector<bool>&) {
    const Tensor dy = g[0].contiguous();  // (n, D)
    Tensor dw = zeros({V, D}, dy.dtype(), dy.device());
    dispatch_float(dy.dtype(), "embedding", [&](auto tag) {
      using T = decltype(tag);
      index_add_fns<T>(dy).add_rows(dw.device_data<T>(), 1, V, D, idx.device_data<int64_t>(), n, dy.device_data<T>());
    });
    return std::vector<Tensor>{dw};
  });
  return out;
}

Tensor gather(const Tensor& t, int64_t dim, const Tensor& index) {
  check(t.dim() >= 1, "gather: input must have at least 1 dim, got ", t.shape());
  const int64_t rank = t.dim(), d = wrap_dim(dim, rank, "gather");
  check(index.dim() == rank, "gather: index ", index.shape(), " must have the same number of dims as input ",
        t.shape());
  for (int64_t k = 0; k < rank; ++k)
    check(k == d || index.shape()[k] <= t.shape()[k], "gather: index ", index.shape(), " is larger than input ",
          t.shape(), " at dim ", k);
  check_same_device("gather", t, index);
  const Tensor idx = index_i64("gather", index);  // index.shape()
  check_indices("gather", idx, t.shape()[d], cat("dim ", d, " of size ", t.shape()[d], " (input ", t.shape(), ")"));
  const Tensor src = t.detach();  // any strides: the kernel reads through them
  Tensor out = empty(index.shape(), t.dtype(), t.device());
  index_kernels(src).gather_dim(src.device_raw_data(), elem_bytes(src), src.strides().data(),
                                idx.device_data<int64_t>(), idx.shape().data(), rank, d, out.device_raw_data());
  const Shape in_shape = t.shape();
  record("gather", {t, index}, {out}, [=](const std::vector<Tensor>& g, const std::vector<bool>&) {
    const Tensor dy = g[0].contiguous();  // index.shape()
    Tensor dt = zeros(in_shape, dy.dtype(), dy.device());
    dispatch_float(dy.dtype(), "gather", [&](auto tag) {
      using T = decltype(tag);
      index_add_fns<T>(dy).scatter_add(dt.device_data<T>(), dt.strides().data(), idx.device_data<int64_t>(),
                                       idx.shape().data(), rank, d, dy.device_data<T>());
    });
    return std::vector<Tensor>{dt, Tensor()};
  });
  return out;
}

Tensor index_select(const Tensor& t, int64_t dim, const Tensor& index) {
  check(t.dim() >= 1, "index_select: input must have at least 1 dim, got ", t.shape());
  check(index.dim() == 1, "index_select: index must be 1-D, got ", index.shape());
  const int64_t d = wrap_dim(dim, t.dim(), "index_select"), N = t.shape()[d], n = index.numel();
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < d; ++k) outer *= t.shape()[k];
  for (int64_t k = d + 1; k < t.dim(); ++k) inner *= t.shape()[k];
  check_same_device("index_select", t, index);
  const Tensor idx = index_i64("index_select", index);  // (n)
  check_indices("index_select", idx, N, cat("dim ", d, " of size ", N, " (input ", t.shape(), ")"));
  const Tensor src = t.detach().contiguous();  // (outer, N, inner)
  Shape out_shape = t.shape();
  out_shape[d] = n;
  Tensor out = empty(out_shape, t.dtype(), t.device());  // (outer, n, inner)
  index_kernels(src).select_rows(src.device_raw_data(), elem_bytes(src), outer, N, inner, idx.device_data<int64_t>(),
                                 n, out.device_raw_data());
  const Shape in_shape = t.shape();
  record("index_select", {t, index}, {out}, [=](const std::vector<Tensor>& g, const std::vector<bool>&) {
    const Tensor dy = g[0].contiguous();  // (outer, n, inner)
    Tensor dt = zeros(in_shape, dy.dtype(), dy.device());
    dispatch_float(dy.dtype(), "index_select", [&](auto tag) {
      using T = decltype(tag);
      index_add_fns<T>(dy).add_rows(dt.device_data<T>(), outer, N, inner, idx.device_data<int64_t>(), n,
                                    dy.device_data<T>());
    });
    return std::vector<Tensor>{dt, Tensor()};
  });
  return out;
}

}  // namespace hm
