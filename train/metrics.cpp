#include "train/metrics.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "engine/error.h"

namespace hm {

double ErrorCounts::rate() const {
  return ref_length > 0 ? double(errors()) / double(ref_length) : std::numeric_limits<double>::quiet_NaN();
}

ErrorCounts& ErrorCounts::operator+=(const ErrorCounts& o) {
  substitutions += o.substitutions;
  deletions += o.deletions;
  insertions += o.insertions;
  ref_length += o.ref_length;
  hyp_length += o.hyp_length;
  return *this;
}

std::string ErrorCounts::summary(const std::string& name) const {
  char r[32] = "n/a";
  if (ref_length > 0) std::snprintf(r, sizeof r, "%.2f%%", 100.0 * rate());
  return cat(name, " ", r, " (S=", substitutions, " D=", deletions, " I=", insertions, " N=", ref_length, ")");
}

Json ErrorCounts::to_json() const {
  Json j = Json::object();
  j["substitutions"] = substitutions;
  j["deletions"] = deletions;
  j["insertions"] = insertions;
  j["errors"] = errors();
  j["ref_length"] = ref_length;
  j["hyp_length"] = hyp_length;
  j["rate_percent"] = ref_length > 0 ? Json(100.0 * rate()) : Json();  // undefined for an empty reference
  return j;
}

char edit_op_letter(EditOp op) {
  switch (op) {
    case EditOp::match:
      return ' ';
    case EditOp::substitution:
      return 'S';
    case EditOp::deletion:
      return 'D';
    case EditOp::insertion:
      return 'I';
  }
  return '?';
}

Alignment align(const std::vector<std::string>& ref, const std::vector<std::string>& hyp) {
  const size_t n = ref.size(), m = hyp.size();
  // The backtrace needs one move per cell: (n + 1) x (m + 1) bytes. Transcripts are short; refuse absurd sizes.
  check(double(n + 1) * double(m + 1) <= double(1u << 30), "align: ", n, " reference x ", m,
        " hypothesis tokens is too large to align (more than 2^30 cells)");
  // Wagner-Fischer: d[i][j] = edit distance of ref[0, i) and hyp[0, j), two rows at a time.
  std::vector<int64_t> prev(m + 1), cur(m + 1);  // (m + 1,)
  std::vector<EditOp> move((n + 1) * (m + 1));   // (n + 1, m + 1): the last step of a best path into (i, j)
  for (size_t j = 0; j <= m; ++j) {
    prev[j] = int64_t(j);
    move[j] = EditOp::insertion;
  }
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = int64_t(i);
    move[i * (m + 1)] = EditOp::deletion;
    for (size_t j = 1; j <= m; ++j) {
      const bool same = ref[i - 1] == hyp[j - 1];
      // Preference on ties: diagonal, then deletion, then insertion (strict < keeps the earlier choice).
      int64_t best = prev[j - 1] + (same ? 0 : 1);
      EditOp op = same ? EditOp::match : EditOp::substitution;
      if (prev[j] + 1 < best) {
        best = prev[j] + 1;
        op = EditOp::deletion;
      }
      if (cur[j - 1] + 1 < best) {
        best = cur[j - 1] + 1;
        op = EditOp::insertion;
      }
      cur[j] = best;
      move[i * (m + 1) + j] = op;
    }
    prev.swap(cur);
  }

  Alignment a;
  a.counts.ref_length = int64_t(n);
  a.counts.hyp_length = int64_t(m);
  size_t i = n, j = m;
  while (i > 0 || j > 0) {
    const EditOp op = move[i * (m + 1) + j];
    switch (op) {
      case EditOp::match:
      case EditOp::substitution:
        --i, --j;
        a.pairs.push_back({op, int32_t(i), int32_t(j)});
        a.counts.substitutions += op == EditOp::substitution;
        break;
      case EditOp::deletion:
        --i;
        a.pairs.push_back({op, int32_t(i), -1});
        ++a.counts.deletions;
        break;
      case EditOp::insertion:
        --j;
        a.pairs.push_back({op, -1, int32_t(j)});
        ++a.counts.insertions;
        break;
    }
  }
  std::reverse(a.pairs.begin(), a.pairs.end());
  return a;
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    const size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

namespace {

// A UTF-8 continuation byte is 10xxxxxx; every other byte starts a code point.
bool starts_code_point(char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += starts_code_point(c);
  return n;
}

}  // namespace

std::vector<std::string> letter_units(const std::string& text) {
  std::vector<std::string> units;
  for (const std::string& w : split_words(text)) {
    for (size_t i = 0; i < w.size();) {
      size_t k = i + 1;
      while (k < w.size() && !starts_code_point(w[k])) ++k;
      units.push_back(w.substr(i, k - i));
      i = k;
    }
    units.push_back("|");  // fairseq's .ltr targets end every word with the separator (libri_labels.py)
  }
  return units;
}

UtteranceScore score_utterance(const std::string& hyp, const std::string& ref) {
  UtteranceScore s;
  s.ref = ref;
  s.hyp = hyp;
  s.ref_words = split_words(ref);
  s.hyp_words = split_words(hyp);
  s.ref_letters = letter_units(ref);
  s.hyp_letters = letter_units(hyp);
  s.words = align(s.ref_words, s.hyp_words);
  s.letters = align(s.ref_letters, s.hyp_letters);
  return s;
}

CorpusScore score_corpus(const std::vector<std::string>& hyps, const std::vector<std::string>& refs) {
  check(hyps.size() == refs.size(), "score_corpus: ", hyps.size(), " hypotheses but ", refs.size(), " references");
  CorpusScore c;
  c.utterances.reserve(refs.size());
  for (size_t i = 0; i < refs.size(); ++i) {
    c.utterances.push_back(score_utterance(hyps[i], refs[i]));
    c.words += c.utterances.back().words.counts;
    c.letters += c.utterances.back().letters.counts;
  }
  return c;
}

Json report_json(const CorpusScore& score) {
  Json j = Json::object();
  j["utterances"] = int64_t(score.utterances.size());
  const Json words = score.words.to_json(), letters = score.letters.to_json();
  j["wer_percent"] = words.at("rate_percent");
  j["cer_percent"] = letters.at("rate_percent");
  j["words"] = words;
  j["letters"] = letters;
  j["cer_units"] = "characters of each word followed by '|' (fairseq's uer on .ltr targets)";
  Json per = Json::array();
  for (size_t i = 0; i < score.utterances.size(); ++i) {
    const UtteranceScore& u = score.utterances[i];
    Json e = Json::object();
    e["index"] = int64_t(i + 1);  // 1-based, the line number in the input files
    e["ref"] = u.ref;
    e["hyp"] = u.hyp;
    e["words"] = u.words.counts.to_json();
    e["letters"] = u.letters.counts.to_json();
    per.push_back(std::move(e));
  }
  j["per_utterance"] = std::move(per);
  return j;
}

namespace {

const std::string kGap = "***";  // sclite's mark for the missing side of an insertion or deletion

void rstrip(std::string& s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
}

// Appends " token" padded with spaces to `width` code points.
void add_cell(std::string& row, const std::string& token, size_t width) {
  row += ' ';
  row += token;
  row.append(width - code_points(token), ' ');
}

// REF/HYP/marker rows of an alignment, each column as wide as its widest entry.
std::string aligned_rows(const Alignment& a, const std::vector<std::string>& ref, const std::vector<std::string>& hyp) {
  std::string r = "REF:", h = "HYP:", ops = "    ";
  for (const AlignedPair& p : a.pairs) {
    const std::string& rt = p.ref >= 0 ? ref[size_t(p.ref)] : kGap;
    const std::string& ht = p.hyp >= 0 ? hyp[size_t(p.hyp)] : kGap;
    const size_t w = std::max(code_points(rt), code_points(ht));
    add_cell(r, rt, w);
    add_cell(h, ht, w);
    add_cell(ops, std::string(1, edit_op_letter(p.op)), w);
  }
  rstrip(r);
  rstrip(h);
  rstrip(ops);
  std::string out = r + "\n" + h + "\n";
  if (!ops.empty()) out += ops + "\n";
  return out;
}

}  // namespace

std::string format_details(const CorpusScore& score) {
  std::string out =
      cat(score.words.summary("WER"), ", ", score.letters.summary("CER"), " over ", score.utterances.size(),
          " utterances\n(CER units: characters of each word plus its '|' "
          "separator, as fairseq's uer)\n");
  for (size_t i = 0; i < score.utterances.size(); ++i) {
    const UtteranceScore& u = score.utterances[i];
    out += cat("\nutterance ", i + 1, ": ", u.words.counts.summary("WER"), ", ", u.letters.counts.summary("CER"), "\n");
    out += aligned_rows(u.words, u.ref_words, u.hyp_words);
  }
  return out;
}

}  // namespace hm
