#include "models/mamba.h"

#include <cmath>

#include "engine/strided.h"
#include "ops/ops.h"

namespace hm {

MambaScanBranch::MambaScanBranch(const MambaDims& d, Generator& gen, DType dtype) : dims(d) {
  const int64_t di = d.d_inner(), R = d.dt_rank(), N = d.d_state;
  conv1d = register_module("conv1d", std::make_shared<Conv1d>(di, di, d.d_conv, 1, di, true, gen, dtype));
  x_proj = register_module("x_proj", std::make_shared<Linear>(di, R + 2 * N, false, gen, dtype));
  dt_proj = register_module("dt_proj", std::make_shared<Linear>(R, di, true, gen, dtype));
  // mamba_simple.py: dt_init "random": weight ~ U(+-dt_rank^-0.5) (dt_scale 1).
  init_uniform(dt_proj->weight, 1.0 / std::sqrt(double(R)), gen);
  // dt = exp(U[log 1e-3, log 1e-1]) clamped >= 1e-4; bias = dt + log(-expm1(-dt)) (inverse softplus).
  {
    Tensor u = uniform({di}, 0.0, 1.0, DType::f64, gen);
    std::vector<double> bias(static_cast<size_t>(di));
    const double lo = std::log(1e-3), hi = std::log(1e-1);
    const double* pu = u.data<double>();
    for (int64_t i = 0; i < di; ++i) {
      const double dt = std::max(std::exp(lo + pu[i] * (hi - lo)), 1e-4);
      bias[size_t(i)] = dt + std::log(-std::expm1(-dt));
    }
    NoGradGuard ng;
    strided::copy(dt_proj->bias.detach(), from_vector(bias, {di}));
  }
  // S4D real init: A[d, n] = n + 1, stored as A_log = log(A); D = 1.
  std::vector<double> a_log(static_cast<size_t>(di * N));
  for (int64_t i = 0; i < di; ++i)
    for (int64_t n = 0; n < N; ++n) a_log[size_t(i * N + n)] = std::log(double(n + 1));
  A_log = from_vector(a_log, {di, N}).to(dtype);
  D = ones({di}, dtype);
  register_parameter("A_log", &A_log);
  register_parameter("D", &D);
}

void MambaScanBranch::reinit_dt_proj_bert(Generator& gen) { dt_proj->init_bert(gen); }

Tensor MambaScanBranch::forward(const Tensor& x, const Tensor& z) const {
  const int64_t R = dims.dt_rank(), N = dims.d_state;
  // x = silu(conv1d(x)[..., :L]) with causal padding: left d_conv - 1, right 0.
  Tensor xc = silu(conv1d->forward(x, dims.d_conv - 1, 0));  // (B, di, L)
  Tensor xt = xc.transpose(1, 2);                             // (B, L, di)
  Tensor x_dbl = x_proj->forward(xt);                         // (B, L, R + 2N)
  Tensor dt = x_dbl.narrow(2, 0, R);                          // (B, L, R)
  Tensor Bm = x_dbl.narrow(2, R, N).transpose(1, 2).contiguous();      // (B, N, L)
  Tensor Cm = x_dbl.narrow(2, R + N, N).transpose(1, 2).contiguous();  // (B, N, L)
  // delta = dt_proj.weight @ dt; dt_proj.bias enters the scan as delta_bias (mamba_simple.py).
  Tensor delta = linear(dt.contiguous(), dt_proj->weight).transpose(1, 2).contiguous();  // (B, di, L)
  return selective_scan(xc, delta, A_log, Bm, Cm, D, z, dt_proj->bias, /*delta_softplus=*/true).out;
}

MambaBlock::MambaBlock(const MambaDims& d, Generator& gen, DType dtype) : dims(d) {
  in_proj = register_module("in_proj", std::make_shared<Linear>(d.d_model, 2 * d.d_inner(), false, gen, dtype));
  branch = std::make_shared<MambaScanBranch>(d, gen, dtype);
  // mamba_ssm names the branch parameters at the block level (conv1d.*, x_proj.*, dt_proj.*, A_log, D).
  register_module("", branch);
  out_proj = register_module("out_proj", std::make_shared<Linear>(d.d_inner(), d.d_model, false, gen, dtype));
}

void MambaBlock::init_bert(Generator& gen, bool reinit_dt_proj) {
  in_proj->init_bert(gen);
  branch->x_proj->init_bert(gen);
  if (reinit_dt_proj) branch->reinit_dt_proj_bert(gen);
  out_proj->init_bert(gen);
}

Tensor MambaBlock::forward(const Tensor& h) const {
  const int64_t di = dims.d_inner();
  Tensor xz = in_proj->forward(h);                               // (B, L, 2 di)
  Tensor x = xz.narrow(2, 0, di).transpose(1, 2).contiguous();   // (B, di, L)
  Tensor z = xz.narrow(2, di, di).transpose(1, 2).contiguous();  // (B, di, L)
  Tensor y = branch->forward(x, z);                              // (B, di, L)
  return out_proj->forward(y.transpose(1, 2));                   // (B, L, d_model)
}

Tensor zero_padding(const Tensor& x, const std::vector<int64_t>& lengths) {
  if (lengths.empty()) return x;
  const int64_t B = x.size(0), L = x.size(1);
  std::vector<uint8_t> pad(static_cast<size_t>(B * L), 0);
  bool any = false;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = lengths[size_t(b)]; t < L; ++t) pad[size_t(b * L + t)] = 1, any = true;
  if (!any) return x;
  return masked_fill(x, from_vector(pad, {B, L, 1}).to(x.device()), 0.0);
}

Tensor flip_within_lengths(const Tensor& x, const std::vector<int64_t>& lengths, bool faithful) {
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2);
  bool full = true;
  for (int64_t len : lengths) full = full && len == L;
  if (faithful || lengths.empty() || full) return x.flip({1});
  // index[b, t, c] = len_b - 1 - t inside the utterance, t in the padding.
  std::vector<int64_t> idx(static_cast<size_t>(B * L * C));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < L; ++t) {
      const int64_t len = lengths[size_t(b)];
      const int64_t src = t < len ? len - 1 - t : t;
      for (int64_t c = 0; c < C; ++c) idx[size_t((b * L + t) * C + c)] = src;
    }
  return gather(x, 1, from_vector(idx, {B, L, C}).to(x.device()));
}

ExtBiMamba::ExtBiMamba(const MambaDims& d, Generator& gen, DType dtype) {
  mamba_fwd = register_module("mamba_fwd", std::make_shared<MambaBlock>(d, gen, dtype));
  mamba_bwd = register_module("mamba_bwd", std::make_shared<MambaBlock>(d, gen, dtype));
  output_proj = register_module("output_proj", std::make_shared<Linear>(2 * d.d_model, d.d_model, true, gen, dtype));
}

void ExtBiMamba::init_bert(Generator& gen, bool reinit_dt_proj) {
  mamba_fwd->init_bert(gen, reinit_dt_proj);
  mamba_bwd->init_bert(gen, reinit_dt_proj);
  output_proj->init_bert(gen);
}

Tensor ExtBiMamba::forward(const Tensor& x_in, const std::vector<int64_t>& lengths, bool faithful) const {
  // f = Mamba_fwd(x); b = flip(Mamba_bwd(flip(x))); out = Linear(cat(f, b)) (SPEC.md 3).
  const Tensor x = faithful ? x_in : zero_padding(x_in, lengths);
  Tensor f = mamba_fwd->forward(x);
  Tensor b = flip_within_lengths(mamba_bwd->forward(flip_within_lengths(x, lengths, faithful)), lengths, faithful);
  return output_proj->forward(cat({f, b}, 2));
}

InnBiMamba::InnBiMamba(const MambaDims& d, Generator& gen, DType dtype) : dims(d) {
  in_proj = register_module("in_proj", std::make_shared<Linear>(d.d_model, 2 * d.d_inner(), false, gen, dtype));
  branch_f = register_module("fwd", std::make_shared<MambaScanBranch>(d, gen, dtype));
  branch_b = register_module("bwd", std::make_shared<MambaScanBranch>(d, gen, dtype));
  out_proj = register_module("out_proj", std::make_shared<Linear>(d.d_inner(), d.d_model, false, gen, dtype));
}

void InnBiMamba::init_bert(Generator& gen, bool reinit_dt_proj) {
  in_proj->init_bert(gen);
  out_proj->init_bert(gen);
  for (auto& br : {branch_f, branch_b}) {
    br->x_proj->init_bert(gen);
    if (reinit_dt_proj) br->reinit_dt_proj_bert(gen);
  }
}

Tensor InnBiMamba::forward(const Tensor& x_in, const std::vector<int64_t>& lengths, bool faithful) const {
  // y = out_proj(y_f + flip_t(y_b)) with a shared in_proj (SPEC.md 3).
  const int64_t di = dims.d_inner();
  const Tensor x = faithful ? x_in : zero_padding(x_in, lengths);
  Tensor xz = in_proj->forward(x);                                     // (B, L, 2 di)
  Tensor xz_b = flip_within_lengths(xz, lengths, faithful);            // (B, L, 2 di)
  auto split = [&](const Tensor& t, int64_t off) { return t.narrow(2, off, di).transpose(1, 2).contiguous(); };
  Tensor y_f = branch_f->forward(split(xz, 0), split(xz, di));         // (B, di, L)
  Tensor y_b = branch_b->forward(split(xz_b, 0), split(xz_b, di));     // (B, di, L)
  Tensor y = add(y_f.transpose(1, 2), flip_within_lengths(y_b.transpose(1, 2).contiguous(), lengths, faithful));
  return out_proj->forward(y);                                         // (B, L, d_model)
}

}  // namespace hm
