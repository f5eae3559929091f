#include "engine/tensor.h"

#include <cstring>
#include <iomanip>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/strided.h"

namespace hm {

std::ostream& operator<<(std::ostream& os, const Shape& s) {
  os << '(';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ',';
  return os << ')';
}

std::string shape_str(const Shape& s) { return cat(s); }

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = int64_t(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

int64_t wrap_dim(int64_t d, int64_t rank, const char* op) {
  const int64_t r = std::max<int64_t>(rank, 1);
  check(d >= -r && d < r, op, ": dim ", d, " out of range for a tensor of rank ", rank);
  return d < 0 ? d + r : d;
}

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.type == DeviceType::cpu) {
    data_ = cpu_allocator::allocate(nbytes);
  } else {
    backend_ = &device_backend(device);
    data_ = backend_->allocate(nbytes);
  }
}

Storage::~Storage() {
  if (backend_)
    backend_->deallocate(data_, nbytes_);
  else
    cpu_allocator::deallocate(data_, nbytes_);
}

void Tensor::throw_not_host(const char* what) const {
  throw Error(cat(what, ": the tensor of shape ", shape(), " lives on ", device(),
                  " but host memory was requested (a CPU kernel was handed a device tensor: this op has no path for ",
                  device(), " yet, or an operand was not moved with .to(device))"));
}

int64_t Tensor::size(int64_t d) const {
  // wrap_dim accepts dim 0 of a scalar (as torch does for most ops), but a scalar has no sizes to read.
  check(dim() > 0, "Tensor::size: tensor is a scalar (shape ()), it has no dim ", d);
  return shape()[wrap_dim(d, dim(), "Tensor::size")];
}

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // nothing to lay out (torch agrees); the stride check below would reject (5, 0)
  const Shape& s = shape();
  const Shape& st = strides();
  int64_t expected = 1;
  for (int64_t i = int64_t(s.size()) - 1; i >= 0; --i) {
    if (s[i] != 1 && st[i] != expected) return false;
    expected *= s[i];
  }
  return true;
}

Tensor& Tensor::requires_grad_(bool on) {
  // (check() evaluates its message parts eagerly, so the node name must not be read when there is no node.)
  check(is_leaf(), "requires_grad_: only leaf tensors can change requires_grad (this one comes from ",
        is_leaf() ? std::string() : grad_fn()->name, ")");
  check(!on || is_floating(dtype()), "requires_grad_: only floating tensors can require gradients, got ",
        dtype());
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::zero_grad() { impl().grad.reset(); }

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  run_backward({*this}, {grad_output}, retain_graph);
}

Tensor Tensor::detach() const {
  auto p = std::make_shared<TensorImpl>();
  p->storage = impl().storage;
  p->shape = shape();
  p->strides = strides();
  p->offset = offset();
  p->dtype = dtype();
  return Tensor(p);
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto p = std::make_shared<TensorImpl>();
  p->storage = base.storage();
  p->shape = std::move(shape);
  p->strides = std::move(strides);
  p->offset = offset;
  p->dtype = base.dtype();
  return Tensor(p);
}

Tensor empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) check(d >= 0, "empty: negative size in shape ", shape);
  auto p = std::make_shared<TensorImpl>();
  p->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), device);
  p->shape = shape;
  p->strides = contiguous_strides(shape);
  p->dtype = dtype;
  return Tensor(p);
}

Tensor zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device.type == DeviceType::cpu)
    std::memset(t.raw_data(), 0, size_t(t.numel()) * dtype_size(dtype));
  else
    strided::fill(t, 0.0);
  return t;
}

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  strided::fill(t, value);
  return t;
}

Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

Tensor arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, dtype);
  dispatch_all(dtype, "arange", [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(i);
  });
  return t;
}

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
  check(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
        " values do not fill shape ", shape);
  Tensor t = empty(shape, dtype_of<T>::value);
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, const Shape&);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&);
template Tensor from_vector<uint8_t>(const std::vector<uint8_t>&, const Shape&);

Tensor from_doubles(const std::vector<double>& values, const Shape& shape, DType dtype) {
  return from_vector(values, shape).to(dtype);
}

Tensor scalar_tensor(double value, DType dtype) { return full({}, value, dtype); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  strided::copy(out, *this);
  record("clone", {*this}, {out}, [](const std::vector<Tensor>& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g[0]};
  });
  return out;
}

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  Tensor out = empty(shape(), t, device());
  strided::copy(out, *this);
  if (is_floating(t) && is_floating(dtype())) {
    const DType from = dtype();
    record("to", {*this}, {out}, [from](const std::vector<Tensor>& g, const std::vector<bool>&) {
      return std::vector<Tensor>{g[0].to(from)};
    });
  }
  return out;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor out = empty(shape(), dtype(), d);
  strided::copy(out, *this);  // crosses devices (engine/strided.cpp)
  const Device from = device();
  record("to_device", {*this}, {out}, [from](const std::vector<Tensor>& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g[0].to(from)};
  });
  return out;
}

double Tensor::item() const {
  check(numel() == 1, "item: tensor of shape ", shape(), " has ", numel(), " elements, expected 1");
  if (device().type != DeviceType::cpu) return detach().cpu().item();
  return dispatch_all(dtype(), "item", [&](auto tag) {
    using T = decltype(tag);
    return double(static_cast<const T*>(storage()->data())[offset()]);
  });
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  if (device().type != DeviceType::cpu) return detach().cpu().to_vector<T>();
  Tensor c = contiguous().to(dtype_of<T>::value);
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

std::string Tensor::str(int64_t max_elems) const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(shape=" << shape() << ", dtype=" << dtype();
  if (device().type != DeviceType::cpu) os << ", device=" << device();
  os << ", values=[";
  NoGradGuard no_grad;
  const std::vector<double> v = detach().to_vector<double>();
  for (int64_t i = 0; i < std::min<int64_t>(max_elems, int64_t(v.size())); ++i)
    os << (i ? ", " : "") << std::setprecision(6) << v[i];
  if (int64_t(v.size()) > max_elems) os << ", ...";
  os << "])";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace hm
