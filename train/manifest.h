// Corpora and fairseq-style manifests (DESIGN.md 5):
//   train.tsv   first line: the audio root; then one `relative/path<TAB>num_samples` line per utterance
//               (num_samples at 16 kHz, i.e. what read_audio returns)
//   train.wrd   one transcript per utterance, upper-case words ("HELLO WORLD")
//   train.ltr   the same as letters with `|` ending every word ("H E L L O | W O R L D |"), as fairseq's
//               examples/wav2vec/libri_labels.py writes it
//   train.km    one line of space-separated integer labels per utterance (HuBERT targets)
// Line i of every label file belongs to line i+1 of the .tsv. Readers validate formats, the validate_*
// functions cross-check files; every error names the file and the 1-based line.
// A LibriSpeech tree (`speaker/chapter/speaker-chapter-utt.flac` + `speaker-chapter.trans.txt`) becomes
// manifests and transcripts with build_manifests(), the engine of `hubmamba manifest`.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hm {

struct ManifestEntry {
  std::string path;         // relative to Manifest::root
  int64_t num_samples = 0;  // at kSampleRate
};

struct Manifest {
  std::string root;  // absolute, or relative to the directory of the .tsv it was read from
  std::vector<ManifestEntry> entries;
  std::string audio_path(size_t i) const;  // root/path
};

// Relative roots are resolved against the .tsv's directory (fairseq resolves them against the working
// directory; wav2vec_manifest.py always writes absolute roots, so both agree on its output).
Manifest read_manifest(const std::string& tsv_path);
void write_manifest(const std::string& tsv_path, const Manifest& m);  // atomic

// Lines of a text file without their '\n' (a final line without '\n' counts; '\r' is rejected naming the line).
std::vector<std::string> read_lines(const std::string& path);
void write_lines(const std::string& path, const std::vector<std::string>& lines);  // atomic, '\n' after each

// Transcript text -> the corpus's word form: upper case, letters and apostrophes only, single spaces
// ("Don't stop, Anna!" -> "DON'T STOP ANNA"). Throws naming `what` for characters it cannot spell (digits).
std::string normalize_transcript(const std::string& text, const std::string& what = "transcript");
std::string words_to_letters(const std::string& words);  // "HELLO WORLD" -> "H E L L O | W O R L D |"
// Inverse of words_to_letters; throws (message naming `where`) on a malformed line.
std::string letters_to_words(const std::string& letters, const std::string& where = "letters");

// Readers validate every line: .wrd non-empty normalized words; .ltr well-formed letters; .km integers >= 0.
std::vector<std::string> read_wrd(const std::string& path);
std::vector<std::string> read_ltr(const std::string& path);  // returns the letter lines as stored
std::vector<std::vector<int32_t>> read_km(const std::string& path);
void write_km(const std::string& path, const std::vector<std::vector<int32_t>>& labels);  // atomic

// Cross-checks. Each throws hm::Error naming the file and line that disagrees.
// Label/transcript files must have exactly one line per manifest entry.
void validate_line_count(const std::string& tsv_path, const Manifest& m, const std::string& label_path,
                         size_t label_lines);
// .ltr line i must spell .wrd line i.
void validate_ltr_matches_wrd(const std::string& wrd_path, const std::vector<std::string>& wrd,
                              const std::string& ltr_path, const std::vector<std::string>& ltr);
// .km line i must be as long as the audio: |num_samples / 16000 - len / label_rate| <= tol_s (fairseq
// hubert_dataset.verify_label_lengths, tol 0.1 s), and labels < num_classes when num_classes > 0.
void validate_km(const std::string& tsv_path, const Manifest& m, const std::string& km_path,
                 const std::vector<std::vector<int32_t>>& km, double label_rate, double tol_s = 0.1,
                 int num_classes = 0);
// Validate `dir/split.tsv` against whichever of split.wrd, split.ltr, split.km exist (km only when
// km_label_rate > 0). Returns the number of utterances.
size_t validate_split(const std::string& dir, const std::string& split, double km_label_rate = 0);

// A LibriSpeech `speaker-chapter.trans.txt`: `UTT-ID WORDS...` per line -> id -> normalized words.
std::map<std::string, std::string> read_librispeech_transcripts(const std::string& trans_path);

struct ManifestOptions {
  std::string root, out_dir;
  std::string ext = "flac";
  double valid_percent = 0.01;  // fraction in [0, 1], as wav2vec_manifest.py's --valid-percent
  uint64_t seed = 42;
  std::string path_must_contain;  // only files whose path contains this
  bool skip_bad = false;          // record unreadable files in out_dir/skipped.txt instead of failing
  int jobs = 1;                   // decoding threads
  bool progress = true;           // progress lines on stderr
};

struct ManifestReport {
  size_t train = 0, valid = 0;
  std::vector<std::string> skipped;  // "path<TAB>reason"
  bool transcripts = false;          // .wrd/.ltr written (the tree has LibriSpeech .trans.txt files)
};

// Walk opts.root for *.ext (sorted, so the result does not depend on directory order), decode each file to get
// its 16 kHz length (which also validates it), split train/valid at random (seeded), and write
// out_dir/{train,valid}.tsv plus .wrd/.ltr when transcripts exist. All outputs are written to temporary names
// and renamed only after every file was processed, so a failure leaves no partial manifest behind.
ManifestReport build_manifests(const ManifestOptions& opts);

}  // namespace hm
