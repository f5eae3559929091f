// Selective scan op: validation, the A = -exp(A_log) parametrisation, the kernel-variant choice and autograd.
// The forward saves its inputs plus the variant's chunk-boundary states (O(B*D*N*L/64), not the full
// (B, D, L, N) state history); the backward recomputes everything else (cpu/selective_scan_highway.cpp).
// CUDA tensors go to the `selective_scan@cuda` table (cuda/selective_scan.h) with the same saved-context contract.
#include "ops/selective_scan.h"

#include <cmath>

#include "cpu/selective_scan_highway.h"
#include "engine/autograd.h"

namespace hm {

KernelTable<cpu::ScanKernels>& selective_scan_table() {
  static KernelTable<cpu::ScanKernels> table("selective_scan");
  return table;
}

KernelTable<ScanCudaKernels>& selective_scan_cuda_table() {
  static KernelTable<ScanCudaKernels> table("selective_scan", DeviceType::cuda);
  return table;
}

namespace {

const cpu::ScanKernels kScalarKernels{
    &cpu::scalar::selective_scan_checkpoint_elems, &cpu::scalar::selective_scan_forward<float>,
    &cpu::scalar::selective_scan_backward<float>,  &cpu::scalar::selective_scan_forward<double>,
    &cpu::scalar::selective_scan_backward<double>,
};
const cpu::ScanKernels kHighwayKernels{
    &cpu::highway::selective_scan_checkpoint_elems, &cpu::highway::selective_scan_forward_f32,
    &cpu::highway::selective_scan_backward_f32,     &cpu::highway::selective_scan_forward_f64,
    &cpu::highway::selective_scan_backward_f64,
};
const cpu::ScanKernels kHighwayChannelsKernels{
    &cpu::highway_channels::selective_scan_checkpoint_elems, &cpu::highway_channels::selective_scan_forward_f32,
    &cpu::highway_channels::selective_scan_backward_f32,     &cpu::highway_channels::selective_scan_forward_f64,
    &cpu::highway_channels::selective_scan_backward_f64,
};
const bool kRegScalar = (selective_scan_table().add("scalar", kScalarKernels, 0), true);
// Default: `highway` (fastest in bench/RESULTS.md); `highway_channels` is the alternative layout.
const bool kRegHighway = (selective_scan_table().add("highway", kHighwayKernels, 20), true);
const bool kRegHighwayChannels = (selective_scan_table().add("highway_channels", kHighwayChannelsKernels, 10), true);
const OpRegistrar kRegistered{"selective_scan"};

// Shape and dtype check for one argument: `name` must have `expected` (written `pattern`, e.g. "(B, N, L)") and
// dtype `dtype`.
void expect_shape(const char* name, const Tensor& t, const Shape& expected, const char* pattern, DType dtype,
                  const Tensor& u, const Tensor& A_log) {
  check(t.shape() == expected, "selective_scan: ", name, " has shape ", t.shape(), " but expected ", pattern, " = ",
        expected, " (u ", u.shape(), ", A_log ", A_log.shape(), ")");
  check(t.dtype() == dtype, "selective_scan: ", name, " is ", t.dtype(), " but u is ", u.dtype(),
        dtype != u.dtype() ? " (A_log, Dskip and delta_bias are float32 when u is bfloat16)" : "");
}

void validate(const Tensor& u, const Tensor& delta, const Tensor& A_log, const Tensor& Bm, const Tensor& Cm,
              const Tensor& Dskip, const Tensor& z, const Tensor& delta_bias) {
  check(u.defined() && delta.defined() && A_log.defined() && Bm.defined() && Cm.defined(),
        "selective_scan: u, delta, A_log, Bm and Cm are required");
  const std::pair<const char*, const Tensor*> operands[] = {
      {"delta", &delta}, {"A_log", &A_log},          {"Bm", &Bm}, {"Cm", &Cm}, {"Dskip", &Dskip},
      {"z", &z},         {"delta_bias", &delta_bias}};
  for (const auto& [name, t] : operands)
    if (t->defined())
      check(t->device() == u.device(), "selective_scan: ", name, " is on ", t->device(), " but u is on ", u.device());
  check(u.dim() == 3, "selective_scan: u must be (B, D, L), got shape ", u.shape());
  check(A_log.dim() == 2, "selective_scan: A_log must be (D, N), got shape ", A_log.shape());
  const bool bf16 = u.dtype() == DType::bf16 && u.is_cuda();
  check(u.dtype() == DType::f32 || u.dtype() == DType::f64 || bf16,
        "selective_scan: expected float32 or float64 tensors (or bfloat16 u, delta, Bm, Cm, z on CUDA), u is ",
        u.dtype(), " on ", u.device());
  const DType weights = bf16 ? DType::f32 : u.dtype();  // A_log, Dskip, delta_bias
  const int64_t B = u.size(0), D = u.size(1), L = u.size(2), N = A_log.size(1);
  check(B > 0 && D > 0 && L > 0 && N > 0, "selective_scan: empty input (u ", u.shape(), ", A_log ", A_log.shape(), ")");
  expect_shape("delta", delta, {B, D, L}, "(B, D, L)", u.dtype(), u, A_log);
  expect_shape("A_log", A_log, {D, N}, "(D, N)", weights, u, A_log);
  expect_shape("Bm", Bm, {B, N, L}, "(B, N, L)", u.dtype(), u, A_log);
  expect_shape("Cm", Cm, {B, N, L}, "(B, N, L)", u.dtype(), u, A_log);
  if (Dskip.defined()) expect_shape("Dskip", Dskip, {D}, "(D)", weights, u, A_log);
  if (z.defined()) expect_shape("z", z, {B, D, L}, "(B, D, L)", u.dtype(), u, A_log);
  if (delta_bias.defined()) expect_shape("delta_bias", delta_bias, {D}, "(D)", weights, u, A_log);
}

// Contiguous, history-free copy (or alias) of an optional input, for the kernels and the saved context.
Tensor saved(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

template <class T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mut_ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// The tensors one call works on, all contiguous.
struct ScanTensors {
  Tensor u;           // (B, D, L)
  Tensor delta;       // (B, D, L)
  Tensor A;           // (D, N) = -exp(A_log)
  Tensor Bm, Cm;      // (B, N, L)
  Tensor Dskip;       // (D) or undefined
  Tensor z;           // (B, D, L) or undefined
  Tensor delta_bias;  // (D) or undefined
  bool softplus = false;

  template <class T>
  cpu::ScanInputs<T> inputs() const {
    cpu::ScanInputs<T> in;
    in.B = u.size(0), in.D = u.size(1), in.L = u.size(2), in.N = A.size(1);
    in.u = u.data<T>(), in.delta = delta.data<T>(), in.A = A.data<T>(), in.Bm = Bm.data<T>(), in.Cm = Cm.data<T>();
    in.Dskip = ptr_or_null<T>(Dskip), in.z = ptr_or_null<T>(z), in.delta_bias = ptr_or_null<T>(delta_bias);
    in.softplus = softplus;
    return in;
  }
};

// A = -exp(A_log)  (mamba: `A = -torch.exp(self.A_log.float())`).
Tensor negexp(const Tensor& A_log) {
  Tensor A = empty(A_log.shape(), A_log.dtype());
  dispatch_float(A_log.dtype(), "selective_scan", [&](auto tag) {
    using T = decltype(tag);
    const T* src = A_log.data<T>();
    T* dst = A.data<T>();
    for (int64_t i = 0; i < A.numel(); ++i) dst[i] = -std::exp(src[i]);
  });
  return A;
}

// ---- CUDA path (DESIGN.md 1: kernels from the `selective_scan@cuda` table, no CUDA types here) ----

// Calls f(In{}, W{}) with the element types of a CUDA call: sequences In, weights/state W.
template <class F>
void dispatch_cuda_scan(DType seq, F&& f) {
  switch (seq) {
    case DType::f32:
      return f(float{}, float{});
    case DType::f64:
      return f(double{}, double{});
    case DType::bf16:
      return f(cuda::bfloat16_t{}, float{});
    default:
      throw Error(cat("selective_scan: no CUDA kernels for ", seq));
  }
}

template <class T>
T* device_ptr_or_null(const Tensor& t) {
  return t.defined() ? t.device_data<T>() : nullptr;
}

// The contiguous device tensors of one CUDA call (A_log itself: the kernels compute A = -exp(A_log) and dA_log).
struct CudaScanTensors {
  Tensor u, delta;    // (B, D, L)
  Tensor A_log;       // (D, N)
  Tensor Bm, Cm;      // (B, N, L)
  Tensor Dskip;       // (D) or undefined
  Tensor z;           // (B, D, L) or undefined
  Tensor delta_bias;  // (D) or undefined
  bool softplus = false;

  template <class In, class W>
  cuda::ScanArgs<In, W> args() const {
    cuda::ScanArgs<In, W> a;
    a.B = u.size(0), a.D = u.size(1), a.L = u.size(2), a.N = A_log.size(1);
    a.u = u.device_data<In>(), a.delta = delta.device_data<In>(), a.A_log = A_log.device_data<W>();
    a.Bm = Bm.device_data<In>(), a.Cm = Cm.device_data<In>();
    a.Dskip = device_ptr_or_null<W>(Dskip), a.z = device_ptr_or_null<In>(z);
    a.delta_bias = device_ptr_or_null<W>(delta_bias), a.softplus = softplus;
    return a;
  }
};

// Same contract as the CPU path: outputs out (B, D, L) in the sequence dtype and last_state (B, D, N) in the
// weight dtype; the saved context is the inputs plus the variant's checkpoints (weight dtype).
SelectiveScanResult selective_scan_cuda(const std::vector<Tensor>& inputs, bool delta_softplus,
                                        bool return_last_state) {
  const std::string variant = selective_scan_cuda_table().selected();
  const ScanCudaKernels kernels = selective_scan_cuda_table().get(variant);
  const CudaScanTensors s{.u = saved(inputs[0]),
                          .delta = saved(inputs[1]),
                          .A_log = saved(inputs[2]),
                          .Bm = saved(inputs[3]),
                          .Cm = saved(inputs[4]),
                          .Dskip = saved(inputs[5]),
                          .z = saved(inputs[6]),
                          .delta_bias = saved(inputs[7]),
                          .softplus = delta_softplus};
  const int64_t B = s.u.size(0), D = s.u.size(1), L = s.u.size(2), N = s.A_log.size(1);
  const Device dev = s.u.device();
  const DType seq = s.u.dtype(), wt = s.A_log.dtype();

  SelectiveScanResult r;
  r.out = empty({B, D, L}, seq, dev);                               // (B, D, L)
  if (return_last_state) r.last_state = empty({B, D, N}, wt, dev);  // (B, D, N)
  const int64_t n_ckpt = any_requires_grad(inputs) ? kernels.checkpoint_elems(B, D, L, N) : 0;
  const Tensor checkpoints = n_ckpt > 0 ? empty({n_ckpt}, wt, dev) : Tensor();  // variant-defined layout
  dispatch_cuda_scan(seq, [&](auto in_tag, auto w_tag) {
    using In = decltype(in_tag);
    using W = decltype(w_tag);
    const auto forward = kernels.forward<In>();
    check(forward != nullptr, "selective_scan: CUDA variant ", variant, " has no ", seq, " kernel");
    forward(s.args<In, W>(), r.out.device_data<In>(), device_ptr_or_null<W>(r.last_state),
            device_ptr_or_null<W>(checkpoints));
  });

  std::vector<Tensor> outputs{r.out};
  if (return_last_state) outputs.push_back(r.last_state);
  record("selective_scan", inputs, outputs,
         [s, checkpoints, kernels, variant, return_last_state](const std::vector<Tensor>& g,
                                                               const std::vector<bool>& needs) {
           const DType seq = s.u.dtype(), wt = s.A_log.dtype();
           const Tensor dout = g[0].to(seq).contiguous();                                 // (B, D, L)
           const Tensor dlast = return_last_state ? g[1].to(wt).contiguous() : Tensor();  // (B, D, N)
           auto like = [](const Tensor& t) { return t.defined() ? empty_like(t) : Tensor(); };
           Tensor du = like(s.u), ddelta = like(s.delta), dA_log = like(s.A_log), dB = like(s.Bm), dC = like(s.Cm);
           Tensor dDskip = like(s.Dskip), dz = like(s.z), ddelta_bias = like(s.delta_bias);
           dispatch_cuda_scan(seq, [&](auto in_tag, auto w_tag) {
             using In = decltype(in_tag);
             using W = decltype(w_tag);
             const auto backward = kernels.backward<In>();
             check(backward != nullptr, "selective_scan: CUDA variant ", variant, " has no ", seq, " backward");
             cuda::ScanGradArgs<In, W> grads;
             grads.du = du.device_data<In>(), grads.ddelta = ddelta.device_data<In>();
             grads.dA_log = dA_log.device_data<W>(), grads.dB = dB.device_data<In>(), grads.dC = dC.device_data<In>();
             grads.dDskip = device_ptr_or_null<W>(dDskip), grads.dz = device_ptr_or_null<In>(dz);
             grads.ddelta_bias = device_ptr_or_null<W>(ddelta_bias);
             backward(s.args<In, W>(), dout.device_data<In>(), device_ptr_or_null<W>(dlast),
                      device_ptr_or_null<W>(checkpoints), grads);
           });
           std::vector<Tensor> grads{du, ddelta, dA_log, dB, dC, dDskip, dz, ddelta_bias};
           for (size_t i = 0; i < grads.size(); ++i)
             if (!needs[i]) grads[i] = Tensor();
           return grads;
         });
  return r;
}

}  // namespace

SelectiveScanResult selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A_log, const Tensor& Bm,
                                   const Tensor& Cm, const Tensor& Dskip, const Tensor& z, const Tensor& delta_bias,
                                   bool delta_softplus, bool return_last_state) {
  validate(u, delta, A_log, Bm, Cm, Dskip, z, delta_bias);
  const std::vector<Tensor> inputs{u, delta, A_log, Bm, Cm, Dskip, z, delta_bias};
  if (u.is_cuda()) return selective_scan_cuda(inputs, delta_softplus, return_last_state);
  const cpu::ScanKernels kernels = selective_scan_table().get();
  const ScanTensors s{.u = saved(u),
                      .delta = saved(delta),
                      .A = negexp(saved(A_log)),
                      .Bm = saved(Bm),
                      .Cm = saved(Cm),
                      .Dskip = saved(Dskip),
                      .z = saved(z),
                      .delta_bias = saved(delta_bias),
                      .softplus = delta_softplus};
  const int64_t B = u.size(0), D = u.size(1), L = u.size(2), N = A_log.size(1);

  SelectiveScanResult r;
  r.out = empty({B, D, L}, u.dtype());                                // (B, D, L)
  if (return_last_state) r.last_state = empty({B, D, N}, u.dtype());  // (B, D, N)
  const int64_t n_ckpt = any_requires_grad(inputs) ? kernels.checkpoint_elems(B, D, L, N) : 0;
  const Tensor checkpoints = n_ckpt > 0 ? empty({n_ckpt}, u.dtype()) : Tensor();  // variant-defined layout
  dispatch_float(u.dtype(), "selective_scan", [&](auto tag) {
    using T = decltype(tag);
    kernels.forward<T>()(s.inputs<T>(), r.out.data<T>(), mut_ptr_or_null<T>(r.last_state),
                         mut_ptr_or_null<T>(checkpoints));
  });

  std::vector<Tensor> outputs{r.out};
  if (return_last_state) outputs.push_back(r.last_state);
  // Saved context: the contiguous inputs, A, the checkpoints and the variant that wrote them.
  record("selective_scan", inputs, outputs,
         [s, checkpoints, kernels, return_last_state](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
           const Tensor dout = g[0].contiguous();                                  // (B, D, L)
           const Tensor dlast = return_last_state ? g[1].contiguous() : Tensor();  // (B, D, N)
           auto like = [](const Tensor& t) { return t.defined() ? empty_like(t) : Tensor(); };
           // dA_log first receives the kernel's dLoss/dA, then is turned into dLoss/dA_log below.
           Tensor du = like(s.u), ddelta = like(s.delta), dA_log = like(s.A), dB = like(s.Bm), dC = like(s.Cm);
           Tensor dDskip = like(s.Dskip), dz = like(s.z), ddelta_bias = like(s.delta_bias);
           dispatch_float(s.u.dtype(), "selective_scan backward", [&](auto tag) {
             using T = decltype(tag);
             cpu::ScanGrads<T> grads;
             grads.du = du.data<T>(), grads.ddelta = ddelta.data<T>(), grads.dA = dA_log.data<T>();
             grads.dB = dB.data<T>(), grads.dC = dC.data<T>(), grads.dDskip = mut_ptr_or_null<T>(dDskip);
             grads.dz = mut_ptr_or_null<T>(dz), grads.ddelta_bias = mut_ptr_or_null<T>(ddelta_bias);
             kernels.backward<T>()(s.inputs<T>(), dout.data<T>(), ptr_or_null<T>(dlast), ptr_or_null<T>(checkpoints),
                                   grads);
             // dLoss/dA_log = dLoss/dA * dA/dA_log = dA * (-exp(A_log)) = dA * A.
             T* pa = dA_log.data<T>();
             const T* a = s.A.data<T>();
             for (int64_t i = 0; i < dA_log.numel(); ++i) pa[i] *= a[i];
           });
           std::vector<Tensor> grads{du, ddelta, dA_log, dB, dC, dDskip, dz, ddelta_bias};
           for (size_t i = 0; i < grads.size(); ++i)
             if (!needs[i]) grads[i] = Tensor();
           return grads;
         });
  return r;
}

}  // namespace hm
