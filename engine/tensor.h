// Tensor: shared storage + shape + strides + offset + dtype + device, and the autograd metadata
// (requires_grad, grad, the node that produced it). Views share storage (DESIGN.md 2).
//
// View methods (reshape, permute, transpose, slice, narrow, flip, expand, squeeze, unsqueeze) are differentiable
// and live here because they only move metadata; their backward passes are in engine/view.cpp. Arithmetic is in
// ops/ (free functions hm::add, hm::matmul, ...).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "engine/dtype.h"
#include "engine/error.h"

namespace hm {

using Shape = std::vector<int64_t>;
std::ostream& operator<<(std::ostream& os, const Shape& s);
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

struct Node;
class Tensor;
struct DeviceBackend;

class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  const DeviceBackend* backend_ = nullptr;  // null for host memory
};

struct Node;
class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  // autograd
  bool requires_grad = false;         // leaf flag, or "some input required grad" for non-leaves
  std::shared_ptr<Node> grad_fn;      // null for leaves
  int output_nr = 0;                  // which output of grad_fn this tensor is
  std::shared_ptr<TensorImpl> grad;   // accumulated gradient (leaves only)
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_cuda() const { return device().type == DeviceType::cuda; }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl* unsafe_impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // Typed host pointer to the first element (storage + offset). Checks the dtype and that the tensor lives in host
  // memory: a CPU kernel handed a device tensor fails here with a clear message instead of reading device memory.
  // The caller checks contiguity.
  template <class T>
  T* data() const {
    check(dtype() == dtype_of<T>::value, "Tensor::data: tensor is ", dtype(), " but ",
          dtype_name(dtype_of<T>::value), " was requested");
    check_host("Tensor::data");
    return static_cast<T*>(impl().storage->data()) + impl().offset;
  }
  void* raw_data() const {
    check_host("Tensor::raw_data");
    return device_raw_data();
  }
  // Pointer to the first element on whatever device the tensor lives (for device kernels; no device check).
  template <class T>
  T* device_data() const {
    return static_cast<T*>(device_raw_data());
  }
  void* device_raw_data() const {
    return static_cast<char*>(impl().storage->data()) + impl().offset * int64_t(dtype_size(dtype()));
  }

  // ---- autograd ----
  bool requires_grad() const { return defined() && impl().requires_grad; }
  Tensor& requires_grad_(bool on = true);  // leaves only
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  Tensor grad() const;                     // undefined when no gradient has been accumulated
  void zero_grad();                        // drops the accumulated gradient
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  // Reverse-mode sweep from this tensor. grad_output defaults to 1 for a one-element tensor.
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;  // shares storage, no autograd history

  // ---- views (share storage; differentiable) ----
  Tensor reshape(const Shape& new_shape) const;  // one -1 allowed; copies when the layout forbids a view
  Tensor view(const Shape& new_shape) const;     // like reshape but throws instead of copying
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;  // python-style bounds clamp
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops the dim
  Tensor flip(const std::vector<int64_t>& dims) const;
  Tensor expand(const Shape& new_shape) const;      // -1 keeps a size; size-1 dims broadcast with stride 0
  Tensor squeeze(int64_t d) const;
  Tensor unsqueeze(int64_t d) const;

  // ---- copies ----
  Tensor contiguous() const;  // self if already contiguous (differentiable)
  Tensor clone() const;       // always a fresh contiguous copy (differentiable)
  Tensor to(DType t) const;   // dtype conversion (differentiable between float types)
  Tensor to(Device d) const;  // copy to another device (differentiable); self when already there
  Tensor cpu() const { return to(Device::cpu()); }

  // ---- host access (tests, I/O, small things; device tensors are copied to the host first) ----
  double item() const;  // one-element tensors only
  template <class T>
  std::vector<T> to_vector() const;  // element values in row-major order, converted to T
  std::string str(int64_t max_elems = 16) const;

 private:
  void check_host(const char* what) const {
    if (impl().storage->device().type != DeviceType::cpu) [[unlikely]]
      throw_not_host(what);
  }
  [[noreturn]] void throw_not_host(const char* what) const;
  TensorImpl& impl() const {
    check(impl_ != nullptr, "use of an undefined (empty) Tensor");
    return *impl_;
  }
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Normalise a possibly negative dim against rank; throws naming `op` when out of range.
int64_t wrap_dim(int64_t d, int64_t rank, const char* op);

// ---- factories (host memory unless a device is given) ----
Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu());
Tensor arange(int64_t n, DType dtype = DType::i64);
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape);
Tensor from_doubles(const std::vector<double>& values, const Shape& shape, DType dtype = DType::f32);
Tensor scalar_tensor(double value, DType dtype = DType::f32);
Tensor zeros_like(const Tensor& t);  // same shape, dtype and device
Tensor empty_like(const Tensor& t);

// Make a view of `base`'s storage with new geometry (no autograd; used by view ops and kernels).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);

}  // namespace hm
