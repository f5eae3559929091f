#include "train/label_quality.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <ostream>

#include "engine/error.h"
#include "train/atomic_file.h"

namespace hm::feat {

JointStats joint_label_stats(const std::vector<int32_t>& reference, const std::vector<int32_t>& codes) {
  check(reference.size() == codes.size(), "label statistics: ", reference.size(), " reference frames vs ", codes.size(),
        " label frames");
  JointStats s;
  if (reference.empty()) return s;
  // Joint counts over the classes that occur; dense indices keep this O(frames + Y * Z).
  std::map<int32_t, int64_t> yid, zid;
  for (int32_t y : reference) yid.emplace(y, 0);
  for (int32_t z : codes) zid.emplace(z, 0);
  int64_t Y = 0, Z = 0;
  for (auto& [v, i] : yid) i = Y++;
  for (auto& [v, i] : zid) i = Z++;
  s.reference_classes = Y;
  s.code_classes = Z;
  std::vector<double> joint(size_t(Y * Z), 0.0), py(size_t(Y), 0.0), pz(size_t(Z), 0.0);  // (Y, Z), (Y,), (Z,)
  const double inv = 1.0 / double(reference.size());
  for (size_t t = 0; t < reference.size(); ++t) {
    const int64_t y = yid[reference[t]], z = zid[codes[t]];
    joint[size_t(y * Z + z)] += inv;
    py[size_t(y)] += inv;
    pz[size_t(z)] += inv;
  }
  for (int64_t y = 0; y < Y; ++y) {
    if (py[size_t(y)] > 0) s.reference_entropy -= py[size_t(y)] * std::log(py[size_t(y)]);
    double best = 0;
    for (int64_t z = 0; z < Z; ++z) {
      const double p = joint[size_t(y * Z + z)];
      if (p > 0) s.mutual_information += p * std::log(p / (py[size_t(y)] * pz[size_t(z)]));
      best = std::max(best, p);
    }
    s.cluster_purity += best;  // sum_y p(y) max_z p(z|y)
  }
  for (int64_t z = 0; z < Z; ++z) {
    double best = 0;
    for (int64_t y = 0; y < Y; ++y) best = std::max(best, joint[size_t(y * Z + z)]);
    s.phone_purity += best;  // sum_z p(z) max_y p(y|z)
  }
  s.mutual_information = std::max(0.0, s.mutual_information);
  // One reference class carries no information to recover: PNMI is 0 by convention then.
  s.pnmi = s.reference_entropy > 0 ? std::min(1.0, s.mutual_information / s.reference_entropy) : 0.0;
  return s;
}

LabelQuality label_quality(const std::vector<std::vector<int32_t>>& labels, int64_t n_clusters,
                           const std::vector<std::vector<int32_t>>* reference, int64_t max_length_mismatch) {
  check(n_clusters >= 1, "label quality: n_clusters must be >= 1, got ", n_clusters);
  LabelQuality q;
  q.n_clusters = n_clusters;
  q.utterances = int64_t(labels.size());
  q.usage.assign(size_t(n_clusters), 0);
  for (size_t u = 0; u < labels.size(); ++u)
    for (int32_t z : labels[u]) {
      check(z >= 0 && z < n_clusters, "label quality: utterance ", u, " has label ", z, " outside [0, ", n_clusters,
            ")");
      ++q.usage[size_t(z)];
      ++q.frames;
    }
  for (int64_t c : q.usage) {
    if (c == 0) continue;
    ++q.used_clusters;
    const double p = double(c) / double(q.frames);
    q.usage_entropy -= p * std::log(p);
  }
  q.usage_perplexity = std::exp(q.usage_entropy);
  if (!reference) return q;

  check(reference->size() == labels.size(), "label quality: ", labels.size(), " labelled utterances but ",
        reference->size(), " reference utterances");
  std::vector<int32_t> ys, zs;
  for (size_t u = 0; u < labels.size(); ++u) {
    const auto& z = labels[u];
    const auto& y = (*reference)[u];
    const int64_t diff = int64_t(z.size()) - int64_t(y.size());
    check(std::abs(diff) <= max_length_mismatch, "label quality: utterance ", u, " has ", z.size(),
          " label frames but ", y.size(), " reference frames (more than ", max_length_mismatch, " apart)");
    const size_t T = std::min(z.size(), y.size());
    q.trimmed_frames += std::abs(diff);
    ys.insert(ys.end(), y.begin(), y.begin() + long(T));
    zs.insert(zs.end(), z.begin(), z.begin() + long(T));
  }
  const JointStats s = joint_label_stats(ys, zs);
  q.has_reference = true;
  q.compared_frames = int64_t(ys.size());
  q.reference_classes = s.reference_classes;
  q.reference_entropy = s.reference_entropy;
  q.mutual_information = s.mutual_information;
  q.pnmi = s.pnmi;
  q.phone_purity = s.phone_purity;
  q.cluster_purity = s.cluster_purity;
  return q;
}

void write_label_report(const std::string& path, const LabelQuality& q) {
  AtomicFile f(path);
  std::ostream& o = f.out();
  char buf[64];
  auto num = [&](double v) {
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return std::string(buf);
  };
  o << "{\n  \"n_clusters\": " << q.n_clusters << ",\n  \"utterances\": " << q.utterances
    << ",\n  \"frames\": " << q.frames << ",\n  \"used_clusters\": " << q.used_clusters
    << ",\n  \"usage_entropy_nats\": " << num(q.usage_entropy)
    << ",\n  \"usage_perplexity\": " << num(q.usage_perplexity);
  if (q.inertia_per_frame >= 0) o << ",\n  \"inertia_per_frame\": " << num(q.inertia_per_frame);
  if (q.has_reference) {
    o << ",\n  \"reference\": {\"classes\": " << q.reference_classes << ", \"compared_frames\": " << q.compared_frames
      << ", \"trimmed_frames\": " << q.trimmed_frames << ", \"entropy_nats\": " << num(q.reference_entropy)
      << ", \"mutual_information_nats\": " << num(q.mutual_information) << ", \"pnmi\": " << num(q.pnmi)
      << ", \"phone_purity\": " << num(q.phone_purity) << ", \"cluster_purity\": " << num(q.cluster_purity) << "}";
  }
  o << ",\n  \"usage\": [";
  for (size_t j = 0; j < q.usage.size(); ++j) o << (j ? ", " : "") << q.usage[j];
  o << "]\n}\n";
  f.commit();
}

}  // namespace hm::feat
