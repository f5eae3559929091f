// Fused multi-head attention: validation, kernel choice (the `attention` table on the CPU, `attention@cuda` for
// CUDA tensors), and the tape node whose backward regenerates the dropout mask and recomputes the probabilities from
// the saved row logsumexp (cpu/attention_blocked.cpp, cuda/attention_flash.cu).
#include "ops/attention.h"

#include <cmath>
#include <type_traits>

#include "engine/autograd.h"

namespace hm {

KernelTable<cpu::AttentionKernels>& attention_table() {
  static KernelTable<cpu::AttentionKernels> table("attention");
  return table;
}

KernelTable<AttentionCudaKernels>& attention_cuda_table() {
  static KernelTable<AttentionCudaKernels> table("attention", DeviceType::cuda);
  return table;
}

namespace {

const bool kRegScalar =
    (attention_table().add("scalar",
                           {cpu::scalar::attention_forward<float>, cpu::scalar::attention_forward<double>,
                            cpu::scalar::attention_backward<float>, cpu::scalar::attention_backward<double>},
                           0),
     true);
const bool kRegBlocked =
    (attention_table().add("blas_blocked",
                           {cpu::blocked::attention_forward<float>, cpu::blocked::attention_forward<double>,
                            cpu::blocked::attention_backward<float>, cpu::blocked::attention_backward<double>},
                           10),
     true);

const OpRegistrar kRegistered{"attention"};

// Shape, dtype and device checks; every message names the op and the offending shapes / dtypes / devices.
void validate(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double dropout_p) {
  check(q.defined() && k.defined() && v.defined(), "attention: q, k and v must be defined tensors");
  check(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention: q, k, v must be 4-D (B, H, T, Dh), got q ", q.shape(),
        ", k ", k.shape(), ", v ", v.shape());
  check(q.device() == k.device() && q.device() == v.device(), "attention: q, k, v must be on one device, got q on ",
        q.device(), ", k on ", k.device(), ", v on ", v.device());
  check(q.dtype() == k.dtype() && q.dtype() == v.dtype(), "attention: q, k, v must share a dtype, got q ", q.dtype(),
        ", k ", k.dtype(), ", v ", v.dtype());
  if (q.is_cuda())
    check(q.dtype() == DType::f32 || q.dtype() == DType::f64 || q.dtype() == DType::bf16,
          "attention: expected float32, float64 or bfloat16 on ", q.device(), ", got ", q.dtype());
  else
    check(q.dtype() == DType::f32 || q.dtype() == DType::f64, "attention: expected float32 or float64, got ",
          q.dtype());
  check(k.shape() == v.shape(), "attention: k and v must have the same shape (B, H, Tk, Dh), got k ", k.shape(), ", v ",
        v.shape());
  check(q.size(0) == k.size(0) && q.size(1) == k.size(1) && q.size(3) == k.size(3),
        "attention: q (B, H, Tq, Dh) and k (B, H, Tk, Dh) disagree on B, H or Dh: q ", q.shape(), ", k ", k.shape());
  check(k.size(2) >= 1 && q.size(3) >= 1, "attention: need at least one key and Dh >= 1, got q ", q.shape(), ", k ",
        k.shape());
  if (mask.defined()) {
    check(mask.dtype() == DType::u8, "attention: key_padding_mask must be u8 (1 = padded), got ", mask.dtype());
    check(mask.dim() == 2 && mask.size(0) == q.size(0) && mask.size(1) == k.size(2),
          "attention: key_padding_mask must be (B, Tk) = (", q.size(0), ", ", k.size(2), "), got ", mask.shape());
    check(mask.device() == q.device(), "attention: key_padding_mask is on ", mask.device(), " but q, k, v on ",
          q.device());
  }
  check(dropout_p >= 0.0 && dropout_p < 1.0, "attention: dropout_p must be in [0, 1), got ", dropout_p);
}

cuda::AttentionDims cuda_dims(const cpu::AttentionDims& d) {
  cuda::AttentionDims c;
  c.B = d.B, c.H = d.H, c.Tq = d.Tq, c.Tk = d.Tk, c.Dh = d.Dh;
  c.scale = d.scale, c.causal = d.causal, c.dropout_p = d.dropout_p, c.seed = d.seed, c.offset = d.offset;
  return c;
}

// The selected `attention@cuda` variant, or cuda_reference when the selected one cannot take this head dim and was
// not asked for by name.
AttentionCudaKernels cuda_kernels(int64_t Dh) {
  const std::string name = attention_cuda_table().selected();
  const AttentionCudaKernels k = attention_cuda_table().get(name);
  if (k.max_head_dim == 0 || Dh <= k.max_head_dim) return k;
  check(kernel_override("attention") != name, "attention: kernel ", name, " handles head dims up to ", k.max_head_dim,
        ", got ", Dh);
  return attention_cuda_table().get("cuda_reference");
}

// Calls f(T{}, L{}) with the interface element type T and saved-lse type L of a CUDA dtype (cuda/attention.h).
template <class F>
void dispatch_cuda(DType t, F&& f) {
  switch (t) {
    case DType::f32:
      return f(float{}, float{});
    case DType::f64:
      return f(double{}, double{});
    case DType::bf16:
      return f(cuda::bf16_bits{}, float{});
    default:
      throw Error(cat("attention: no CUDA kernel for ", dtype_name(t)));
  }
}

template <class T>
auto cuda_forward(const AttentionCudaKernels& k) {
  if constexpr (std::is_same_v<T, float>)
    return k.forward_f32;
  else if constexpr (std::is_same_v<T, double>)
    return k.forward_f64;
  else
    return k.forward_bf16;
}
template <class T>
auto cuda_backward(const AttentionCudaKernels& k) {
  if constexpr (std::is_same_v<T, float>)
    return k.backward_f32;
  else if constexpr (std::is_same_v<T, double>)
    return k.backward_f64;
  else
    return k.backward_bf16;
}

// The op on CUDA tensors (validated, contiguous, detached): same saved context as the CPU path below, with the lse in
// f32 for bf16 inputs.
Tensor attention_cuda(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Tensor& q, const Tensor& k,
                      const Tensor& v, const Tensor& mask, const cpu::AttentionDims& dims) {
  const cuda::AttentionDims d = cuda_dims(dims);
  const AttentionCudaKernels kernels = cuda_kernels(d.Dh);
  const uint8_t* pad = mask.defined() ? mask.device_data<uint8_t>() : nullptr;
  const DType lse_dtype = q.dtype() == DType::f64 ? DType::f64 : DType::f32;
  Tensor out = empty({d.B, d.H, d.Tq, d.Dh}, q.dtype(), q.device());  // (B, H, Tq, Dh)
  Tensor lse = empty({d.B, d.H, d.Tq}, lse_dtype, q.device());        // (B, H, Tq) row logsumexp
  dispatch_cuda(q.dtype(), [&](auto tt, auto lt) {
    using T = decltype(tt);
    using L = decltype(lt);
    cuda_forward<T>(kernels)(d, q.device_data<T>(), k.device_data<T>(), v.device_data<T>(), pad, out.device_data<T>(),
                             lse.device_data<L>());
  });
  const Tensor out_saved = out.detach();
  record("attention", {q_in, k_in, v_in}, {out},
         [q, k, v, mask, out_saved, lse, d, kernels](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
           const Tensor dout = g[0].contiguous();  // (B, H, Tq, Dh)
           Tensor dq = empty(q.shape(), q.dtype(), q.device()), dk = empty(k.shape(), k.dtype(), k.device()),
                  dv = empty(v.shape(), v.dtype(), v.device());
           const uint8_t* pad = mask.defined() ? mask.device_data<uint8_t>() : nullptr;
           dispatch_cuda(q.dtype(), [&](auto tt, auto lt) {
             using T = decltype(tt);
             using L = decltype(lt);
             cuda_backward<T>(kernels)(d, q.device_data<T>(), k.device_data<T>(), v.device_data<T>(), pad,
                                       out_saved.device_data<T>(), lse.device_data<L>(), dout.device_data<T>(),
                                       dq.device_data<T>(), dk.device_data<T>(), dv.device_data<T>());
           });
           return std::vector<Tensor>{needs[0] ? dq : Tensor(), needs[1] ? dk : Tensor(), needs[2] ? dv : Tensor()};
         });
  return out;
}

}  // namespace

Tensor attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Tensor& key_padding_mask,
                 bool causal, double dropout_p, bool training, Generator& gen, std::optional<double> scale) {
  validate(q_in, k_in, v_in, key_padding_mask, dropout_p);
  // Kernels want contiguous inputs; detached copies are what the backward keeps (no graph kept alive).
  const Tensor q = q_in.contiguous().detach(), k = k_in.contiguous().detach(), v = v_in.contiguous().detach();
  const Tensor mask = key_padding_mask.defined() ? key_padding_mask.contiguous().detach() : Tensor();
  cpu::AttentionDims d;
  d.B = q.size(0), d.H = q.size(1), d.Tq = q.size(2), d.Tk = k.size(2), d.Dh = q.size(3);
  d.scale = scale ? *scale : 1.0 / std::sqrt(double(d.Dh));
  check(std::isfinite(d.scale), "attention: scale must be finite, got ", d.scale);
  d.causal = causal;
  if (training && dropout_p > 0) {
    d.dropout_p = dropout_p;
    d.seed = gen.seed();
    d.offset = gen.reserve((uint64_t(d.B * d.H * d.Tq * d.Tk) + 3) / 4);
  }
  if (q.is_cuda()) return attention_cuda(q_in, k_in, v_in, q, k, v, mask, d);
  const cpu::AttentionKernels kernels = attention_table().get();
  const uint8_t* pad = mask.defined() ? mask.data<uint8_t>() : nullptr;

  Tensor out = empty({d.B, d.H, d.Tq, d.Dh}, q.dtype());  // (B, H, Tq, Dh)
  Tensor lse = empty({d.B, d.H, d.Tq}, q.dtype());        // (B, H, Tq) row logsumexp, saved for backward
  dispatch_float(q.dtype(), "attention", [&](auto tag) {
    using T = decltype(tag);
    kernels.forward<T>()(d, q.data<T>(), k.data<T>(), v.data<T>(), pad, out.data<T>(), lse.data<T>());
  });

  // Saved context: q, k, v, the mask, out (for D = rowsum(dO * out)), lse, the dims (incl. the Philox seed and
  // offset of the dropout mask) and the kernel pair used in forward. `out` is saved detached so the node does
  // not own its own output (no reference cycle).
  const Tensor out_saved = out.detach();
  record("attention", {q_in, k_in, v_in}, {out},
         [q, k, v, mask, out_saved, lse, d, kernels](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
           const Tensor dout = g[0].contiguous();  // (B, H, Tq, Dh)
           Tensor dq = empty(q.shape(), q.dtype()), dk = empty(k.shape(), k.dtype()), dv = empty(v.shape(), v.dtype());
           const uint8_t* pad = mask.defined() ? mask.data<uint8_t>() : nullptr;
           dispatch_float(q.dtype(), "attention backward", [&](auto tag) {
             using T = decltype(tag);
             kernels.backward<T>()(d, q.data<T>(), k.data<T>(), v.data<T>(), pad, out_saved.data<T>(), lse.data<T>(),
                                   dout.data<T>(), dq.data<T>(), dk.data<T>(), dv.data<T>());
           });
           return std::vector<Tensor>{needs[0] ? dq : Tensor(), needs[1] ? dk : Tensor(), needs[2] ? dv : Tensor()};
         });
  return out;
}

}  // namespace hm
