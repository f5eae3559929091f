// Reference attention kernels: the textbook formulas with plain loops and the full (Tq, Tk) probability matrix
// per (b, h). Written for clarity, not speed; every other variant is checked against these.
//
// Forward (PyTorch reference: torch.softmax(q @ k.transpose(-2, -1) * scale + mask, -1) @ v):
//   S_ij = scale * q_i . k_j,  masked -> -inf;  P_ij = exp(S_ij - max_i) / sum_j exp(S_ij - max_i)
//   lse_i = max_i + log(sum_j exp(S_ij - max_i));  out_i = sum_j P_ij keep_ij v_j
// Backward (softmax Jacobian dS_ij = P_ij (dP_ij - sum_l dP_il P_il)):
//   dPd_ij = dout_i . v_j;  dP_ij = dPd_ij keep_ij;  dS_ij = P_ij (dP_ij - sum_l dP_il P_il)
//   dq_i = scale sum_j dS_ij k_j;  dk_j = scale sum_i dS_ij q_i;  dv_j = sum_i P_ij keep_ij dout_i
// The reference recomputes P from q and k and the row sums from dP and P, so it depends on neither the saved
// lse nor the identity sum_l dP_il P_il = dout_i . out_i that the fast variant uses.
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/attention.h"
#include "cpu/parallel.h"
#include "engine/rng.h"

namespace hm::cpu {

uint32_t dropout_threshold(double p) {
  const double t = std::ceil(p * 4294967296.0);  // p * 2^32
  return t >= 4294967295.0 ? 0xFFFFFFFFu : uint32_t(t);
}

namespace scalar {
namespace {

// keep_ij / (1 - p) for dropout element e (layout in cpu/attention.h): one Philox block per element.
template <class T>
T keep_factor(const AttentionDims& d, uint64_t e, uint32_t threshold) {
  if (d.dropout_p <= 0) return T(1);
  const auto r = philox4x32(d.seed, d.offset + e / 4, 0);
  return r[e % 4] >= threshold ? T(1.0 / (1.0 - d.dropout_p)) : T(0);
}

// P (Tq, Tk) for one (b, h): masked entries and fully masked rows are 0. lse (Tq) may be null.
template <class T>
void probabilities(const AttentionDims& d, const T* q, const T* k, const uint8_t* pad, T* P, T* lse) {
  const int64_t Tq = d.Tq, Tk = d.Tk, Dh = d.Dh;
  for (int64_t i = 0; i < Tq; ++i) {
    T* row = P + i * Tk;
    T mx = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < Tk; ++j) {
      const bool masked = (pad && pad[j]) || (d.causal && j > i);
      T s = 0;
      for (int64_t c = 0; c < Dh; ++c) s += q[i * Dh + c] * k[j * Dh + c];
      row[j] = masked ? -std::numeric_limits<T>::infinity() : T(d.scale) * s;
      if (row[j] > mx) mx = row[j];
    }
    if (mx == -std::numeric_limits<T>::infinity()) {  // every key masked: zeros (cpu/attention.h)
      for (int64_t j = 0; j < Tk; ++j) row[j] = 0;
      if (lse) lse[i] = mx;
      continue;
    }
    T sum = 0;
    for (int64_t j = 0; j < Tk; ++j) {
      row[j] = std::exp(row[j] - mx);  // exp(-inf) = 0 for masked keys
      sum += row[j];
    }
    for (int64_t j = 0; j < Tk; ++j) row[j] /= sum;
    if (lse) lse[i] = mx + std::log(sum);
  }
}

}  // namespace

template <class T>
void attention_forward(const AttentionDims& d, const T* q, const T* k, const T* v, const uint8_t* key_padding, T* out,
                       T* lse) {
  const int64_t Tq = d.Tq, Tk = d.Tk, Dh = d.Dh;
  const uint32_t threshold = dropout_threshold(d.dropout_p);
  parallel_for(d.B * d.H, Tq * Tk * Dh * 4, [&](int64_t bh0, int64_t bh1) {
    std::vector<T> P(size_t(Tq * Tk));  // (Tq, Tk)
    for (int64_t bh = bh0; bh < bh1; ++bh) {
      const uint8_t* pad = key_padding ? key_padding + (bh / d.H) * Tk : nullptr;
      const T* qb = q + bh * Tq * Dh;  // (Tq, Dh)
      const T* kb = k + bh * Tk * Dh;  // (Tk, Dh)
      const T* vb = v + bh * Tk * Dh;  // (Tk, Dh)
      T* ob = out + bh * Tq * Dh;      // (Tq, Dh)
      probabilities(d, qb, kb, pad, P.data(), lse + bh * Tq);
      for (int64_t i = 0; i < Tq; ++i) {
        for (int64_t c = 0; c < Dh; ++c) ob[i * Dh + c] = 0;
        for (int64_t j = 0; j < Tk; ++j) {
          const T pd = P[i * Tk + j] * keep_factor<T>(d, uint64_t((bh * Tq + i) * Tk + j), threshold);
          for (int64_t c = 0; c < Dh; ++c) ob[i * Dh + c] += pd * vb[j * Dh + c];
        }
      }
    }
  });
}

template <class T>
void attention_backward(const AttentionDims& d, const T* q, const T* k, const T* v, const uint8_t* key_padding,
                        const T* /*out*/, const T* /*lse*/, const T* dout, T* dq, T* dk, T* dv) {
  const int64_t Tq = d.Tq, Tk = d.Tk, Dh = d.Dh;
  const uint32_t threshold = dropout_threshold(d.dropout_p);
  parallel_for(d.B * d.H, Tq * Tk * Dh * 10, [&](int64_t bh0, int64_t bh1) {
    std::vector<T> P(size_t(Tq * Tk)), dS(size_t(Tq * Tk));  // (Tq, Tk) each
    for (int64_t bh = bh0; bh < bh1; ++bh) {
      const uint8_t* pad = key_padding ? key_padding + (bh / d.H) * Tk : nullptr;
      const T* qb = q + bh * Tq * Dh;      // (Tq, Dh)
      const T* kb = k + bh * Tk * Dh;      // (Tk, Dh)
      const T* vb = v + bh * Tk * Dh;      // (Tk, Dh)
      const T* gob = dout + bh * Tq * Dh;  // (Tq, Dh)
      T* dqb = dq + bh * Tq * Dh;          // (Tq, Dh)
      T* dkb = dk + bh * Tk * Dh;          // (Tk, Dh)
      T* dvb = dv + bh * Tk * Dh;          // (Tk, Dh)
      probabilities<T>(d, qb, kb, pad, P.data(), nullptr);
      for (int64_t x = 0; x < Tk * Dh; ++x) dkb[x] = dvb[x] = 0;
      for (int64_t i = 0; i < Tq; ++i) {
        T rowsum = 0;  // sum_l dP_il P_il
        for (int64_t j = 0; j < Tk; ++j) {
          const T keep = keep_factor<T>(d, uint64_t((bh * Tq + i) * Tk + j), threshold);
          const T pij = P[i * Tk + j];
          T dpd = 0;
          for (int64_t c = 0; c < Dh; ++c) {
            dpd += gob[i * Dh + c] * vb[j * Dh + c];
            dvb[j * Dh + c] += pij * keep * gob[i * Dh + c];
          }
          dS[i * Tk + j] = dpd * keep;  // dP for now
          rowsum += dS[i * Tk + j] * pij;
        }
        for (int64_t j = 0; j < Tk; ++j) dS[i * Tk + j] = P[i * Tk + j] * (dS[i * Tk + j] - rowsum);
      }
      for (int64_t i = 0; i < Tq; ++i) {
        for (int64_t c = 0; c < Dh; ++c) dqb[i * Dh + c] = 0;
        for (int64_t j = 0; j < Tk; ++j) {
          const T ds = T(d.scale) * dS[i * Tk + j];
          for (int64_t c = 0; c < Dh; ++c) {
            dqb[i * Dh + c] += ds * kb[j * Dh + c];
            dkb[j * Dh + c] += ds * qb[i * Dh + c];
          }
        }
      }
    }
  });
}

template void attention_forward<float>(const AttentionDims&, const float*, const float*, const float*, const uint8_t*,
                                       float*, float*);
template void attention_forward<double>(const AttentionDims&, const double*, const double*, const double*,
                                        const uint8_t*, double*, double*);
template void attention_backward<float>(const AttentionDims&, const float*, const float*, const float*, const uint8_t*,
                                        const float*, const float*, const float*, float*, float*, float*);
template void attention_backward<double>(const AttentionDims&, const double*, const double*, const double*,
                                         const uint8_t*, const double*, const double*, const double*, double*, double*,
                                         double*);

}  // namespace scalar
}  // namespace hm::cpu
