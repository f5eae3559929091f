// MINE statistics network kernels on raw row-major float32 buffers (train/mine.cpp trains it; SPEC.md 8).
//
//   psi(x, y) = w3 . relu(W2 relu(W1 [x; y] + b1) + b2) + b3            W1 (h, dx + dy), W2 (h, h), w3 (1, h)
//   bound     = mean_i psi(x_i, y_i) - (logsumexp_i psi(x_i, y_perm[i]) - log n)     (biased Donsker-Varadhan)
//
// which is `-Mine.forward(x, z)` of the paper's analysis code with loss='mine_biased' (mine/mine.py:
// t = T(x, z).mean(); second_term = logsumexp(t_marg, 0) - log(n); return -t + second_term). One call evaluates
// the joint and the marginal rows together and, when asked, the gradient of the training loss = -bound with
// respect to all six parameters (overwritten, not accumulated), i.e. what loss.backward() leaves in .grad.
//
// The "blas" variant splits W1 = [W1x | W1y]: W1 [x_i; y_perm[i]] = (x W1x^T)_i + (y W1y^T)_perm[i], so the
// first layer costs two (n, h) GEMMs for joint and marginal rows together instead of two (n, 2D) x (2D, h)
// GEMMs; its gradient folds the same way (dW1x = (G_joint + G_marg)^T x, dW1y = (G_joint + P^T G_marg)^T y).
#pragma once
#include <array>
#include <cstdint>

namespace hm::cpu {

// Parameter (or gradient) buffers in torch's nn.Linear layout: w1 (h, dx + dy), b1 (h), w2 (h, h), b2 (h),
// w3 (h) (= weight (1, h)), b3 (1).
template <class P>
struct MineParams {
  P w1, b1, w2, b2, w3, b3;
  std::array<P, 6> all() const { return {w1, b1, w2, b2, w3, b3}; }
};

struct MineShape {
  int64_t n = 0, dx = 0, dy = 0, h = 0;  // pairs, widths of x and y, hidden width
};

// Floats of scratch a call needs for shape s (both variants).
int64_t mine_workspace_floats(const MineShape& s);

// x (n, dx), y (n, dy) rows of the pairs; perm (n) a permutation of [0, n) pairing x_i with y_perm[i] for the
// marginal term. Returns the bound (nats). grad == nullptr: forward only. work: mine_workspace_floats(s) floats.
using MineDvFn = double (*)(const MineShape& s, const MineParams<const float*>& p, const float* x, const float* y,
                            const int64_t* perm, const MineParams<float*>* grad, float* work);

// Reference: direct loops over [x; y] as the definition reads, double accumulation. Slow on purpose.
double mine_dv_scalar(const MineShape& s, const MineParams<const float*>& p, const float* x, const float* y,
                      const int64_t* perm, const MineParams<float*>* grad, float* work);
// Shared first layer (above) + single-call cblas_sgemm for every layer; float32 like the PyTorch original.
double mine_dv_blas(const MineShape& s, const MineParams<const float*>& p, const float* x, const float* y,
                    const int64_t* perm, const MineParams<float*>* grad, float* work);

// The loops between the GEMMs of mine_dv_blas (Highway, dynamic dispatch; cpu/mine_hwy.cpp). h: hidden width.
namespace mine_simd {
// h1 (2n, h): row i = relu(a_i + b1 + b_i), row n + i = relu(a_i + b1 + b_perm[i]); a, b (n, h).
void layer1_relu(const float* a, const float* b, const int64_t* perm, const float* b1, int64_t n, int64_t h, float* h1);
// m (rows, cols) = relu(m + bias) in place.
void bias_relu(float* m, int64_t rows, int64_t cols, const float* bias);
// h2 (rows, cols) = where(h2 > 0, ds[r] * w3[k], 0) in place; colsum (cols) = its column sums.
void relu_outer_grad(float* h2, const float* ds, const float* w3, int64_t rows, int64_t cols, float* colsum);
// dP = where(h1 > 0, dh1, 0) over (2n, h) (marginal rows stored back into dh1); gx (n, h) = dP_joint + dP_marg;
// gy (n, h) = dP_joint + P^T dP_marg (gy[perm[i]] += dP_marg[i]); colsum (h) = column sums of gx.
void relu_mask_fold(float* dh1, const float* h1, const int64_t* perm, int64_t n, int64_t h, float* gx, float* gy,
                    float* colsum);
}  // namespace mine_simd

// MINE's GEMMs are small (about 2.5 M multiply-adds each at the paper's sizes): threads cost more than they
// save (on the 2-core test machine a 2-thread OpenBLAS made one estimate ~60x slower, every GEMM waiting for a
// descheduled worker). MineEstimator holds this scope for a whole call: outside an OpenMP region it sets OpenBLAS
// to one thread and restores the previous count on exit; inside one (the analysis runs calls in parallel) the
// OpenMP build of OpenBLAS is already serial and it does nothing. Several cores serve many calls at once.
class SerialBlasScope {
 public:
  SerialBlasScope();
  ~SerialBlasScope();
  SerialBlasScope(const SerialBlasScope&) = delete;
  SerialBlasScope& operator=(const SerialBlasScope&) = delete;

 private:
  bool active_;
  int saved_;
};

// One step of torch.optim.Adam on a float32 tensor of n elements, in float32 and in the order of PyTorch 1.13's
// _single_tensor_adam (no weight decay, no amsgrad):
//   m = m * beta1 + g * (1 - beta1);  v = v * beta2 + (1 - beta2) * g * g
//   w = w - step_size * m / (sqrt(v) / bias_correction2_sqrt + eps)
// with step_size = lr / (1 - beta1^t) and bias_correction2_sqrt = sqrt(1 - beta2^t) computed by the caller
// (Highway, cpu/mine_hwy.cpp).
void adam_step_f32(float* w, const float* g, float* m, float* v, int64_t n, float beta1, float beta2, float eps,
                   float step_size, float bias_correction2_sqrt);

}  // namespace hm::cpu
