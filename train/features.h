// Kaldi-compatible speech features, bit-for-bit in intent with torchaudio.compliance.kaldi (0.13) as fairseq's
// HuBERT recipe calls it (SPEC.md 6):
//   * MFCC targets for iteration 1 (examples/hubert/simple_kmeans/dump_mfcc_feature.py):
//       kaldi.mfcc(x, sample_frequency=16000, use_energy=False)  -> (T, 13)
//       + compute_deltas (window 5, edge replicate) + delta-delta -> (T, 39) at 100 Hz
//   * 80-d log-mel filterbank (kaldi.fbank(x, num_mel_bins=80)) for the from-scratch ASR models.
// Fixed Kaldi defaults: povey window, pre-emphasis 0.97, DC removal, 25 ms / 10 ms frames, snip_edges, dither 0,
// FFT size rounded up to a power of two (512 at 16 kHz), power spectrum, log floor FLT_EPSILON, low 20 Hz,
// high = Nyquist, cepstral lifter 22. Waveforms are float in [-1, 1] (fairseq reads with soundfile, not Kaldi's
// int16 scale).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cpu/spectrum.h"
#include "engine/tensor.h"
#include "ops/registry.h"

namespace hm::feat {

// The "power_spectrum" kernel table (variants: scalar DFT reference, fftw).
KernelTable<cpu::PowerSpectrumFn>& power_spectrum_table();

struct KaldiOptions {
  double sample_rate = 16000;
  double frame_length_ms = 25, frame_shift_ms = 10;
  double preemphasis = 0.97;
  int num_mel_bins = 23;
  double low_freq = 20, high_freq = 0;  // high_freq <= 0 is an offset from the Nyquist frequency
  int num_ceps = 13;                    // mfcc only
  double cepstral_lifter = 22;          // mfcc only; 0 disables
};

// Precomputed window, mel filters and DCT for one set of options. Const methods are safe to call from many
// threads at once.
class KaldiFrontend {
 public:
  explicit KaldiFrontend(const KaldiOptions& opt = {});

  int64_t window_size() const { return win_; }     // samples per frame (400 at 16 kHz)
  int64_t window_shift() const { return shift_; }  // samples between frames (160)
  int64_t fft_size() const { return nfft_; }       // 512
  // snip_edges: frames that fit completely; 0 when the waveform is shorter than one frame.
  int64_t num_frames(int64_t num_samples) const;

  // kaldi.fbank: (n,) waveform -> (T, num_mel_bins) log mel energies. `source` names the input in errors.
  Tensor fbank(const float* wav, int64_t n, const std::string& source) const;
  // kaldi.mfcc with use_energy=False: (T, num_ceps).
  Tensor mfcc(const float* wav, int64_t n, const std::string& source) const;

  // The mel filterbank as torchaudio's get_mel_banks builds it (float32 arithmetic in the same order):
  // (num_mel_bins, fft_size/2 + 1), last column (Nyquist) zero.
  const std::vector<float>& mel_banks() const { return banks_; }

 private:
  Tensor log_mel(const float* wav, int64_t n, const std::string& source) const;
  KaldiOptions opt_;
  int64_t win_ = 0, shift_ = 0, nfft_ = 0, nbins_ = 0;  // nbins_ = nfft_/2 + 1
  std::vector<float> window_;                           // (win_,) povey
  std::vector<float> banks_;                            // (num_mel_bins, nbins_) dense, for inspection
  std::vector<int32_t> bank_lo_, bank_hi_;              // (num_mel_bins,) nonzero column range [lo, hi)
  std::vector<float> dct_;                              // (num_mel_bins, num_ceps), liftering folded in
};

// torchaudio.functional.compute_deltas over time, with edge replication:
//   d[t] = sum_{i=1..N} i * (x[t+i] - x[t-i]) / (2 sum_{i=1..N} i^2),  N = (win_length - 1) / 2
// x (T, F) float32 -> (T, F). win_length >= 3 and odd-or-even as torchaudio (N = (win-1)/2).
Tensor compute_deltas(const Tensor& x, int win_length = 5);

enum class FeatureKind { mfcc39, fbank80 };
FeatureKind parse_feature_kind(const std::string& name);  // "mfcc" | "fbank"
const char* feature_kind_name(FeatureKind kind);
int64_t feature_dim(FeatureKind kind);  // 39 | 80

// The full recipe for one utterance: mfcc39 = [mfcc, delta, delta-delta] (T, 39); fbank80 = (T, 80).
// Throws hm::Error naming `source` when the waveform is shorter than one frame (torchaudio asserts there too)
// or contains NaN/Inf.
Tensor compute_features(const std::vector<float>& wav, FeatureKind kind, const std::string& source);

// Many utterances, threaded over utterances (hm::cpu::num_threads()). Output i belongs to wavs[i].
std::vector<Tensor> compute_features_batch(const std::vector<std::vector<float>>& wavs, FeatureKind kind);

}  // namespace hm::feat
