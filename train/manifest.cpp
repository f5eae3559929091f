#include "train/manifest.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "engine/error.h"
#include "train/atomic_file.h"
#include "train/audio.h"

namespace hm {
namespace fs = std::filesystem;

std::string Manifest::audio_path(size_t i) const {
  check(i < entries.size(), "manifest: entry ", i, " out of range (", entries.size(), " entries)");
  return (fs::path(root) / entries[i].path).string();
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), path, ": cannot open for reading");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    check(line.find('\r') == std::string::npos, path, ":", lines.size() + 1,
          ": carriage return in line (convert the file to Unix line endings)");
    lines.push_back(std::move(line));
  }
  check(!in.bad(), path, ": read error");
  return lines;
}

namespace {

std::string lines_text(const std::vector<std::string>& lines) {
  std::string s;
  for (size_t i = 0; i < lines.size(); ++i) {
    check(lines[i].find('\n') == std::string::npos, "write_lines: line ", i + 1, " contains a newline");
    s += lines[i];
    s += '\n';
  }
  return s;
}

std::string manifest_text(const Manifest& m) {
  check(!m.root.empty() && m.root.find_first_of("\t\n") == std::string::npos, "manifest: bad root directory '", m.root,
        "'");
  std::ostringstream s;
  s << m.root << '\n';
  for (const ManifestEntry& e : m.entries) {
    check(!e.path.empty() && e.path.find_first_of("\t\n") == std::string::npos, "manifest: path '", e.path,
          "' is empty or contains a tab or newline");
    check(e.num_samples > 0, "manifest: ", e.path, " has num_samples ", e.num_samples);
    s << e.path << '\t' << e.num_samples << '\n';
  }
  return s.str();
}

}  // namespace

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::string text;
  try {
    text = lines_text(lines);
  } catch (const Error& e) {
    throw Error(cat(path, ": ", e.what()));
  }
  write_file_atomic(path, text);
}

Manifest read_manifest(const std::string& tsv_path) {
  const std::vector<std::string> lines = read_lines(tsv_path);
  check(!lines.empty() && !lines[0].empty(), tsv_path, ":1: missing root directory line");
  Manifest m;
  m.root = lines[0];
  check(m.root.find('\t') == std::string::npos, tsv_path,
        ":1: expected the audio root directory, got a tab-separated line (manifest without root line?)");
  if (fs::path(m.root).is_relative()) m.root = (fs::path(tsv_path).parent_path() / m.root).lexically_normal().string();
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    const size_t tab = l.find('\t');
    check(tab != std::string::npos && tab > 0 && l.find('\t', tab + 1) == std::string::npos, tsv_path, ":", i + 1,
          ": expected 'relative/path<TAB>num_samples', got '", l, "'");
    ManifestEntry e;
    e.path = l.substr(0, tab);
    const std::string n = l.substr(tab + 1);
    char* end = nullptr;
    e.num_samples = std::strtoll(n.c_str(), &end, 10);
    check(!n.empty() && *end == '\0' && e.num_samples > 0, tsv_path, ":", i + 1,
          ": num_samples must be a positive integer, got '", n, "'");
    m.entries.push_back(std::move(e));
  }
  return m;
}

void write_manifest(const std::string& tsv_path, const Manifest& m) {
  std::string text;
  try {
    text = manifest_text(m);
  } catch (const Error& e) {
    throw Error(cat(tsv_path, ": ", e.what()));
  }
  write_file_atomic(tsv_path, text);
}

std::string normalize_transcript(const std::string& text, const std::string& what) {
  std::string out, word;
  auto flush = [&] {
    // Apostrophes belong inside words (DON'T, JAMES'S); leading/trailing ones are quote marks.
    const size_t b = word.find_first_not_of('\''), e = word.find_last_not_of('\'');
    if (b != std::string::npos) {
      if (!out.empty()) out += ' ';
      out += word.substr(b, e - b + 1);
    }
    word.clear();
  };
  for (unsigned char c : text) {
    if (std::isalpha(c) && c < 128) {
      word += char(std::toupper(c));
    } else if (c == '\'') {
      word += '\'';
    } else if (std::isspace(c) || std::string_view(".,;:!?\"-()").find(char(c)) != std::string_view::npos) {
      flush();
    } else {
      throw Error(cat(what, ": cannot spell character '", char(c), "' (0x", std::hex, int(c), std::dec, ") in '", text,
                      "' (write numbers and symbols as words)"));
    }
  }
  flush();
  return out;
}

std::string words_to_letters(const std::string& words) {
  // libri_labels.py: " ".join(list(words.replace(" ", "|"))) + " |"
  std::string out;
  for (char c : words) {
    if (!out.empty()) out += ' ';
    out += c == ' ' ? '|' : c;
  }
  return out + " |";
}

std::string letters_to_words(const std::string& letters, const std::string& where) {
  std::istringstream in(letters);
  std::string out, tok;
  bool word_open = false, any = false, last_was_bar = false;
  while (in >> tok) {
    check(tok.size() == 1, where, ": letter tokens must be single characters separated by spaces, got '", tok, "'");
    const char c = tok[0];
    if (c == '|') {
      check(word_open, where, ": empty word (a '|' with no letters before it)");
      word_open = false;
      last_was_bar = true;
      continue;
    }
    check((c >= 'A' && c <= 'Z') || c == '\'', where, ": unexpected letter '", c, "' (expected A-Z, ' or |)");
    if (!word_open && any) out += ' ';
    out += c;
    word_open = any = true;
    last_was_bar = false;
  }
  check(any, where, ": empty transcript");
  check(last_was_bar, where, ": must end with the word separator '|'");
  check(letters == words_to_letters(out), where, ": letters must be separated by single spaces (expected '",
        words_to_letters(out), "')");
  return out;
}

std::vector<std::string> read_wrd(const std::string& path) {
  std::vector<std::string> lines = read_lines(path);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string where = cat(path, ":", i + 1);
    check(!lines[i].empty(), where, ": empty transcript");
    check(normalize_transcript(lines[i], where) == lines[i], where, ": transcript '", lines[i],
          "' is not normalized (upper-case words of A-Z and ', single spaces)");
  }
  return lines;
}

std::vector<std::string> read_ltr(const std::string& path) {
  std::vector<std::string> lines = read_lines(path);
  for (size_t i = 0; i < lines.size(); ++i) letters_to_words(lines[i], cat(path, ":", i + 1));
  return lines;
}

std::vector<std::vector<int32_t>> read_km(const std::string& path) {
  const std::vector<std::string> lines = read_lines(path);
  std::vector<std::vector<int32_t>> labels(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const char* p = lines[i].c_str();
    while (*p) {
      if (*p == ' ') {
        ++p;
        continue;
      }
      char* end = nullptr;
      const long v = std::strtol(p, &end, 10);
      check(end != p && (*end == ' ' || *end == '\0') && v >= 0 && v <= INT32_MAX, path, ":", i + 1,
            ": labels must be non-negative integers separated by spaces, got '", std::string(p, std::strcspn(p, " ")),
            "'");
      labels[i].push_back(int32_t(v));
      p = end;
    }
    check(!labels[i].empty(), path, ":", i + 1, ": no labels on this line");
  }
  return labels;
}

void write_km(const std::string& path, const std::vector<std::vector<int32_t>>& labels) {
  AtomicFile f(path);
  for (size_t i = 0; i < labels.size(); ++i) {
    check(!labels[i].empty(), path, ": utterance ", i, " has no labels");
    for (size_t j = 0; j < labels[i].size(); ++j) {
      check(labels[i][j] >= 0, path, ": negative label ", labels[i][j], " in utterance ", i);
      f.out() << (j ? " " : "") << labels[i][j];
    }
    f.out() << '\n';
  }
  f.commit();
}

void validate_line_count(const std::string& tsv_path, const Manifest& m, const std::string& label_path,
                         size_t label_lines) {
  const size_t n = m.entries.size();
  if (label_lines < n)
    throw Error(cat(label_path, ": ", label_lines, " lines but ", tsv_path, " lists ", n, " utterances (line ",
                    label_lines + 2, " of ", tsv_path, ", ", m.entries[label_lines].path, ", has no line ",
                    label_lines + 1, " in ", label_path, ")"));
  check(label_lines == n, label_path, ":", n + 1, ": extra line (", tsv_path, " lists only ", n, " utterances)");
}

void validate_ltr_matches_wrd(const std::string& wrd_path, const std::vector<std::string>& wrd,
                              const std::string& ltr_path, const std::vector<std::string>& ltr) {
  check(wrd.size() == ltr.size(), ltr_path, ": ", ltr.size(), " lines but ", wrd_path, " has ", wrd.size());
  for (size_t i = 0; i < wrd.size(); ++i)
    check(ltr[i] == words_to_letters(wrd[i]), ltr_path, ":", i + 1, ": '", ltr[i], "' does not spell ", wrd_path, ":",
          i + 1, " '", wrd[i], "'");
}

void validate_km(const std::string& tsv_path, const Manifest& m, const std::string& km_path,
                 const std::vector<std::vector<int32_t>>& km, double label_rate, double tol_s, int num_classes) {
  check(label_rate > 0, km_path, ": label rate must be positive, got ", label_rate);
  validate_line_count(tsv_path, m, km_path, km.size());
  for (size_t i = 0; i < km.size(); ++i) {
    const double audio_s = double(m.entries[i].num_samples) / kSampleRate;
    const double label_s = double(km[i].size()) / label_rate;
    check(std::abs(audio_s - label_s) <= tol_s, km_path, ":", i + 1, ": ", km[i].size(), " labels at ", label_rate,
          " Hz cover ", label_s, " s but ", tsv_path, ":", i + 2, " (", m.entries[i].path, ") is ", audio_s,
          " s long (tolerance ", tol_s, " s)");
    if (num_classes > 0)
      for (int32_t v : km[i])
        check(v < num_classes, km_path, ":", i + 1, ": label ", v, " >= number of classes ", num_classes);
  }
}

size_t validate_split(const std::string& dir, const std::string& split, double km_label_rate) {
  const std::string base = (fs::path(dir) / split).string();
  const std::string tsv = base + ".tsv", wrd_path = base + ".wrd", ltr_path = base + ".ltr", km_path = base + ".km";
  const Manifest m = read_manifest(tsv);
  std::vector<std::string> wrd, ltr;
  if (fs::exists(wrd_path)) {
    wrd = read_wrd(wrd_path);
    validate_line_count(tsv, m, wrd_path, wrd.size());
  }
  if (fs::exists(ltr_path)) {
    ltr = read_ltr(ltr_path);
    validate_line_count(tsv, m, ltr_path, ltr.size());
  }
  if (fs::exists(wrd_path) && fs::exists(ltr_path)) validate_ltr_matches_wrd(wrd_path, wrd, ltr_path, ltr);
  if (km_label_rate > 0 && fs::exists(km_path)) validate_km(tsv, m, km_path, read_km(km_path), km_label_rate);
  return m.entries.size();
}

std::map<std::string, std::string> read_librispeech_transcripts(const std::string& trans_path) {
  const std::vector<std::string> lines = read_lines(trans_path);
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string where = cat(trans_path, ":", i + 1);
    if (lines[i].empty()) continue;
    const size_t sp = lines[i].find(' ');
    check(sp != std::string::npos && sp > 0, where, ": expected 'UTTERANCE-ID WORDS...', got '", lines[i], "'");
    const std::string id = lines[i].substr(0, sp);
    const std::string words = normalize_transcript(lines[i].substr(sp + 1), where);
    check(!words.empty(), where, ": utterance ", id, " has an empty transcript");
    check(out.emplace(id, words).second, where, ": utterance ", id, " listed twice");
  }
  return out;
}

namespace {

// splitmix64 (Steele et al. 2014): a tiny seeded generator whose output does not depend on the C++ library,
// so the train/valid split is the same everywhere.
double uniform01(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return double(z >> 11) * 0x1.0p-53;
}

std::string seconds_str(double s) {
  const long t = std::lround(std::max(0.0, s));
  return t >= 3600 ? cat(t / 3600, "h", (t % 3600) / 60, "m") : cat(t / 60, "m", t % 60, "s");
}

}  // namespace

ManifestReport build_manifests(const ManifestOptions& opts) {
  check(fs::is_directory(opts.root), opts.root, ": not a directory");
  check(opts.valid_percent >= 0 && opts.valid_percent <= 1, "manifest: --valid-percent must be in [0, 1], got ",
        opts.valid_percent);
  check(opts.jobs >= 1, "manifest: --jobs must be >= 1, got ", opts.jobs);
  const fs::path root = fs::canonical(opts.root);
  std::vector<std::string> files;  // relative to root, sorted
  const std::string suffix = "." + opts.ext;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || e.path().extension() != suffix) continue;
    const std::string rel = fs::relative(e.path(), root).string();
    if (!opts.path_must_contain.empty() && rel.find(opts.path_must_contain) == std::string::npos) continue;
    files.push_back(rel);
  }
  std::sort(files.begin(), files.end());
  check(!files.empty(), opts.root, ": no *", suffix, " files found");

  // Decode every file (validates it and gives its 16 kHz length) on opts.jobs threads.
  std::vector<int64_t> lengths(files.size(), 0);  // (files,) 0 = bad
  std::vector<std::string> errors(files.size());
  std::atomic<size_t> next{0}, done{0};
  std::mutex progress_mu;
  const auto t0 = std::chrono::steady_clock::now();
  auto last = t0;
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < files.size();) {
      try {
        lengths[i] = int64_t(read_audio((root / files[i]).string()).samples.size());
      } catch (const std::exception& ex) {
        errors[i] = ex.what();
      }
      const size_t d = done.fetch_add(1) + 1;
      if (!opts.progress) continue;
      std::lock_guard<std::mutex> lock(progress_mu);
      const auto now = std::chrono::steady_clock::now();
      if (d == files.size() || now - last > std::chrono::seconds(2)) {
        last = now;
        const double el = std::chrono::duration<double>(now - t0).count();
        std::cerr << "manifest: " << d << "/" << files.size() << " files, ETA "
                  << seconds_str(el / double(d) * double(files.size() - d)) << "\n";
      }
    }
  };
  std::vector<std::thread> pool;
  for (int j = 1; j < opts.jobs; ++j) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();

  ManifestReport report;
  std::vector<std::string> bad;
  for (size_t i = 0; i < files.size(); ++i) {
    if (errors[i].empty()) continue;
    check(opts.skip_bad, errors[i], " (use --skip-bad to skip unreadable files)");
    bad.push_back(files[i] + "\t" + errors[i]);
  }

  // Transcripts: every directory that holds audio may hold LibriSpeech speaker-chapter.trans.txt files.
  std::map<std::string, std::map<std::string, std::string>> trans_by_dir;  // dir -> id -> words
  for (const std::string& f : files) {
    const fs::path dir = (root / f).parent_path();
    if (trans_by_dir.count(dir.string())) continue;
    auto& table = trans_by_dir[dir.string()];
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name.size() > 10 && name.compare(name.size() - 10, 10, ".trans.txt") == 0)
        for (auto& [id, words] : read_librispeech_transcripts(e.path().string())) table[id] = words;
    }
  }
  bool any_transcripts = false;
  for (const auto& [dir, table] : trans_by_dir) any_transcripts = any_transcripts || !table.empty();

  Manifest train, valid;
  train.root = valid.root = root.string();
  std::vector<std::string> train_wrd, valid_wrd;
  uint64_t rng = opts.seed;
  for (size_t i = 0; i < files.size(); ++i) {
    // Draw for every file, bad ones included, so skipping a file does not move the others between splits.
    const bool to_valid = uniform01(rng) < opts.valid_percent;
    if (!errors[i].empty()) continue;
    std::string words;
    if (any_transcripts) {
      const fs::path p = root / files[i];
      const auto& table = trans_by_dir.at(p.parent_path().string());
      auto it = table.find(p.stem().string());
      if (it == table.end()) {
        const std::string why = cat((root / files[i]).string(), ": no transcript for utterance ", p.stem().string(),
                                    " in the .trans.txt files of its directory");
        check(opts.skip_bad, why, " (use --skip-bad to skip it)");
        bad.push_back(files[i] + "\t" + why);
        continue;
      }
      words = it->second;
    }
    (to_valid ? valid : train).entries.push_back({files[i], lengths[i]});
    if (any_transcripts) (to_valid ? valid_wrd : train_wrd).push_back(words);
  }
  check(!train.entries.empty() || !valid.entries.empty(), opts.root, ": every audio file was skipped as unreadable");

  fs::create_directories(opts.out_dir);
  const fs::path out(opts.out_dir);
  // All outputs go to temporary names first and are renamed only once every one of them was written, so a
  // failure (disk full, bad path) leaves no half-updated set of manifests behind.
  std::vector<std::pair<std::string, std::string>> outputs;  // (path, content)
  outputs.emplace_back((out / "train.tsv").string(), manifest_text(train));
  if (opts.valid_percent > 0) outputs.emplace_back((out / "valid.tsv").string(), manifest_text(valid));
  if (any_transcripts) {
    for (auto [split, wrd] : {std::pair{"train", &train_wrd}, std::pair{"valid", &valid_wrd}}) {
      if (std::string(split) == "valid" && opts.valid_percent <= 0) continue;
      std::vector<std::string> ltr;
      for (const std::string& w : *wrd) ltr.push_back(words_to_letters(w));
      outputs.emplace_back((out / (std::string(split) + ".wrd")).string(), lines_text(*wrd));
      outputs.emplace_back((out / (std::string(split) + ".ltr")).string(), lines_text(ltr));
    }
  }
  const std::string skipped_path = (out / "skipped.txt").string();
  if (!bad.empty()) outputs.emplace_back(skipped_path, lines_text(bad));
  std::vector<AtomicFile> files_out;
  files_out.reserve(outputs.size());
  for (const auto& [path, content] : outputs) {
    files_out.emplace_back(path);
    files_out.back().out() << content;
  }
  for (AtomicFile& f : files_out) f.commit();
  if (bad.empty()) fs::remove(skipped_path);  // a stale list from an earlier run would mislead
  report.train = train.entries.size();
  report.valid = valid.entries.size();
  report.skipped = std::move(bad);
  report.transcripts = any_transcripts;
  return report;
}

}  // namespace hm
