// Where features live on disk and how they are read back for k-means and labelling:
//   * a fairseq manifest (.tsv: first line the audio root, then `relpath<TAB>num_samples` per utterance);
//     this is a small private reader for the feature tools -- unify with train/manifest.* (audio issue) later;
//   * one float32 .npy (T, D) per utterance at <feat-dir>/<relpath without its extension>.npy;
//   * labels as fairseq .km: one line per utterance, space-separated integers.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "train/features.h"

namespace hm::feat {

struct FeatManifest {
  std::string path;                   // the .tsv itself, for messages
  std::string root;                   // audio root directory (first line)
  std::vector<std::string> relpaths;  // (U,)
  std::vector<int64_t> num_samples;   // (U,)
  size_t size() const { return relpaths.size(); }
  std::string audio_path(size_t i) const { return root + "/" + relpaths[i]; }
};

FeatManifest read_feat_manifest(const std::string& path);

// <feat_dir>/<relpath with its extension replaced by .npy>.
std::string feature_path(const std::string& feat_dir, const std::string& relpath);

struct DumpStats {
  int64_t utterances = 0, frames = 0;
  double audio_seconds = 0, wall_seconds = 0;
};

// Compute features for every utterance of the manifest (threaded over utterances) and write one .npy each,
// creating directories as needed. Prints a progress line (utterances, audio-seconds/s, ETA) to stderr when
// `progress` is set. Errors name the audio file.
DumpStats dump_features(const FeatManifest& m, const std::string& out_dir, FeatureKind kind, bool progress);

// Features of one utterance: (T, D) float32, checked to be 2-D, to have `expected_dim` columns (when > 0), at
// least one frame, and only finite values. Errors name the file.
Tensor load_utterance_features(const std::string& path, int64_t expected_dim);

// Features of the utterances `which` (indices into m), concatenated: (sum T, D). lengths receives each T.
Tensor load_features(const std::string& feat_dir, const FeatManifest& m, const std::vector<size_t>& which,
                     std::vector<int64_t>* lengths);

// fairseq .km labels: one line per utterance, space-separated non-negative ints.
void write_km(const std::string& path, const std::vector<std::vector<int32_t>>& labels);
std::vector<std::vector<int32_t>> read_km(const std::string& path);

}  // namespace hm::feat
