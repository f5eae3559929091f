// Where features live on disk and how they are read back for k-means and labelling:
//   * the utterances come from a fairseq manifest (.tsv), read with hm::read_manifest (train/manifest.h);
//   * one float32 .npy (T, D) per utterance at <feat-dir>/<relpath without its extension>.npy;
//   * labels are fairseq .km files, read and written with hm::read_km / hm::write_km (train/manifest.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "train/features.h"
#include "train/manifest.h"

namespace hm::feat {

// <feat_dir>/<relpath with its extension replaced by .npy>.
std::string feature_path(const std::string& feat_dir, const std::string& relpath);

struct DumpStats {
  int64_t utterances = 0, frames = 0;
  double audio_seconds = 0, wall_seconds = 0;
};

// Compute features for every utterance of the manifest `m` (read from `tsv_path`, which messages name; it must
// list at least one utterance) on threads over utterances and write one .npy each, creating directories as
// needed. Prints a progress line (utterances, audio-seconds/s, ETA) to stderr when `progress` is set. Errors
// name the audio file.
DumpStats dump_features(const std::string& tsv_path, const Manifest& m, const std::string& out_dir, FeatureKind kind,
                        bool progress);

// Features of one utterance: (T, D) float32, checked to be 2-D, to have `expected_dim` columns (when > 0), at
// least one frame, and only finite values. Errors name the file.
Tensor load_utterance_features(const std::string& path, int64_t expected_dim);

// Features of the utterances `which` (indices into m.entries; m read from `tsv_path`, which messages name),
// concatenated: (sum T, D). lengths receives each T.
Tensor load_features(const std::string& feat_dir, const std::string& tsv_path, const Manifest& m,
                     const std::vector<size_t>& which, std::vector<int64_t>* lengths);

}  // namespace hm::feat
