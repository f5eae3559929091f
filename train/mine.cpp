#include "train/mine.h"

#include <cmath>
#include <cstring>

#include "models/layers.h"

namespace hm {

KernelTable<cpu::MineDvFn>& mine_dv_table() {
  static KernelTable<cpu::MineDvFn> table("mine_dv");
  return table;
}

namespace {
const bool kRegScalar = (mine_dv_table().add("scalar", cpu::mine_dv_scalar, 0), true);
const bool kRegBlas = (mine_dv_table().add("blas", cpu::mine_dv_blas, 10), true);
}  // namespace

// nn.Sequential(Linear(2D, h), ReLU, Linear(h, h), ReLU, Linear(h, 1)) of MI_Calculator.py; the parameters live
// here (named like the torch modules, PyTorch default init), the arithmetic in the mine_dv kernels.
class MineNetwork : public Module {
 public:
  MineNetwork(int64_t d_in, int64_t hidden, Generator& gen) {
    fc1 = register_module("fc1", std::make_shared<Linear>(d_in, hidden, true, gen));
    fc2 = register_module("fc2", std::make_shared<Linear>(hidden, hidden, true, gen));
    fc3 = register_module("fc3", std::make_shared<Linear>(hidden, 1, true, gen));
  }
  std::vector<Tensor> tensors() const {
    return {fc1->weight, fc1->bias, fc2->weight, fc2->bias, fc3->weight, fc3->bias};
  }
  cpu::MineParams<float*> params() const {
    return {fc1->weight.data<float>(), fc1->bias.data<float>(),   fc2->weight.data<float>(),
            fc2->bias.data<float>(),   fc3->weight.data<float>(), fc3->bias.data<float>()};
  }
  std::shared_ptr<Linear> fc1, fc2, fc3;
};

namespace {

// Six float buffers shaped like the network's parameters (gradients, Adam moments), zero-initialised.
struct ParamBuffers {
  std::vector<std::vector<float>> b;
  explicit ParamBuffers(const MineNetwork& net) {
    for (const Tensor& t : net.tensors()) b.emplace_back(size_t(t.numel()), 0.0f);
  }
  cpu::MineParams<float*> ptrs() {
    return {b[0].data(), b[1].data(), b[2].data(), b[3].data(), b[4].data(), b[5].data()};
  }
};

cpu::MineParams<const float*> as_const(const cpu::MineParams<float*>& p) {
  return {p.w1, p.b1, p.w2, p.b2, p.w3, p.b3};
}

}  // namespace

void check_mi_inputs(const Tensor& x, const Tensor& y, const std::string& wx, const std::string& wy) {
  for (const auto& [t, what] : {std::pair{x, wx}, {y, wy}}) {
    check(t.defined() && t.dim() == 2, "mi: ", what, ": expected a (T, D) array, got shape ",
          t.defined() ? t.shape() : Shape{});
    check(t.dtype() == DType::f32 || t.dtype() == DType::f64, "mi: ", what, ": expected float32 or float64, got ",
          t.dtype());
    check(t.size(1) >= 1, "mi: ", what, ": has no feature dimensions (shape ", t.shape(), ")");
  }
  check(x.size(0) == y.size(0), "mi: ", wx, " has ", x.size(0), " frames but ", wy, " has ", y.size(0), " (shapes ",
        x.shape(), " and ", y.shape(), ")");
  check(x.size(0) >= 2, "mi: need at least 2 frames, got ", x.size(0));
  for (const auto& [t, what] : {std::pair{x, wx}, {y, wy}}) {
    const std::vector<double> v = t.to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i)
      check(std::isfinite(v[i]), "mi: ", what, ": non-finite value ", v[i], " at frame ", int64_t(i) / t.size(1),
            ", dim ", int64_t(i) % t.size(1));
  }
}

MineEstimator::MineEstimator(int64_t dx, int64_t dy, const MineConfig& cfg)
    : dx_(dx), dy_(dy), cfg_(cfg), gen_(cfg.seed) {
  check(dx >= 1 && dy >= 1, "mi: input widths must be >= 1, got ", dx, " and ", dy);
  check(cfg.epochs >= 0 && cfg.batch_size >= 2 && cfg.hidden >= 1 && cfg.lr > 0, "mi: bad MINE config (epochs ",
        cfg.epochs, ", batch size ", cfg.batch_size, ", hidden ", cfg.hidden, ", lr ", cfg.lr, ")");
  reset();
}
MineEstimator::~MineEstimator() = default;

void MineEstimator::reset() {
  // The initialisation stream is separate from the shuffling stream so a reset always gives the same weights.
  Generator init_gen(cfg_.seed * 2654435761ULL + 1);
  net_ = std::make_unique<MineNetwork>(dx_ + dy_, cfg_.hidden, init_gen);
}

namespace {

// torch.randperm(n): a uniform random permutation (Fisher-Yates).
std::vector<int64_t> randperm(int64_t n, Generator& gen) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(gen.next_below(uint64_t(i + 1)))]);
  return p;
}

// dst (n, d) = rows idx[0..n) of src (T, d).
void gather_rows(const float* src, int64_t d, const int64_t* idx, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * d, src + idx[i] * d, size_t(d) * sizeof(float));
}

}  // namespace

void MineEstimator::check_inputs(const Tensor& x, const Tensor& y) const {
  check_mi_inputs(x, y, "X", "Y");
  check(x.size(1) == dx_ && y.size(1) == dy_, "mi: estimator built for widths (", dx_, ", ", dy_, "), got (", x.size(1),
        ", ", y.size(1), ")");
}

// final_mi = self.mi(X, Y): the bound on all T frames of x, y (T, d) f32 contiguous with a fresh random pairing
// (Mine.forward: z_marg = z[torch.randperm(x.shape[0])]), no gradient.
double MineEstimator::bound_all_frames(const Tensor& x, const Tensor& y, float* work) {
  const int64_t T = x.size(0);
  const std::vector<int64_t> pi = randperm(T, gen_);
  return mine_dv_table().get()({T, dx_, dy_, cfg_.hidden}, as_const(net_->params()), x.data<float>(), y.data<float>(),
                               pi.data(), nullptr, work);
}

double MineEstimator::estimate(const Tensor& x_in, const Tensor& y_in, bool reset_between_calls) {
  check_inputs(x_in, y_in);
  if (reset_between_calls) reset();
  const cpu::SerialBlasScope serial;
  const Tensor x = x_in.to(DType::f32).contiguous(), y = y_in.to(DType::f32).contiguous();  // (T, dx), (T, dy)
  const int64_t T = x.size(0), bs = std::min(cfg_.batch_size, T);
  const cpu::MineDvFn dv = mine_dv_table().get();
  // torch.optim.Adam(lr) with its defaults (betas 0.9/0.999, eps 1e-8, no decay), fresh per call like
  // optimize(opt=None): zero moments, step count from 0.
  const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  ParamBuffers grad_buf(*net_), m_buf(*net_), v_buf(*net_);
  const cpu::MineParams<float*> w = net_->params(), grads = grad_buf.ptrs(), m = m_buf.ptrs(), v = v_buf.ptrs();
  const std::vector<Tensor> tensors = net_->tensors();
  auto adam_step = [&](int64_t t) {
    // _single_tensor_adam: step_size = lr / (1 - beta1^t), bias_correction2_sqrt = sqrt(1 - beta2^t) (doubles).
    const double step_size = cfg_.lr / (1 - std::pow(beta1, double(t)));
    const double bc2_sqrt = std::sqrt(1 - std::pow(beta2, double(t)));
    const auto wp = w.all(), gp = grads.all(), mp = m.all(), vp = v.all();
    for (size_t k = 0; k < tensors.size(); ++k)
      cpu::adam_step_f32(wp[k], gp[k], mp[k], vp[k], tensors[k].numel(), float(beta1), float(beta2), float(eps),
                         float(step_size), float(bc2_sqrt));
  };
  std::vector<float> xb(size_t(bs * dx_)), yb(size_t(bs * dy_));  // (bs, dx), (bs, dy) minibatch rows
  std::vector<float> work(size_t(cpu::mine_workspace_floats({T, dx_, dy_, cfg_.hidden})));
  curve_.clear();
  steps_ = 0;
  // helpers.batch: range(n // batch_size) full minibatches; without drop_last a final partial one (if >= 2).
  const int64_t full = T / bs, batches = cfg_.drop_last || T % bs < 2 ? full : full + 1;
  for (int64_t epoch = 0; epoch < cfg_.epochs; ++epoch) {
    const std::vector<int64_t> order = randperm(T, gen_);  // x = x[rand_perm]; y = y[rand_perm]
    double sum = 0;
    for (int64_t b = 0; b < batches; ++b) {
      const int64_t n = std::min(bs, T - b * bs);
      gather_rows(x.data<float>(), dx_, order.data() + b * bs, n, xb.data());
      gather_rows(y.data<float>(), dy_, order.data() + b * bs, n, yb.data());
      const std::vector<int64_t> perm = randperm(n, gen_);  // z_marg = z[torch.randperm(x.shape[0])]
      sum += dv({n, dx_, dy_, cfg_.hidden}, as_const(w), xb.data(), yb.data(), perm.data(), &grads, work.data());
      adam_step(++steps_);
    }
    curve_.push_back(sum / double(batches));
  }
  return bound_all_frames(x, y, work.data());
}

}  // namespace hm
