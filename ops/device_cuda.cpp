// Registers the CUDA device backend with the engine (engine/device.h): the caching allocator, host<->device copies
// and the layout-generic loops of cuda/strided.cu. Compiled only with -DHUBMAMBA_CUDA=ON (CMakeLists.txt compiles
// ops/*_cuda.cpp only then), so a CPU-only build never mentions CUDA outside cuda/.
#include "cuda/runtime.h"
#include "cuda/strided.h"
#include "engine/device.h"
#include "engine/tensor.h"

namespace hm {
namespace {

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
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    cuda::copy_device(dst.device_raw_data(), src.device_raw_data(), size_t(dst.numel()) * dtype_size(dst.dtype()));
    return;
  }
  cuda::strided_copy(dst.device_raw_data(), dst.dtype(), src.device_raw_data(), src.dtype(),
                     make_layout(dst.shape(), dst.strides(), src.strides(), "copy"));
}

void fill(const Tensor& dst, double value) {
  cuda::strided_fill(dst.device_raw_data(), dst.dtype(), value,
                     make_layout(dst.shape(), dst.strides(), dst.strides(), "fill"));
}

void add_inplace(const Tensor& dst, const Tensor& src) {
  cuda::strided_add(dst.device_raw_data(), src.device_raw_data(), dst.dtype(),
                    make_layout(dst.shape(), dst.strides(), src.strides(), "add_inplace"));
}

void sum_to(const Tensor& out, const Tensor& src) {
  // No dim merging here: which dims are reduced must stay visible. Rank is that of src.
  check(src.dim() <= cuda::kMaxRank, "sum_to: rank ", src.dim(), " exceeds ", cuda::kMaxRank, " on CUDA");
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
