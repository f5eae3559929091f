// How good are k-means labels as HuBERT targets? Statistics from HuBERT (Hsu et al. 2021, section IV-F):
// cluster usage (histogram, perplexity), mean squared distance to the centroid, and -- given frame-level
// reference labels such as forced-aligned phones -- phone purity E_z[max_y p(y|z)], cluster purity
// E_y[max_z p(z|y)] and phone-normalised mutual information PNMI = I(y; z) / H(y).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hm::feat {

struct LabelQuality {
  int64_t n_clusters = 0, frames = 0, utterances = 0;
  std::vector<int64_t> usage;     // (k,) frames per cluster
  int64_t used_clusters = 0;      // clusters with at least one frame
  double usage_entropy = 0;       // nats, of usage / frames
  double usage_perplexity = 0;    // exp(usage_entropy): the number of equally used clusters it amounts to
  double inertia_per_frame = -1;  // mean squared distance to the assigned centre; < 0 when not known
  // With reference labels (has_reference):
  bool has_reference = false;
  int64_t reference_classes = 0, compared_frames = 0, trimmed_frames = 0;
  double reference_entropy = 0, mutual_information = 0;  // nats
  double pnmi = 0, phone_purity = 0, cluster_purity = 0;
};

// labels: one vector of cluster ids per utterance, ids in [0, n_clusters). reference (optional): one vector of
// class ids per utterance; utterance lengths may differ by at most `max_length_mismatch` frames (the longer one
// is trimmed, as frame counts of different front ends differ by an edge frame or two), otherwise it is an error.
LabelQuality label_quality(const std::vector<std::vector<int32_t>>& labels, int64_t n_clusters,
                           const std::vector<std::vector<int32_t>>* reference = nullptr,
                           int64_t max_length_mismatch = 2);

// PNMI, phone purity, cluster purity, I and H(y) of two equally long frame labelings (y = reference, z = codes).
struct JointStats {
  int64_t reference_classes = 0, code_classes = 0;  // distinct values that occur
  double reference_entropy = 0, mutual_information = 0, pnmi = 0, phone_purity = 0, cluster_purity = 0;
};
JointStats joint_label_stats(const std::vector<int32_t>& reference, const std::vector<int32_t>& codes);

// Writes the report as JSON (atomically).
void write_label_report(const std::string& path, const LabelQuality& q);

}  // namespace hm::feat
