// Power spectra of real frames, |rfft(x)|^2, for the Kaldi-compatible feature front end (train/features.cpp).
// Two variants behind the "power_spectrum" kernel table: a direct O(n^2) DFT in double precision (the reference)
// and FFTW3's single-precision real-to-complex FFT.
#pragma once
#include <cstdint>

namespace hm::cpu {

// in (frames, n) real, n even -> out (frames, n/2 + 1) with out[f, k] = |sum_j in[f, j] e^{-2 pi i j k / n}|^2
// (torch.fft.rfft(x).abs().pow(2), kaldi.py fbank()).
using PowerSpectrumFn = void (*)(const float* in, int64_t frames, int64_t n, float* out);

void power_spectrum_scalar(const float* in, int64_t frames, int64_t n, float* out);
void power_spectrum_fftw(const float* in, int64_t frames, int64_t n, float* out);

}  // namespace hm::cpu
