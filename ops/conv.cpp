// conv1d / conv2d / weight_norm: argument checks, kernel-variant choice, tape records (ops/conv.h).
// Backward formulas (cpu/conv.h): dx = conv_transpose(dy, w), dw = sum_b dy (x) im2col(x), db = sum_{b,t} dy.
#include "ops/conv.h"

#include <type_traits>

#include "engine/autocast.h"
#include "engine/autograd.h"

namespace hm {

KernelTable<cpu::Conv1dVariant>& conv1d_dense_table() {
  static KernelTable<cpu::Conv1dVariant> t("conv1d_dense");
  return t;
}
KernelTable<cpu::Conv1dVariant>& conv1d_depthwise_table() {
  static KernelTable<cpu::Conv1dVariant> t("conv1d_depthwise");
  return t;
}
KernelTable<cpu::Conv2dVariant>& conv2d_table() {
  static KernelTable<cpu::Conv2dVariant> t("conv2d");
  return t;
}
KernelTable<WeightNormVariant>& weight_norm_table() {
  static KernelTable<WeightNormVariant> t("weight_norm");
  return t;
}
// The CUDA tables exist in every build; ops/conv_cuda.cpp fills them when CUDA is on.
KernelTable<ConvCudaFns>& conv1d_dense_cuda_table() {
  static KernelTable<ConvCudaFns> t("conv1d_dense", DeviceType::cuda);
  return t;
}
KernelTable<ConvCudaFns>& conv1d_depthwise_cuda_table() {
  static KernelTable<ConvCudaFns> t("conv1d_depthwise", DeviceType::cuda);
  return t;
}
KernelTable<ConvCudaFns>& conv2d_cuda_table() {
  static KernelTable<ConvCudaFns> t("conv2d", DeviceType::cuda);
  return t;
}
KernelTable<WeightNormCudaFns>& weight_norm_cuda_table() {
  static KernelTable<WeightNormCudaFns> t("weight_norm", DeviceType::cuda);
  return t;
}

namespace {

const bool kRegisteredKernels = [] {
  conv1d_dense_table().add("scalar", cpu::conv1d_scalar(), 0);
  conv1d_dense_table().add("im2col_blas", cpu::conv1d_im2col_blas(), 10);
  conv1d_depthwise_table().add("scalar", cpu::conv1d_scalar(), 0);
  conv1d_depthwise_table().add("highway", cpu::conv1d_depthwise_highway(), 10);
  conv2d_table().add("scalar", cpu::conv2d_scalar(), 0);
  conv2d_table().add("im2col_blas", cpu::conv2d_im2col_blas(), 10);
  weight_norm_table().add("scalar",
                          {{cpu::weight_norm_forward<float>, cpu::weight_norm_backward<float>},
                           {cpu::weight_norm_forward<double>, cpu::weight_norm_backward<double>}},
                          0);
  return true;
}();

const OpRegistrar kRegisteredOps{"conv1d", "conv2d", "weight_norm"};

// The f32 or f64 half of a variant.
template <class T, class Variant>
const auto& kernels_for(const Variant& v) {
  if constexpr (std::is_same_v<T, float>)
    return v.f32;
  else
    return v.f64;
}

template <class T>
T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// A detached contiguous copy (or alias) for the kernels; the op records the original tensors on the tape.
Tensor plain(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

void check_common(const char* op, const Tensor& x, const Tensor& w, const Tensor& bias, int64_t rank,
                  const char* x_layout, const char* w_layout) {
  check(x.defined() && w.defined(), op, ": x and w must be defined");
  check(x.dim() == rank, op, ": expected x of rank ", rank, " ", x_layout, ", got shape ", x.shape());
  check(w.dim() == rank, op, ": expected w of rank ", rank, " ", w_layout, ", got shape ", w.shape());
  if (x.is_cuda())
    check(x.dtype() == DType::f32 || x.dtype() == DType::f64 || x.dtype() == DType::bf16, op,
          ": expected a float32, float64 or bfloat16 x on ", x.device(), ", got ", x.dtype());
  else
    check(x.dtype() == DType::f32 || x.dtype() == DType::f64, op, ": expected a float32 or float64 x, got ", x.dtype(),
          x.dtype() == DType::bf16 ? " (bfloat16 convolutions run on CUDA only)" : "");
  check(w.dtype() == x.dtype(), op, ": dtype mismatch: x is ", x.dtype(), " but w is ", w.dtype());
  check(x.device() == w.device(), op, ": x is on ", x.device(), " but w is on ", w.device());
  if (bias.defined()) {
    check(bias.device() == x.device(), op, ": x is on ", x.device(), " but bias is on ", bias.device());
    check(bias.dtype() == x.dtype(), op, ": dtype mismatch: x is ", x.dtype(), " but bias is ", bias.dtype());
    check(bias.dim() == 1 && bias.size(0) == w.size(0), op, ": bias must have shape (", w.size(0), ",) to match w ",
          w.shape(), ", got ", bias.shape());
  }
  check(w.size(0) >= 1, op, ": w ", w.shape(), " has no output channels");
}

// ---- CUDA path: the same function through a device kernel table (ops/conv_cuda.cpp) -------------------------

cuda::Precision cuda_precision(DType t, const char* op) {
  switch (t) {
    case DType::f32: return cuda::Precision::f32;
    case DType::f64: return cuda::Precision::f64;
    case DType::bf16: return cuda::Precision::bf16;
    default: throw Error(cat(op, ": unsupported dtype ", t, " on CUDA"));
  }
}

// Device pointers of contiguous CUDA tensors (null for an undefined tensor: an absent bias or gradient).
const void* cptr(const Tensor& t) { return t.defined() ? t.device_raw_data() : nullptr; }
void* mptr(const Tensor& t) { return t.defined() ? t.device_raw_data() : nullptr; }

// conv1d / conv2d on CUDA: x (B, Cin, [H,] W) -> y of shape y_shape. Saved context as on the CPU: x only when w
// needs a gradient, w only when x does. The variant is fixed at forward time so backward runs the same algorithm.
Tensor conv_cuda(const char* op, const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in,
                 const cuda::ConvGeom& g, const ConvCudaFns& k, const Shape& y_shape) {
  const cuda::Precision p = cuda_precision(x_in.dtype(), op);
  const Tensor x = plain(x_in), w = plain(w_in), bias = plain(bias_in);
  const Device dev = x.device();
  const DType dt = x.dtype();
  Tensor y = empty(y_shape, dt, dev);  // (B, Cout, [Hout,] Wout)
  k.forward(g, p, cptr(x), cptr(w), cptr(bias), mptr(y));

  const Tensor x_saved = w_in.requires_grad() ? x : Tensor();
  const Tensor w_saved = x_in.requires_grad() ? w : Tensor();
  record(op, {x_in, w_in, bias_in}, {y},
         [g, k, p, dt, dev, x_shape = x.shape(), w_shape = w.shape(), x_saved, w_saved](
             const std::vector<Tensor>& grads, const std::vector<bool>& needs) {
           const Tensor dy = grads[0].to(dt).contiguous();  // (B, Cout, [Hout,] Wout)
           std::vector<Tensor> out(3);
           if (needs[0]) {
             out[0] = empty(x_shape, dt, dev);
             k.backward_input(g, p, cptr(dy), cptr(w_saved), mptr(out[0]));
           }
           if (needs[2]) out[2] = empty({g.Cout}, dt, dev);
           if (needs[1]) {
             out[1] = empty(w_shape, dt, dev);
             k.backward_weight(g, p, cptr(dy), cptr(x_saved), mptr(out[1]), mptr(out[2]));
           } else if (needs[2]) {
             k.backward_bias(p, cptr(dy), g.B, g.Cout, g.Hout * g.Wout, mptr(out[2]));
           }
           return out;
         });
  return y;
}

}  // namespace

int64_t conv1d_output_length(int64_t L, int64_t K, const Conv1dParams& p) {
  const int64_t span = L + p.padding_left + p.padding_right - p.dilation * (K - 1) - 1;
  return span < 0 ? 0 : span / p.stride + 1;
}

Tensor conv1d(const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in, const Conv1dParams& p) {
  check_common("conv1d", x_in, w_in, bias_in, 3, "(B, Cin, L)", "(Cout, Cin/groups, K)");
  if (autocast_applies(x_in)) {  // bf16 autocast (engine/autocast.h): compute in bf16, hand back f32
    const DType lo = autocast_dtype();
    return conv1d(x_in.to(lo), w_in.to(lo), bias_in.defined() ? bias_in.to(lo) : Tensor(), p).to(DType::f32);
  }
  check(p.stride >= 1 && p.dilation >= 1 && p.groups >= 1 && p.padding_left >= 0 && p.padding_right >= 0,
        "conv1d: need stride >= 1, dilation >= 1, groups >= 1 and padding >= 0; got stride ", p.stride, ", dilation ",
        p.dilation, ", groups ", p.groups, ", padding ", p.padding_left, "/", p.padding_right);
  const int64_t B = x_in.size(0), Cin = x_in.size(1), L = x_in.size(2);
  const int64_t Cout = w_in.size(0), K = w_in.size(2);
  check(Cin % p.groups == 0, "conv1d: groups ", p.groups, " does not divide the input channels ", Cin, " of x ",
        x_in.shape());
  check(Cout % p.groups == 0, "conv1d: groups ", p.groups, " does not divide the output channels ", Cout, " of w ",
        w_in.shape());
  check(w_in.size(1) * p.groups == Cin, "conv1d: channel mismatch: x ", x_in.shape(), " has ", Cin,
        " input channels but w ", w_in.shape(), " with groups ", p.groups, " expects ", w_in.size(1) * p.groups);
  check(K >= 1, "conv1d: kernel size must be >= 1, got w ", w_in.shape());
  const int64_t padded = L + p.padding_left + p.padding_right, effective = p.dilation * (K - 1) + 1;
  check(padded >= effective, "conv1d: input length ", padded, " (after padding) is shorter than the effective kernel ",
        effective, " (x ", x_in.shape(), ", w ", w_in.shape(), ", dilation ", p.dilation, ", padding ", p.padding_left,
        "/", p.padding_right, ")");

  cpu::Conv1dGeom g;
  g.B = B, g.Cin = Cin, g.L = L, g.Cout = Cout, g.K = K, g.Lout = conv1d_output_length(L, K, p);
  g.stride = p.stride, g.pad_left = p.padding_left, g.dilation = p.dilation, g.groups = p.groups;
  const bool depthwise = p.groups == Cin && Cout == Cin;
  if (x_in.is_cuda()) {
    cuda::ConvGeom cg;  // the H = 1 case: (B, Cin, 1, L)
    cg.B = B, cg.Cin = Cin, cg.W = L, cg.Cout = Cout, cg.KW = K, cg.Wout = g.Lout;
    cg.stride_w = p.stride, cg.pad_w = p.padding_left, cg.dilation_w = p.dilation, cg.groups = p.groups;
    const ConvCudaFns k = depthwise ? conv1d_depthwise_cuda_table().get() : conv1d_dense_cuda_table().get();
    return conv_cuda("conv1d", x_in, w_in, bias_in, cg, k, {B, Cout, g.Lout});
  }
  // The variant is fixed at forward time so the backward pass runs the same algorithm.
  const cpu::Conv1dVariant variant = depthwise ? conv1d_depthwise_table().get() : conv1d_dense_table().get();

  const Tensor x = plain(x_in), w = plain(w_in), bias = plain(bias_in);
  Tensor y = empty({B, Cout, g.Lout}, x.dtype());  // (B, Cout, Lout)
  dispatch_float(x.dtype(), "conv1d", [&](auto tag) {
    using T = decltype(tag);
    kernels_for<T>(variant).forward(g, x.data<T>(), w.data<T>(), ptr_or_null<T>(bias), y.data<T>());
  });

  // Saved context: x only when w needs a gradient, w only when x does.
  const Tensor x_saved = w_in.requires_grad() ? x : Tensor();
  const Tensor w_saved = x_in.requires_grad() ? w : Tensor();
  record("conv1d", {x_in, w_in, bias_in}, {y},
         [g, variant, x_saved, w_saved](const std::vector<Tensor>& grads, const std::vector<bool>& needs) {
           const Tensor dy = grads[0].contiguous();  // (B, Cout, Lout)
           std::vector<Tensor> out(3);
           dispatch_float(dy.dtype(), "conv1d backward", [&](auto tag) {
             using T = decltype(tag);
             const auto& k = kernels_for<T>(variant);
             if (needs[0]) {
               out[0] = empty({g.B, g.Cin, g.L}, dy.dtype());
               k.backward_input(g, dy.data<T>(), w_saved.data<T>(), out[0].data<T>());
             }
             if (needs[2]) out[2] = empty({g.Cout}, dy.dtype());
             if (needs[1]) {
               out[1] = empty({g.Cout, g.cin_g(), g.K}, dy.dtype());
               k.backward_weight(g, dy.data<T>(), x_saved.data<T>(), out[1].data<T>(), ptr_or_null<T>(out[2]));
             } else if (needs[2]) {
               cpu::conv_bias_grad(dy.data<T>(), g.B, g.Cout, g.Lout, out[2].data<T>());
             }
           });
           return out;
         });
  return y;
}

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in, const Conv2dParams& p) {
  check_common("conv2d", x_in, w_in, bias_in, 4, "(B, Cin, H, W)", "(Cout, Cin, KH, KW)");
  if (autocast_applies(x_in)) {
    const DType lo = autocast_dtype();
    return conv2d(x_in.to(lo), w_in.to(lo), bias_in.defined() ? bias_in.to(lo) : Tensor(), p).to(DType::f32);
  }
  check(p.stride_h >= 1 && p.stride_w >= 1 && p.dilation_h >= 1 && p.dilation_w >= 1 && p.padding_h >= 0 &&
            p.padding_w >= 0,
        "conv2d: need stride >= 1, dilation >= 1 and padding >= 0; got stride (", p.stride_h, ", ", p.stride_w,
        "), dilation (", p.dilation_h, ", ", p.dilation_w, "), padding (", p.padding_h, ", ", p.padding_w, ")");
  cpu::Conv2dGeom g;
  g.B = x_in.size(0), g.Cin = x_in.size(1), g.H = x_in.size(2), g.W = x_in.size(3);
  g.Cout = w_in.size(0), g.KH = w_in.size(2), g.KW = w_in.size(3);
  check(w_in.size(1) == g.Cin, "conv2d: channel mismatch: x ", x_in.shape(), " has ", g.Cin, " input channels but w ",
        w_in.shape(), " expects ", w_in.size(1), " (only groups = 1 is supported)");
  check(g.KH >= 1 && g.KW >= 1, "conv2d: kernel size must be >= 1, got w ", w_in.shape());
  const int64_t ph = g.H + 2 * p.padding_h, pw = g.W + 2 * p.padding_w;
  const int64_t eh = p.dilation_h * (g.KH - 1) + 1, ew = p.dilation_w * (g.KW - 1) + 1;
  check(ph >= eh && pw >= ew, "conv2d: input size (", ph, ", ", pw,
        ") (after padding) is smaller than the effective kernel (", eh, ", ", ew, ") (x ", x_in.shape(), ", w ",
        w_in.shape(), ")");
  g.Hout = (ph - eh) / p.stride_h + 1, g.Wout = (pw - ew) / p.stride_w + 1;
  g.stride_h = p.stride_h, g.stride_w = p.stride_w, g.pad_h = p.padding_h, g.pad_w = p.padding_w;
  g.dilation_h = p.dilation_h, g.dilation_w = p.dilation_w;
  if (x_in.is_cuda()) {
    cuda::ConvGeom cg;
    cg.B = g.B, cg.Cin = g.Cin, cg.H = g.H, cg.W = g.W, cg.Cout = g.Cout, cg.KH = g.KH, cg.KW = g.KW;
    cg.Hout = g.Hout, cg.Wout = g.Wout, cg.stride_h = g.stride_h, cg.stride_w = g.stride_w;
    cg.pad_h = g.pad_h, cg.pad_w = g.pad_w, cg.dilation_h = g.dilation_h, cg.dilation_w = g.dilation_w;
    return conv_cuda("conv2d", x_in, w_in, bias_in, cg, conv2d_cuda_table().get(), {g.B, g.Cout, g.Hout, g.Wout});
  }
  const cpu::Conv2dVariant variant = conv2d_table().get();

  const Tensor x = plain(x_in), w = plain(w_in), bias = plain(bias_in);
  Tensor y = empty({g.B, g.Cout, g.Hout, g.Wout}, x.dtype());  // (B, Cout, Hout, Wout)
  dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    kernels_for<T>(variant).forward(g, x.data<T>(), w.data<T>(), ptr_or_null<T>(bias), y.data<T>());
  });

  const Tensor x_saved = w_in.requires_grad() ? x : Tensor();
  const Tensor w_saved = x_in.requires_grad() ? w : Tensor();
  record("conv2d", {x_in, w_in, bias_in}, {y},
         [g, variant, x_saved, w_saved](const std::vector<Tensor>& grads, const std::vector<bool>& needs) {
           const Tensor dy = grads[0].contiguous();  // (B, Cout, Hout, Wout)
           std::vector<Tensor> out(3);
           dispatch_float(dy.dtype(), "conv2d backward", [&](auto tag) {
             using T = decltype(tag);
             const auto& k = kernels_for<T>(variant);
             if (needs[0]) {
               out[0] = empty({g.B, g.Cin, g.H, g.W}, dy.dtype());
               k.backward_input(g, dy.data<T>(), w_saved.data<T>(), out[0].data<T>());
             }
             if (needs[2]) out[2] = empty({g.Cout}, dy.dtype());
             if (needs[1]) {
               out[1] = empty({g.Cout, g.Cin, g.KH, g.KW}, dy.dtype());
               k.backward_weight(g, dy.data<T>(), x_saved.data<T>(), out[1].data<T>(), ptr_or_null<T>(out[2]));
             } else if (needs[2]) {
               cpu::conv_bias_grad(dy.data<T>(), g.B, g.Cout, g.Hout * g.Wout, out[2].data<T>());
             }
           });
           return out;
         });
  return y;
}

namespace {

// weight_norm on CUDA (f32/f64; the dtype was checked by the caller): the same saved context as on the CPU.
Tensor weight_norm_cuda(const Tensor& v_in, const Tensor& g_in, const Tensor& v, const Tensor& gv, int64_t outer,
                        int64_t D, int64_t inner) {
  const WeightNormCudaFns k = weight_norm_cuda_table().get();
  const cuda::Precision p = cuda_precision(v.dtype(), "weight_norm");
  Tensor w = empty(v.shape(), v.dtype(), v.device());  // like v
  Tensor norm = empty({D}, v.dtype(), v.device());     // (D,) ||v|| per index of `dim`
  k.forward(p, cptr(v), cptr(gv), outer, D, inner, mptr(w), mptr(norm));
  record("weight_norm", {v_in, g_in}, {w},
         [k, p, v, gv, norm, outer, D, inner](const std::vector<Tensor>& grads, const std::vector<bool>& needs) {
           const Tensor dw = grads[0].to(v.dtype()).contiguous();  // like v
           std::vector<Tensor> out(2);
           if (needs[0]) out[0] = empty(v.shape(), v.dtype(), v.device());
           if (needs[1]) out[1] = empty(gv.shape(), v.dtype(), v.device());
           k.backward(p, cptr(dw), cptr(v), cptr(gv), cptr(norm), outer, D, inner, mptr(out[0]), mptr(out[1]));
           return out;
         });
  return w;
}

}  // namespace

Tensor weight_norm(const Tensor& v_in, const Tensor& g_in, int64_t dim) {
  check(v_in.defined() && g_in.defined(), "weight_norm: v and g must be defined");
  check(v_in.dtype() == DType::f32 || v_in.dtype() == DType::f64, "weight_norm: expected a float32 or float64 v, got ",
        v_in.dtype());
  check(g_in.dtype() == v_in.dtype(), "weight_norm: dtype mismatch: v is ", v_in.dtype(), " but g is ", g_in.dtype());
  check(g_in.device() == v_in.device(), "weight_norm: v is on ", v_in.device(), " but g is on ", g_in.device());
  check(v_in.dim() >= 1, "weight_norm: v must have rank >= 1, got shape ", v_in.shape());
  const int64_t d = wrap_dim(dim, v_in.dim(), "weight_norm");
  // g keeps v's rank with size 1 everywhere but `dim` (torch's norm_except_dim(v, 2, dim) shape).
  Shape g_shape(v_in.dim(), 1);
  g_shape[d] = v_in.size(d);
  check(g_in.shape() == g_shape, "weight_norm: g must have shape ", g_shape, " for v ", v_in.shape(), " and dim ", dim,
        ", got ", g_in.shape());
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= v_in.size(i);
  for (int64_t i = d + 1; i < v_in.dim(); ++i) inner *= v_in.size(i);
  const int64_t D = v_in.size(d);

  const Tensor v = plain(v_in), gv = plain(g_in);
  if (v.is_cuda()) return weight_norm_cuda(v_in, g_in, v, gv, outer, D, inner);
  Tensor w = empty(v.shape(), v.dtype());  // like v
  Tensor norm = empty({D}, v.dtype());     // (D,) ||v|| per index of `dim`
  const WeightNormVariant variant = weight_norm_table().get();
  dispatch_float(v.dtype(), "weight_norm", [&](auto tag) {
    using T = decltype(tag);
    kernels_for<T>(variant).forward(v.data<T>(), gv.data<T>(), outer, D, inner, w.data<T>(), norm.data<T>());
  });
  record("weight_norm", {v_in, g_in}, {w},
         [variant, v, gv, norm, outer, D, inner](const std::vector<Tensor>& grads, const std::vector<bool>& needs) {
           const Tensor dw = grads[0].contiguous();  // like v
           std::vector<Tensor> out(2);
           if (needs[0]) out[0] = empty(v.shape(), v.dtype());
           if (needs[1]) out[1] = empty(gv.shape(), v.dtype());
           dispatch_float(v.dtype(), "weight_norm backward", [&](auto tag) {
             using T = decltype(tag);
             kernels_for<T>(variant).backward(dw.data<T>(), v.data<T>(), gv.data<T>(), norm.data<T>(), outer, D, inner,
                                              ptr_or_null<T>(out[0]), ptr_or_null<T>(out[1]));
           });
           return out;
         });
  return w;
}

}  // namespace hm
