#include "train/features.h"

#include <cfloat>
#include <cmath>

#include "cpu/parallel.h"
#include "engine/error.h"

namespace hm::feat {

KernelTable<cpu::PowerSpectrumFn>& power_spectrum_table() {
  static KernelTable<cpu::PowerSpectrumFn> t("power_spectrum");
  return t;
}
namespace {
const bool kRegScalar = (power_spectrum_table().add("scalar", cpu::power_spectrum_scalar, 0), true);
const bool kRegFftw = (power_spectrum_table().add("fftw", cpu::power_spectrum_fftw, 10), true);

// kaldi.py _next_power_of_2: smallest power of two >= x.
int64_t next_power_of_2(int64_t x) {
  int64_t p = 1;
  while (p < x) p *= 2;
  return p;
}

// kaldi.py mel_scale on float32 tensors: 1127 * log(1 + f / 700), each step rounded to float.
float mel_scale_f(float f) { return 1127.0f * std::log(1.0f + f / 700.0f); }

}  // namespace

KaldiFrontend::KaldiFrontend(const KaldiOptions& opt) : opt_(opt) {
  // _get_waveform_and_window_properties: int(sample_frequency * frame_length * 0.001), same double arithmetic.
  shift_ = int64_t(opt.sample_rate * opt.frame_shift_ms * 0.001);
  win_ = int64_t(opt.sample_rate * opt.frame_length_ms * 0.001);
  nfft_ = next_power_of_2(win_);
  nbins_ = nfft_ / 2 + 1;
  check(win_ >= 2 && shift_ > 0, "kaldi features: bad frame length/shift ", opt.frame_length_ms, " / ",
        opt.frame_shift_ms, " ms at ", opt.sample_rate, " Hz");
  check(opt.preemphasis >= 0 && opt.preemphasis <= 1, "kaldi features: preemphasis must be in [0, 1], got ",
        opt.preemphasis);
  check(opt.num_mel_bins > 3, "kaldi features: need more than 3 mel bins, got ", opt.num_mel_bins);
  check(opt.num_ceps >= 1 && opt.num_ceps <= opt.num_mel_bins, "kaldi features: num_ceps ", opt.num_ceps,
        " must be in [1, num_mel_bins=", opt.num_mel_bins, "]");

  // Povey window: torch.hann_window(N, periodic=False).pow(0.85) = (0.5 - 0.5 cos(2 pi n / (N - 1)))^0.85.
  window_.resize(size_t(win_));
  for (int64_t i = 0; i < win_; ++i)
    window_[size_t(i)] = float(std::pow(0.5 - 0.5 * std::cos(2.0 * M_PI * double(i) / double(win_ - 1)), 0.85));

  // get_mel_banks (vtln_warp = 1). Scalars are Python doubles, tensors float32; we round where torch does.
  const double nyquist = 0.5 * opt.sample_rate;
  const double high = opt.high_freq <= 0 ? opt.high_freq + nyquist : opt.high_freq;
  check(opt.low_freq >= 0 && opt.low_freq < nyquist && high > 0 && high <= nyquist && opt.low_freq < high,
        "kaldi features: bad mel range low ", opt.low_freq, " high ", high, " vs Nyquist ", nyquist);
  const double fft_bin_width = opt.sample_rate / double(nfft_);
  const double mel_low = 1127.0 * std::log(1.0 + opt.low_freq / 700.0);
  const double mel_high = 1127.0 * std::log(1.0 + high / 700.0);
  const double mel_delta = (mel_high - mel_low) / double(opt.num_mel_bins + 1);
  const int nm = opt.num_mel_bins;
  banks_.assign(size_t(nm) * size_t(nbins_), 0.0f);
  bank_lo_.assign(size_t(nm), 0);
  bank_hi_.assign(size_t(nm), 0);
  for (int b = 0; b < nm; ++b) {
    // left_mel = mel_low + bin * mel_delta (float32 tensor ops: product rounded, then sum rounded)
    const float left = float(mel_low) + float(b) * float(mel_delta);
    const float center = float(mel_low) + (float(b) + 1.0f) * float(mel_delta);
    const float right = float(mel_low) + (float(b) + 2.0f) * float(mel_delta);
    int32_t lo = int32_t(nbins_), hi = 0;
    for (int64_t k = 0; k < nfft_ / 2; ++k) {  // num_fft_bins = nfft/2; the Nyquist column is padded with 0
      const float mel = mel_scale_f(float(fft_bin_width) * float(k));
      const float up = (mel - left) / (center - left);
      const float down = (right - mel) / (right - center);
      const float w = std::max(0.0f, std::min(up, down));
      banks_[size_t(b) * size_t(nbins_) + size_t(k)] = w;
      if (w > 0) lo = std::min(lo, int32_t(k)), hi = int32_t(k) + 1;
    }
    bank_lo_[size_t(b)] = lo < hi ? lo : 0;
    bank_hi_[size_t(b)] = lo < hi ? hi : 0;
  }

  // _get_dct_matrix: torchaudio create_dct(nm, nm, "ortho")[:, :num_ceps] with column 0 = sqrt(1/nm), i.e.
  // dct[n, k] = cos(pi / nm * (n + 0.5) * k) * sqrt(2 / nm) for k >= 1 (float32: argument and cosine in float).
  // _get_lifter_coeffs: 1 + 0.5 * L * sin(pi * k / L), folded into the columns (feature *= lifter).
  const int nc = opt.num_ceps;
  dct_.assign(size_t(nm) * size_t(nc), 0.0f);
  for (int n = 0; n < nm; ++n)
    for (int k = 0; k < nc; ++k) {
      float v;
      if (k == 0) {
        v = float(std::sqrt(1.0 / double(nm)));
      } else {
        const float arg = (float(M_PI / double(nm)) * (float(n) + 0.5f)) * float(k);
        v = std::cos(arg) * float(std::sqrt(2.0 / double(nm)));
      }
      if (opt.cepstral_lifter != 0) {
        const float s = std::sin(float(M_PI) * float(k) / float(opt.cepstral_lifter));
        v *= 1.0f + float(0.5 * opt.cepstral_lifter) * s;
      }
      dct_[size_t(n) * size_t(nc) + size_t(k)] = v;
    }
}

int64_t KaldiFrontend::num_frames(int64_t num_samples) const {
  // _get_strided with snip_edges=True: m = 1 + (num_samples - window_size) // window_shift.
  return num_samples < win_ ? 0 : 1 + (num_samples - win_) / shift_;
}

Tensor KaldiFrontend::log_mel(const float* wav, int64_t n, const std::string& source) const {
  // torchaudio asserts 2 <= window_size <= len(waveform) (_get_waveform_and_window_properties).
  check(n >= win_, source, ": ", n, " samples is shorter than one ", opt_.frame_length_ms, " ms frame (", win_,
        " samples at ", opt_.sample_rate, " Hz); torchaudio.compliance.kaldi rejects it too");
  for (int64_t i = 0; i < n; ++i)
    check(std::isfinite(wav[i]), source, ": waveform sample ", i, " is not finite (", wav[i], ")");
  const int64_t T = num_frames(n);
  std::vector<float> frames(size_t(T * nfft_));  // (T, nfft) windowed frames, zero padded
  const float preemph = float(opt_.preemphasis);
  cpu::parallel_for(T, win_ * 8, [&](int64_t t0, int64_t t1) {
    std::vector<float> x(static_cast<size_t>(win_));  // (win,)
    for (int64_t t = t0; t < t1; ++t) {
      const float* src = wav + t * shift_;
      // remove_dc_offset: strided_input - mean(strided_input, dim=1)
      double sum = 0;
      for (int64_t j = 0; j < win_; ++j) sum += src[j];
      const float mean = float(sum / double(win_));
      for (int64_t j = 0; j < win_; ++j) x[size_t(j)] = src[j] - mean;
      float* dst = frames.data() + t * nfft_;
      // pre-emphasis with replicate padding: x[j] - 0.97 * x[max(0, j - 1)]; then the povey window
      for (int64_t j = 0; j < win_; ++j) {
        const float prev = x[size_t(j > 0 ? j - 1 : 0)];
        dst[j] = (x[size_t(j)] - preemph * prev) * window_[size_t(j)];
      }
      for (int64_t j = win_; j < nfft_; ++j) dst[j] = 0.0f;
    }
  });
  std::vector<float> power(size_t(T * nbins_));  // (T, nfft/2 + 1)
  power_spectrum_table().get()(frames.data(), T, nfft_, power.data());

  // mel_energies = spectrum @ banks.T, then log(max(e, FLT_EPSILON)); only each filter's nonzero range is summed.
  const int64_t nm = opt_.num_mel_bins;
  Tensor out = empty({T, nm});  // (T, num_mel_bins)
  float* po = out.data<float>();
  cpu::parallel_for(T, nbins_ * 2, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* p = power.data() + t * nbins_;
      for (int64_t b = 0; b < nm; ++b) {
        const float* w = banks_.data() + b * nbins_;
        float e = 0;
        for (int32_t k = bank_lo_[size_t(b)]; k < bank_hi_[size_t(b)]; ++k) e += p[k] * w[k];
        po[t * nm + b] = std::log(std::max(e, FLT_EPSILON));
      }
    }
  });
  return out;
}

Tensor KaldiFrontend::fbank(const float* wav, int64_t n, const std::string& source) const {
  return log_mel(wav, n, source);
}

Tensor KaldiFrontend::mfcc(const float* wav, int64_t n, const std::string& source) const {
  const Tensor mel = log_mel(wav, n, source);  // (T, nm)
  const int64_t T = mel.size(0), nm = opt_.num_mel_bins, nc = opt_.num_ceps;
  Tensor out = empty({T, nc});  // (T, num_ceps)
  const float* pm = mel.data<float>();
  float* po = out.data<float>();
  // feature = feature.matmul(dct_matrix) * lifter_coeffs (lifter folded into dct_)
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < nc; ++k) {
      float s = 0;
      for (int64_t b = 0; b < nm; ++b) s += pm[t * nm + b] * dct_[size_t(b * nc + k)];
      po[t * nc + k] = s;
    }
  return out;
}

Tensor compute_deltas(const Tensor& x_in, int win_length) {
  check(win_length >= 3, "compute_deltas: win_length must be >= 3, got ", win_length);
  check(x_in.dim() == 2 && x_in.dtype() == DType::f32, "compute_deltas: expected a (T, F) float32 tensor, got ",
        shape_str(x_in.shape()), " ", x_in.dtype());
  const Tensor x = x_in.contiguous();
  const int64_t T = x.size(0), F = x.size(1), N = (win_length - 1) / 2;
  // denom = N (N + 1) (2N + 1) / 3 (a Python float); torchaudio pads with mode="replicate" and runs conv1d with
  // kernel arange(-N, N + 1), then divides.
  const float denom = float(double(N * (N + 1) * (2 * N + 1)) / 3.0);
  Tensor out = empty({T, F});  // (T, F)
  const float* px = x.data<float>();
  float* po = out.data<float>();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t f = 0; f < F; ++f) {
      float s = 0;
      for (int64_t i = -N; i <= N; ++i) {
        const int64_t ti = std::clamp<int64_t>(t + i, 0, T - 1);
        s += float(i) * px[ti * F + f];
      }
      po[t * F + f] = s / denom;
    }
  return out;
}

FeatureKind parse_feature_kind(const std::string& name) {
  if (name == "mfcc") return FeatureKind::mfcc39;
  if (name == "fbank") return FeatureKind::fbank80;
  throw Error(cat("features: unknown kind '", name, "' (expected mfcc or fbank)"));
}

const char* feature_kind_name(FeatureKind kind) { return kind == FeatureKind::mfcc39 ? "mfcc" : "fbank"; }

int64_t feature_dim(FeatureKind kind) { return kind == FeatureKind::mfcc39 ? 39 : 80; }

namespace {
const KaldiFrontend& frontend(FeatureKind kind) {
  static const KaldiFrontend mfcc_frontend{KaldiOptions{}};
  static const KaldiFrontend fbank_frontend{[] {
    KaldiOptions o;
    o.num_mel_bins = 80;
    return o;
  }()};
  return kind == FeatureKind::mfcc39 ? mfcc_frontend : fbank_frontend;
}
}  // namespace

Tensor compute_features(const std::vector<float>& wav, FeatureKind kind, const std::string& source) {
  const KaldiFrontend& fe = frontend(kind);
  if (kind == FeatureKind::fbank80) return fe.fbank(wav.data(), int64_t(wav.size()), source);
  // dump_mfcc_feature.py: deltas of the mfcc, then deltas of the deltas, concatenated along features.
  const Tensor m = fe.mfcc(wav.data(), int64_t(wav.size()), source);  // (T, 13)
  const Tensor d = compute_deltas(m);
  const Tensor dd = compute_deltas(d);
  const int64_t T = m.size(0), c = m.size(1);
  Tensor out = empty({T, 3 * c});  // (T, 39)
  float* po = out.data<float>();
  const float* parts[3] = {m.data<float>(), d.data<float>(), dd.data<float>()};
  for (int64_t t = 0; t < T; ++t)
    for (int p = 0; p < 3; ++p)
      for (int64_t f = 0; f < c; ++f) po[t * 3 * c + p * c + f] = parts[p][t * c + f];
  return out;
}

std::vector<Tensor> compute_features_batch(const std::vector<std::vector<float>>& wavs, FeatureKind kind) {
  std::vector<Tensor> out(wavs.size());
  std::vector<std::string> errors(wavs.size());
  // One utterance per task; dynamic scheduling because utterance lengths differ. Exceptions cannot leave an
  // OpenMP region, so they are collected and the first is rethrown.
#pragma omp parallel for schedule(dynamic, 1) num_threads(cpu::num_threads())
  for (int64_t i = 0; i < int64_t(wavs.size()); ++i) {
    try {
      out[size_t(i)] = compute_features(wavs[size_t(i)], kind, cat("utterance ", i));
    } catch (const std::exception& e) {
      errors[size_t(i)] = e.what();
    }
  }
  for (const std::string& e : errors) check(e.empty(), e);
  return out;
}

}  // namespace hm::feat
