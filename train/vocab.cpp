#include "train/vocab.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "train/atomic_file.h"
#include "train/manifest.h"

namespace hm {

namespace {
constexpr const char* kFormat = "hubmamba.ctc_vocab";
constexpr int kVersion = 1;
}  // namespace

Vocab::Vocab(std::vector<std::string> symbols, std::vector<int64_t> counts) {
  check(counts.empty() || counts.size() == symbols.size(), "Vocab: ", symbols.size(), " symbols but ", counts.size(),
        " counts");
  symbols_.reserve(symbols.size() + 1);
  symbols_.push_back(kBlankSymbol);
  if (!counts.empty()) {
    counts_.reserve(counts.size() + 1);
    counts_.push_back(0);
  }
  for (size_t i = 0; i < symbols.size(); ++i) {
    const std::string& s = symbols[i];
    check(!s.empty() && s.find_first_of(" \t\n\r") == std::string::npos, "Vocab: symbol ", i + 1, " '", s,
          "' is empty or contains whitespace");
    check(s != kBlankSymbol, "Vocab: '", kBlankSymbol, "' is reserved for the CTC blank (id 0)");
    check(index_.find(s) == index_.end(), "Vocab: symbol '", s, "' listed twice");
    index_[s] = int32_t(symbols_.size());
    symbols_.push_back(s);
    if (!counts.empty()) {
      check(counts[i] >= 0, "Vocab: negative count ", counts[i], " for symbol '", s, "'");
      counts_.push_back(counts[i]);
    }
  }
  index_[kBlankSymbol] = kBlank;
  const auto sep = index_.find(kWordSeparator);
  check(sep != index_.end(), "Vocab: the word separator '", kWordSeparator, "' is missing");
  separator_ = sep->second;
}

Vocab Vocab::from_ltr_files(const std::vector<std::string>& ltr_paths) {
  check(!ltr_paths.empty(), "Vocab::from_ltr_files: no .ltr files given");
  std::map<std::string, int64_t> count;  // sorted by symbol: the tie order of fairseq's finalize
  for (const std::string& path : ltr_paths) {
    for (const std::string& line : read_ltr(path)) {
      std::istringstream in(line);
      std::string tok;
      while (in >> tok) ++count[tok];
    }
  }
  std::vector<std::pair<std::string, int64_t>> order(count.begin(), count.end());
  // fairseq Dictionary.finalize: Counter(dict(sorted(...))).most_common() = count descending, ties by symbol.
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> symbols;
  std::vector<int64_t> counts;
  for (const auto& [s, c] : order) {
    symbols.push_back(s);
    counts.push_back(c);
  }
  return Vocab(std::move(symbols), std::move(counts));
}

Vocab Vocab::from_fairseq_dict(const std::string& path) {
  const std::vector<std::string> lines = read_lines(path);
  std::vector<std::string> symbols;
  std::vector<int64_t> counts;
  for (size_t i = 0; i < lines.size(); ++i) {
    // fairseq Dictionary.add_from_lines: `line.rstrip().rsplit(" ", 1)` -> symbol, count (a trailing
    // "#fairseq:overwrite" flag is not used by letter dictionaries and is rejected here).
    const std::string where = cat(path, ":", i + 1);
    const size_t sp = lines[i].rfind(' ');
    check(sp != std::string::npos && sp > 0, where, ": expected 'SYMBOL COUNT', got '", lines[i], "'");
    const std::string sym = lines[i].substr(0, sp), num = lines[i].substr(sp + 1);
    char* end = nullptr;
    const long long c = std::strtoll(num.c_str(), &end, 10);
    check(!num.empty() && *end == '\0' && c >= 0, where, ": count '", num, "' is not a non-negative integer");
    check(sym != "<s>" && sym != "<pad>" && sym != "</s>" && sym != "<unk>", where, ": '", sym,
          "' is one of fairseq's built-in specials, which dict files do not list");
    symbols.push_back(sym);
    counts.push_back(c);
  }
  try {
    return Vocab(std::move(symbols), std::move(counts));
  } catch (const Error& e) {
    throw Error(cat(path, ": ", e.what()));
  }
}

Json Vocab::to_json() const {
  Json j = Json::object();
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["blank"] = kBlank;
  j["word_separator"] = kWordSeparator;
  Json syms = Json::array();
  for (const std::string& s : symbols_) syms.push_back(s);
  j["symbols"] = syms;
  if (!counts_.empty()) {
    Json cs = Json::array();
    for (int64_t c : counts_) cs.push_back(c);
    j["counts"] = cs;
  }
  return j;
}

Vocab Vocab::from_json(const Json& j, const std::string& source) {
  try {
    check(j.is_object(), "expected a JSON object");
    check(j.contains("format") && j.at("format").as_string("format") == kFormat, "'format' must be \"", kFormat, "\"");
    check(j.contains("version") && j.at("version").as_int("version") == kVersion, "unsupported 'version' (this build ",
          "reads version ", kVersion, ")");
    check(j.at("blank").as_int("blank") == kBlank, "'blank' must be ", kBlank);
    check(j.at("word_separator").as_string("word_separator") == kWordSeparator, "'word_separator' must be \"",
          kWordSeparator, "\"");
    const Json::Array& syms = j.at("symbols").as_array("symbols");
    check(!syms.empty() && syms[0].as_string("symbols[0]") == kBlankSymbol, "symbols[0] must be \"", kBlankSymbol,
          "\"");
    std::vector<std::string> symbols;
    for (size_t i = 1; i < syms.size(); ++i) symbols.push_back(syms[i].as_string(cat("symbols[", i, "]")));
    std::vector<int64_t> counts;
    if (j.contains("counts")) {
      const Json::Array& cs = j.at("counts").as_array("counts");
      check(cs.size() == syms.size(), "'counts' has ", cs.size(), " entries for ", syms.size(), " symbols");
      for (size_t i = 1; i < cs.size(); ++i) counts.push_back(cs[i].as_int(cat("counts[", i, "]")));
    }
    return Vocab(std::move(symbols), std::move(counts));
  } catch (const Error& e) {
    throw Error(cat(source, ": vocabulary: ", e.what()));
  }
}

void Vocab::save(const std::string& path) const { write_file_atomic(path, to_json().dump(1) + "\n"); }

Vocab Vocab::load(const std::string& path) { return from_json(Json::parse_file(path), path); }

const std::string& Vocab::symbol(int32_t id) const {
  check(id >= 0 && id < size(), "Vocab: id ", id, " outside [0, ", size(), ")");
  return symbols_[size_t(id)];
}

int32_t Vocab::id(const std::string& symbol) const {
  const auto it = index_.find(symbol);
  return it == index_.end() ? -1 : it->second;
}

std::vector<int32_t> Vocab::encode(const std::string& ltr_line, const std::string& where) const {
  std::vector<int32_t> ids;
  std::istringstream in(ltr_line);
  std::string tok;
  while (in >> tok) {
    const int32_t i = id(tok);
    check(i >= 0, where, ": unknown symbol '", tok, "' (not among the ", size() - 1, " symbols of the vocabulary)");
    check(i != kBlank, where, ": the CTC blank '", kBlankSymbol, "' cannot appear in a transcript");
    ids.push_back(i);
  }
  return ids;
}

std::vector<std::vector<int32_t>> Vocab::encode_file(const std::string& ltr_path) const {
  const std::vector<std::string> lines = read_ltr(ltr_path);
  std::vector<std::vector<int32_t>> out;
  out.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) out.push_back(encode(lines[i], cat(ltr_path, ":", i + 1)));
  return out;
}

std::string Vocab::decode(const std::vector<int32_t>& ids) const {
  std::string out, word;
  auto end_word = [&] {
    if (word.empty()) return;
    if (!out.empty()) out += ' ';
    out += word;
    word.clear();
  };
  for (int32_t i : ids) {
    const std::string& s = symbol(i);  // range check
    if (i == kBlank) continue;
    if (i == separator_) {
      end_word();
    } else {
      word += s;
    }
  }
  end_word();
  return out;
}

}  // namespace hm
