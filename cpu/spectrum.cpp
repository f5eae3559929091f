// Power spectrum kernels (see cpu/spectrum.h).
//
// Why FFTW3 and not our own FFT: the front end runs a 512-point real FFT per 10 ms frame; FFTW's codelets
// (SIMD, real-input specialised) are the de-facto reference for this and are already a declared dependency
// (libfftw3-dev in tools/install_deps.sh; CMakeLists.txt requires fftw3f, so configuring fails without it). A
// hand-written radix-2 FFT would add ~150 lines to maintain for no accuracy gain; the scalar DFT below stays as
// the independent reference that the conformance test checks FFTW against.
#include "cpu/spectrum.h"

#include <fftw3.h>

#include <cmath>
#include <map>
#include <mutex>
#include <vector>

#include "cpu/parallel.h"
#include "engine/error.h"

namespace hm::cpu {

void power_spectrum_scalar(const float* in, int64_t frames, int64_t n, float* out) {
  check(n >= 2 && n % 2 == 0, "power_spectrum: frame length must be even and >= 2, got ", n);
  const int64_t bins = n / 2 + 1;
  // Twiddles e^{-2 pi i m / n} for m in [0, n): index (j * k) mod n keeps the argument exact.
  std::vector<double> cs(static_cast<size_t>(n)), sn(static_cast<size_t>(n));  // (n,)
  for (int64_t m = 0; m < n; ++m) {
    const double a = 2.0 * M_PI * double(m) / double(n);
    cs[size_t(m)] = std::cos(a);
    sn[size_t(m)] = std::sin(a);
  }
  parallel_for(frames, n * bins * 4, [&](int64_t f0, int64_t f1) {
    for (int64_t f = f0; f < f1; ++f) {
      const float* x = in + f * n;  // (n,)
      float* y = out + f * bins;    // (bins,)
      for (int64_t k = 0; k < bins; ++k) {
        double re = 0, im = 0;
        for (int64_t j = 0; j < n; ++j) {
          const size_t m = size_t((j * k) % n);
          re += double(x[j]) * cs[m];
          im -= double(x[j]) * sn[m];
        }
        y[k] = float(re * re + im * im);
      }
    }
  });
}

namespace {

// FFTW's planner is not thread-safe; executing a plan is (with the new-array interface). Plans are made once
// per size under a lock and kept for the life of the process. FFTW_ESTIMATE (not MEASURE) so that the chosen
// algorithm, and therefore every output bit, is the same on every run and machine load.
fftwf_plan plan_for(int64_t n) {
  static std::mutex mutex;
  static std::map<int64_t, fftwf_plan> plans;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = plans.find(n);
  if (it != plans.end()) return it->second;
  float* in = fftwf_alloc_real(size_t(n));
  fftwf_complex* out = fftwf_alloc_complex(size_t(n / 2 + 1));
  fftwf_plan p = fftwf_plan_dft_r2c_1d(int(n), in, out, FFTW_ESTIMATE);
  fftwf_free(in);
  fftwf_free(out);
  check(p != nullptr, "power_spectrum: FFTW could not plan a real FFT of size ", n);
  plans[n] = p;
  return p;
}

}  // namespace

void power_spectrum_fftw(const float* in, int64_t frames, int64_t n, float* out) {
  check(n >= 2 && n % 2 == 0, "power_spectrum: frame length must be even and >= 2, got ", n);
  const int64_t bins = n / 2 + 1;
  const fftwf_plan plan = plan_for(n);
  parallel_for(frames, n * 20, [&](int64_t f0, int64_t f1) {
    // fftwf_alloc_* buffers have the alignment the plan was made with (new-array execute requires it).
    float* buf = fftwf_alloc_real(size_t(n));                 // (n,)
    fftwf_complex* spec = fftwf_alloc_complex(size_t(bins));  // (bins,) complex
    for (int64_t f = f0; f < f1; ++f) {
      const float* x = in + f * n;
      for (int64_t j = 0; j < n; ++j) buf[j] = x[j];
      fftwf_execute_dft_r2c(plan, buf, spec);
      float* y = out + f * bins;
      for (int64_t k = 0; k < bins; ++k) y[k] = spec[k][0] * spec[k][0] + spec[k][1] * spec[k][1];
    }
    fftwf_free(buf);
    fftwf_free(spec);
  });
}

}  // namespace hm::cpu
