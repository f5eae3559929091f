// Registers the CUDA device backend with the engine (engine/device.h): the caching allocator, host<->device copies
// and the layout-generic loops of cuda/strided.cu. Compiled only with -DHUBMAMBA_CUDA=ON (CMakeLists.txt compiles
// ops/*_cuda.cpp only then), so a CPU-only build never mentions CUDA outside cuda/.
#include "cuda/runtime.h"
#include "cuda/strided.h"
#include "engine/device.h"
#include "engine/tensor.h"

namespace hm {
namespace {

// Number of dims left after merging dims contiguous in both layouts and dropping size-1 dims.
int merged_rank(const Shape& shape, const Shape& dst_strides, const Shape& src_strides) {
  int rank = 0;
  int64_t prev_a = 0, prev_b = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    const bool merges = rank > 0 && prev_a == dst_strides[d] * shape[d] && prev_b == src_strides[d] * shape[d];
    if (!merges) ++rank;
    prev_a = dst_strides[d], prev_b = src_strides[d];
  }
  return rank;
}

// The sub-tensor at index i of dim 0 (a view without autograd).
Tensor slice0(const Tensor& t, int64_t i) {
  const Shape shape(t.shape().begin() + 1, t.shape().end()), strides(t.strides().begin() + 1, t.strides().end());
  return make_view(t, shape, strides, t.offset() + i * t.strides()[0]);
}

// Layouts of more than kMaxRank non-mergeable dims (rare: broadcasts of 9+ dims) are handled one dim-0 slice at a
// time, recursively, so the kernels keep a fixed-size layout.
template <class F>
bool split_if_too_deep(const Tensor& dst, const Tensor& src, F&& per_slice) {
  if (merged_rank(dst.shape(), dst.strides(), src.strides()) <= cuda::kMaxRank) return false;
  for (int64_t i = 0; i < dst.shape()[0]; ++i) per_slice(slice0(dst, i), slice0(src, i));
  return true;
}

// Merge dims that are contiguous in both layouts and drop size-1 dims, so that most copies become rank 1-3.
cuda::Layout make_layout(const Shape& shape, const Shape& dst_strides, const Shape& src_strides, const char* what) {
  std::vector<int64_t> s, a, b;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!s.empty() && a.back() == dst_strides[d] * shape[d] && b.back() == src_strides[d] * shape[d]) {
      s.back() *= shape[d];
      a.back() = dst_strides[d];
      b.back() = src_strides[d];
    } else {
      s.push_back(shape[d]);
      a.push_back(dst_strides[d]);
      b.push_back(src_strides[d]);
    }
  }
  check(int(s.size()) <= cuda::kMaxRank, what, ": layout of shape ", shape, " has ", s.size(),
        " non-mergeable dims; the CUDA strided kernels take at most ", cuda::kMaxRank);
  cuda::Layout l;
  l.rank = int(s.size());
  for (int d = 0; d < l.rank; ++d) l.shape[d] = s[d], l.dst_strides[d] = a[d], l.src_strides[d] = b[d];
  return l;
}

void copy(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  if (split_if_too_deep(dst, src, [](const Tensor& d, const Tensor& s) { copy(d, s); })) return;
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    cuda::copy_device(dst.device_raw_data(), src.device_raw_data(), size_t(dst.numel()) * dtype_size(dst.dtype()));
    return;
  }
  cuda::strided_copy(dst.device_raw_data(), dst.dtype(), src.device_raw_data(), src.dtype(),
                     make_layout(dst.shape(), dst.strides(), src.strides(), "copy"));
}

void fill(const Tensor& dst, double value) {
  if (dst.numel() == 0) return;
  if (split_if_too_deep(dst, dst, [value](const Tensor& d, const Tensor&) { fill(d, value); })) return;
  cuda::strided_fill(dst.device_raw_data(), dst.dtype(), value,
                     make_layout(dst.shape(), dst.strides(), dst.strides(), "fill"));
}

void add_inplace(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  if (split_if_too_deep(dst, src, [](const Tensor& d, const Tensor& s) { add_inplace(d, s); })) return;
  cuda::strided_add(dst.device_raw_data(), src.device_raw_data(), dst.dtype(),
                    make_layout(dst.shape(), dst.strides(), src.strides(), "add_inplace"));
}

void sum_to(const Tensor& out, const Tensor& src) {
  // No dim merging here: which dims are reduced must stay visible. Rank is that of src; deeper layouts go one
  // dim-0 slice at a time (the kernel accumulates into out, so a reduced dim 0 sums its slices into one).
  if (src.dim() > cuda::kMaxRank) {
    const bool reduced = out.shape()[0] == 1 && src.shape()[0] != 1;
    for (int64_t i = 0; i < src.shape()[0]; ++i) sum_to(slice0(out, reduced ? 0 : i), slice0(src, i));
    return;
  }
  cuda::Layout l;
  l.rank = int(src.dim());
  for (int d = 0; d < l.rank; ++d) l.shape[d] = src.shape()[d], l.src_strides[d] = src.strides()[d];
  cuda::sum_to(out.device_raw_data(), out.shape().data(), src.device_raw_data(), src.dtype(), l);
}

AllocatorStats stats() { return cuda::allocator_stats(); }

const bool kRegistered = [] {
  DeviceBackend b;
  b.name = "CUDA";
  b.available = &cuda::available;
  b.allocate = &cuda::scratch;
  b.deallocate = &cuda::release;
  b.copy_from_host = &cuda::copy_from_host;
  b.copy_to_host = &cuda::copy_to_host;
  b.copy = &copy;
  b.fill = &fill;
  b.add_inplace = &add_inplace;
  b.sum_to = &sum_to;
  b.stats = &stats;
  b.synchronize = &cuda::synchronize;
  register_device_backend(DeviceType::cuda, b);
  return true;
}();

}  // namespace
}  // namespace hm
