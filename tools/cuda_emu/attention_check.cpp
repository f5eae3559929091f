// The emulated CUDA attention kernels (tools/cuda_emu/run_attention.sh) against hm::cpu::scalar on small cases:
// every variant, f32 / f64 / bf16, NaN-poisoned outputs, tolerances as tests/test_cuda_attention.cpp.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/attention.h"
#include "cuda/attention.h"
#include "engine/rng.h"

using namespace hm;

static uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
static float from_bf16(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

struct Case {
  int64_t B, H, Tq, Tk, Dh;
  bool causal, mask;
  double p;
};

static int failures = 0;
template <class X, class Y>
void cmp(const char* what, const std::string& tag, const std::vector<X>& got, const std::vector<Y>& ref, double rel) {
  double scale = 0;
  for (auto v : ref)
    if (std::isfinite(double(v))) scale = std::max(scale, std::abs(double(v)));
  double worst = 0;
  size_t wi = 0;
  bool bad = false;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double x = double(got[i]), y = double(ref[i]);
    if (std::isinf(y) && x == y) continue;
    const double e = std::abs(x - y);
    if (!(e <= rel * std::max(scale, 1e-30))) {
      if (!bad || e > worst || std::isnan(e)) worst = e, wi = i;
      bad = true;
    }
  }
  if (bad) {
    ++failures;
    std::printf("FAIL %s %s: element %zu got %g want %g (scale %g)\n", tag.c_str(), what, wi, double(got[wi]),
                double(ref[wi]), scale);
  }
}

template <class T>
struct Out {
  std::vector<T> out, lse, dq, dk, dv;
};

int main(int argc, char** argv) {
  const bool with_ref = argc > 1;
  std::vector<Case> cases = {{1, 1, 1, 1, 16, false, false, 0.0}, {2, 3, 7, 7, 16, true, true, 0.0},
                             {3, 1, 65, 65, 64, false, true, 0.0}, {1, 1, 65, 129, 80, true, false, 0.0},
                             {3, 1, 63, 63, 64, false, true, 0.2}, {1, 2, 129, 7, 80, true, false, 0.0},
                             {2, 1, 70, 70, 32, true, true, 0.5}};
  uint64_t seed = 1;
  for (const Case& c : cases) {
    std::string tag = "B" + std::to_string(c.B) + " H" + std::to_string(c.H) + " Tq" + std::to_string(c.Tq) + " Tk" +
                      std::to_string(c.Tk) + " Dh" + std::to_string(c.Dh) + (c.causal ? " causal" : "") +
                      (c.mask ? " mask" : "") + " p" + std::to_string(c.p);
    std::printf("case %s\n", tag.c_str());
    std::fflush(stdout);
    const int64_t nq = c.B * c.H * c.Tq * c.Dh, nk = c.B * c.H * c.Tk * c.Dh, nr = c.B * c.H * c.Tq;
    Generator gen(seed++);
    std::vector<double> q(nq), k(nk), v(nk), g(nq);
    for (auto* vec : {&q, &k, &v, &g})
      for (auto& x : *vec) x = double(from_bf16(to_bf16(float(gen.next_double() * 4 - 2))));  // bf16-exact values
    std::vector<uint8_t> mask(size_t(c.B * c.Tk), 0);
    if (c.mask)
      for (int64_t b = 0; b < c.B; ++b)
        for (int64_t j = 0; j < c.Tk; ++j) mask[b * c.Tk + j] = (c.B > 1 && b == c.B - 1) || gen.next_double() < 0.3;
    const uint8_t* pad = c.mask ? mask.data() : nullptr;
    cpu::AttentionDims d;
    d.B = c.B, d.H = c.H, d.Tq = c.Tq, d.Tk = c.Tk, d.Dh = c.Dh, d.scale = 1 / std::sqrt(double(c.Dh));
    d.causal = c.causal, d.dropout_p = c.p, d.seed = seed * 31 + 7, d.offset = 1001 + seed;
    cuda::AttentionDims cd;
    cd.B = d.B, cd.H = d.H, cd.Tq = d.Tq, cd.Tk = d.Tk, cd.Dh = d.Dh, cd.scale = d.scale, cd.causal = d.causal;
    cd.dropout_p = d.dropout_p, cd.seed = d.seed, cd.offset = d.offset;
    // references
    Out<double> r64{std::vector<double>(nq), std::vector<double>(nr), std::vector<double>(nq), std::vector<double>(nk),
                    std::vector<double>(nk)};
    cpu::scalar::attention_forward<double>(d, q.data(), k.data(), v.data(), pad, r64.out.data(), r64.lse.data());
    cpu::scalar::attention_backward<double>(d, q.data(), k.data(), v.data(), pad, r64.out.data(), r64.lse.data(),
                                            g.data(), r64.dq.data(), r64.dk.data(), r64.dv.data());
    std::vector<float> qf(q.begin(), q.end()), kf(k.begin(), k.end()), vf(v.begin(), v.end()), gf(g.begin(), g.end());
    Out<float> r32{std::vector<float>(nq), std::vector<float>(nr), std::vector<float>(nq), std::vector<float>(nk),
                   std::vector<float>(nk)};
    cpu::scalar::attention_forward<float>(d, qf.data(), kf.data(), vf.data(), pad, r32.out.data(), r32.lse.data());
    cpu::scalar::attention_backward<float>(d, qf.data(), kf.data(), vf.data(), pad, r32.out.data(), r32.lse.data(),
                                           gf.data(), r32.dq.data(), r32.dk.data(), r32.dv.data());
    auto check64 = [&](const char* name, auto fwd, auto bwd) {
      Out<double> o{std::vector<double>(nq, NAN), std::vector<double>(nr, NAN), std::vector<double>(nq, NAN),
                    std::vector<double>(nk, NAN), std::vector<double>(nk, NAN)};
      fwd(cd, q.data(), k.data(), v.data(), pad, o.out.data(), o.lse.data());
      bwd(cd, q.data(), k.data(), v.data(), pad, o.out.data(), o.lse.data(), g.data(), o.dq.data(), o.dk.data(),
          o.dv.data());
      const std::string t = tag + " " + name + " f64";
      cmp("out", t, o.out, r64.out, 1e-10), cmp("lse", t, o.lse, r64.lse, 1e-10), cmp("dq", t, o.dq, r64.dq, 1e-10);
      cmp("dk", t, o.dk, r64.dk, 1e-10), cmp("dv", t, o.dv, r64.dv, 1e-10);
    };
    auto check32 = [&](const char* name, auto fwd, auto bwd) {
      Out<float> o{std::vector<float>(nq, NAN), std::vector<float>(nr, NAN), std::vector<float>(nq, NAN),
                   std::vector<float>(nk, NAN), std::vector<float>(nk, NAN)};
      fwd(cd, qf.data(), kf.data(), vf.data(), pad, o.out.data(), o.lse.data());
      bwd(cd, qf.data(), kf.data(), vf.data(), pad, o.out.data(), o.lse.data(), gf.data(), o.dq.data(), o.dk.data(),
          o.dv.data());
      const std::string t = tag + " " + name + " f32";
      cmp("out", t, o.out, r32.out, 2e-5), cmp("lse", t, o.lse, r32.lse, 2e-5), cmp("dq", t, o.dq, r32.dq, 2e-5);
      cmp("dk", t, o.dk, r32.dk, 2e-5), cmp("dv", t, o.dv, r32.dv, 2e-5);
    };
    auto checkbf = [&](const char* name, auto fwd, auto bwd) {
      std::vector<uint16_t> qb(nq), kb(nk), vb(nk), gb(nq), ob(nq, 0xFFFF), dqb(nq, 0xFFFF), dkb(nk, 0xFFFF),
          dvb(nk, 0xFFFF);
      for (int64_t i = 0; i < nq; ++i) qb[i] = to_bf16(qf[i]), gb[i] = to_bf16(gf[i]);
      for (int64_t i = 0; i < nk; ++i) kb[i] = to_bf16(kf[i]), vb[i] = to_bf16(vf[i]);
      std::vector<float> lse(nr, NAN);
      fwd(cd, qb.data(), kb.data(), vb.data(), pad, ob.data(), lse.data());
      bwd(cd, qb.data(), kb.data(), vb.data(), pad, ob.data(), lse.data(), gb.data(), dqb.data(), dkb.data(),
          dvb.data());
      auto wide = [](const std::vector<uint16_t>& x) {
        std::vector<float> y(x.size());
        for (size_t i = 0; i < x.size(); ++i) y[i] = from_bf16(x[i]);
        return y;
      };
      const std::string t = tag + " " + name + " bf16";
      cmp("out", t, wide(ob), r32.out, 1.5e-2), cmp("lse", t, lse, r32.lse, 1e-4);
      cmp("dq", t, wide(dqb), r32.dq, 1.5e-2), cmp("dk", t, wide(dkb), r32.dk, 1.5e-2);
      cmp("dv", t, wide(dvb), r32.dv, 1.5e-2);
    };
    check32("flash", cuda::flash::attention_forward<float, float>, cuda::flash::attention_backward<float, float>);
    check64("flash", cuda::flash::attention_forward<double, double>, cuda::flash::attention_backward<double, double>);
    checkbf("flash", cuda::flash::attention_forward<uint16_t, float>, cuda::flash::attention_backward<uint16_t, float>);
    checkbf("flash_tc", cuda::flash_tc::attention_forward_bf16, cuda::flash_tc::attention_backward_bf16);
    if (with_ref && c.Tq * c.Tk * c.B * c.H < 20000) {
      check32("reference", cuda::reference::attention_forward<float, float>,
              cuda::reference::attention_backward<float, float>);
      check64("reference", cuda::reference::attention_forward<double, double>,
              cuda::reference::attention_backward<double, double>);
      checkbf("reference", cuda::reference::attention_forward<uint16_t, float>,
              cuda::reference::attention_backward<uint16_t, float>);
    }
    std::fflush(stdout);
  }
  std::printf("%d failures\n", failures);
  return failures != 0;
}
