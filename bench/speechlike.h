// Deterministic speech-like audio for the feature and k-means benchmarks (no corpus needed): a sequence of
// 50-150 ms segments, each a vowel (glottal pulse train at 90-220 Hz through three formant resonators from a
// table of ten English vowels), a fricative (noise through a wide high resonance) or near-silence. The MFCCs of
// this signal cluster the way phone classes do, which is what the k-means benchmark needs.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/rng.h"

namespace hm::bench {

inline std::vector<float> speechlike(int64_t num_samples, uint64_t seed, int sample_rate = 16000) {
  static const double kVowels[10][3] = {{270, 2290, 3010}, {530, 1840, 2480}, {730, 1090, 2440}, {570, 840, 2410},
                                        {300, 870, 2240},  {660, 1720, 2410}, {490, 1350, 1690}, {390, 1990, 2550},
                                        {440, 1020, 2240}, {640, 1190, 2390}};
  Generator gen(seed);
  std::vector<float> out(static_cast<size_t>(num_samples), 0.0f);
  const double fs = sample_rate;
  // Two-pole resonator y[n] = g x[n] + 2 r cos(theta) y[n-1] - r^2 y[n-2] (theta = 2 pi F / fs, r = e^{-pi B / fs}).
  struct Resonator {
    double a1 = 0, a2 = 0, g = 1, y1 = 0, y2 = 0;
    void set(double f, double bw, double fs) {
      const double r = std::exp(-M_PI * bw / fs);
      a1 = 2 * r * std::cos(2 * M_PI * f / fs);
      a2 = -r * r;
      g = 1 - r;
    }
    double step(double x) {
      const double y = g * x + a1 * y1 + a2 * y2;
      y2 = y1;
      y1 = y;
      return y;
    }
  };
  Resonator f[3];
  double phase = 0;
  for (int64_t pos = 0; pos < num_samples;) {
    const int64_t len = int64_t(fs * (0.05 + 0.1 * gen.next_double()));
    const double u = gen.next_double();
    const int kind = u < 0.65 ? 0 : (u < 0.85 ? 1 : 2);  // vowel, fricative, silence
    const auto& v = kVowels[gen.next_below(10)];
    const double f0 = 90 + 130 * gen.next_double(), amp = 0.2 + 0.6 * gen.next_double();
    if (kind == 0)
      for (int i = 0; i < 3; ++i) f[i].set(v[i], 60 + 40 * i, fs);
    else
      f[0].set(2500 + 3500 * gen.next_double(), 1500, fs);
    for (int64_t n = 0; n < len && pos < num_samples; ++n, ++pos) {
      const double noise = 2 * gen.next_double() - 1;
      double s;
      if (kind == 0) {
        phase += f0 / fs;
        const double pulse = phase >= 1 ? (phase -= 1, 1.0) : 0.0;
        s = f[2].step(f[1].step(f[0].step(pulse * 40))) + 0.002 * noise;
      } else if (kind == 1) {
        s = 0.3 * f[0].step(noise);
      } else {
        s = 0.001 * noise;
      }
      out[size_t(pos)] = float(amp * s);
    }
  }
  double peak = 1e-9;
  for (float s : out) peak = std::max(peak, double(std::abs(s)));
  for (float& s : out) s = float(s * 0.5 / peak);  // peak at half scale
  return out;
}

}  // namespace hm::bench
