// View operations: new geometry over the same storage, and their backward passes.
#include <algorithm>
#include <numeric>

#include "engine/autograd.h"
#include "engine/strided.h"
#include "engine/tensor.h"

namespace hm {
namespace {

Shape infer_shape(const Shape& requested, int64_t numel, const Shape& from) {
  Shape s = requested;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      check(infer_at < 0, "reshape: only one -1 allowed in ", requested);
      infer_at = int64_t(i);
    } else {
      check(s[i] >= 0, "reshape: invalid size in ", requested);
      known *= s[i];
    }
  }
  if (infer_at >= 0) {
    check(known != 0 && numel % known == 0, "reshape: cannot reshape ", from, " into ", requested);
    s[infer_at] = numel / known;
  }
  check(shape_numel(s) == numel, "reshape: cannot reshape ", from, " (", numel, " elements) into ", requested);
  return s;
}

BackwardFn reshape_back(Shape in_shape) {
  return [in_shape](const std::vector<Tensor>& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g[0].reshape(in_shape)};
  };
}

}  // namespace

Tensor Tensor::view(const Shape& new_shape) const {
  const Shape s = infer_shape(new_shape, numel(), shape());
  check(is_contiguous(), "view: tensor of shape ", shape(), " with strides ", strides(),
        " is not contiguous; use reshape (which copies) or contiguous() first");
  Tensor out = make_view(*this, s, contiguous_strides(s), offset());
  record("reshape", {*this}, {out}, reshape_back(shape()));
  return out;
}

Tensor Tensor::reshape(const Shape& new_shape) const {
  if (is_contiguous()) return view(new_shape);
  return contiguous().view(new_shape);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const int64_t a = wrap_dim(start_dim, dim(), "flatten"), b = wrap_dim(end_dim, dim(), "flatten");
  check(a <= b, "flatten: start_dim ", start_dim, " after end_dim ", end_dim);
  Shape s(shape().begin(), shape().begin() + a);
  int64_t m = 1;
  for (int64_t d = a; d <= b; ++d) m *= shape()[d];
  s.push_back(m);
  s.insert(s.end(), shape().begin() + b + 1, shape().end());
  return reshape(s);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  check(int64_t(dims.size()) == dim(), "permute: got ", dims.size(), " dims for a tensor of rank ", dim());
  std::vector<int64_t> p(dims.size());
  std::vector<bool> used(dims.size(), false);
  Shape s(dims.size()), st(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    p[i] = wrap_dim(dims[i], dim(), "permute");
    check(!used[p[i]], "permute: dim ", dims[i], " repeated");
    used[p[i]] = true;
    s[i] = shape()[p[i]];
    st[i] = strides()[p[i]];
  }
  Tensor out = make_view(*this, s, st, offset());
  std::vector<int64_t> inverse(p.size());
  for (size_t i = 0; i < p.size(); ++i) inverse[p[i]] = int64_t(i);
  record("permute", {*this}, {out}, [inverse](const std::vector<Tensor>& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g[0].permute(inverse)};
  });
  return out;
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  std::vector<int64_t> p(dim());
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[wrap_dim(d0, dim(), "transpose")], p[wrap_dim(d1, dim(), "transpose")]);
  return permute(p);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, dim(), "slice");
  check(step >= 1, "slice: step must be positive, got ", step);
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape(), st = strides();
  s[d] = (end - start + step - 1) / step;
  st[d] *= step;
  Tensor out = make_view(*this, s, st, offset() + start * strides()[d]);
  const Shape in_shape = shape();
  const DType dt = dtype();
  const Device dev = device();
  record("slice", {*this}, {out}, [=](const std::vector<Tensor>& g, const std::vector<bool>&) {
    Tensor gin = zeros(in_shape, dt, dev);
    strided::copy(gin.slice(d, start, end, step), g[0]);
    return std::vector<Tensor>{gin};
  });
  return out;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  check(start >= 0 && length >= 0 && start + length <= shape()[d], "narrow: [", start, ", ", start + length,
        ") out of range for dim ", d, " of size ", shape()[d], " in shape ", shape());
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  const int64_t n = shape()[d];
  check(index >= -n && index < n, "select: index ", index, " out of range for dim ", d, " of size ", n);
  if (index < 0) index += n;
  return slice(d, index, index + 1).squeeze(d);
}

Tensor Tensor::flip(const std::vector<int64_t>& dims) const {
  Shape st = strides();
  int64_t off = offset();
  std::vector<int64_t> wrapped;
  for (int64_t d0 : dims) {
    const int64_t d = wrap_dim(d0, dim(), "flip");
    wrapped.push_back(d);
    if (shape()[d] == 0) continue;
    off += (shape()[d] - 1) * st[d];
    st[d] = -st[d];
  }
  Tensor out = make_view(*this, shape(), st, off);
  record("flip", {*this}, {out}, [wrapped](const std::vector<Tensor>& g, const std::vector<bool>&) {
    return std::vector<Tensor>{g[0].flip(wrapped)};
  });
  return out;
}

Tensor Tensor::expand(const Shape& new_shape) const {
  const int64_t lead = int64_t(new_shape.size()) - dim();
  check(lead >= 0, "expand: cannot expand ", shape(), " to fewer dims ", new_shape);
  Shape s(new_shape.size()), st(new_shape.size(), 0);
  for (int64_t i = 0; i < int64_t(new_shape.size()); ++i) {
    if (i < lead) {
      check(new_shape[i] >= 0, "expand: size -1 not allowed for new leading dim in ", new_shape);
      s[i] = new_shape[i];
      continue;
    }
    const int64_t have = shape()[i - lead];
    const int64_t want = new_shape[i] == -1 ? have : new_shape[i];
    check(have == want || have == 1, "expand: size ", have, " at dim ", i - lead, " of ", shape(),
          " cannot expand to ", want, " (target ", new_shape, ")");
    s[i] = want;
    st[i] = (have == want) ? strides()[i - lead] : 0;
  }
  Tensor out = make_view(*this, s, st, offset());
  const Shape in_shape = shape();
  record("expand", {*this}, {out}, [in_shape](const std::vector<Tensor>& g, const std::vector<bool>&) {
    return std::vector<Tensor>{strided::sum_to(g[0], in_shape)};
  });
  return out;
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  check(shape()[d] == 1, "squeeze: dim ", d, " of ", shape(), " has size ", shape()[d], ", not 1");
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(*this, s, st, offset());
  record("squeeze", {*this}, {out}, reshape_back(shape()));
  return out;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  const int64_t stride = d < dim() ? strides()[d] * shape()[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  Tensor out = make_view(*this, s, st, offset());
  record("unsqueeze", {*this}, {out}, reshape_back(shape()));
  return out;
}

}  // namespace hm
