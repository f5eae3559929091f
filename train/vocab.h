// The CTC letter vocabulary of fairseq's base_10h fine-tuning (examples/wav2vec/config/finetuning/base_10h.yaml,
// task.labels = ltr): the CTC blank, the word separator '|' and the letters of the .ltr transcripts.
//
// Index convention. fairseq's Dictionary starts with four specials <s>=0, <pad>=1, </s>=2, <unk>=3 and appends
// dict.ltr.txt's symbols from index 4 on (LibriSpeech: 4 + 28 = 32 entries: '|', E, T, A, ..., Z). Its CTC criterion
// uses blank_idx = 0 (fairseq/criterions/ctc.py: `task.target_dictionary.index(task.blank_symbol) if hasattr(task,
// "blank_symbol") else 0`), i.e. <s> *is* the blank; <pad> and </s> are stripped from the targets and <unk> never
// occurs in letter targets, so these three rows of the output layer are never a CTC target.
// We keep only what CTC uses:
//     id 0            "<blank>"   (fairseq id 0, <s>)
//     id i >= 1       symbol i    (fairseq id i + 3)
// with the symbols in fairseq's order: by count, most frequent first, ties in byte order of the symbol (fairseq
// Dictionary.finalize sorts the symbols, then takes Counter.most_common, which is stable). A fairseq fine-tuned
// CTC head (V_fairseq rows) maps onto ours by keeping rows {0, 4, 5, ..., V_fairseq - 1} when the vocabulary was
// read from the same dict.ltr.txt (from_fairseq_dict).
//
// Text convention (fairseq post_process(..., "letter"): `sentence.replace(" ", "").replace("|", " ").strip()`):
// decoded symbols are concatenated, '|' ends a word, empty words vanish, words are joined by one space.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/json.h"

namespace hm {

class Vocab {
 public:
  static constexpr int32_t kBlank = 0;
  static constexpr const char* kBlankSymbol = "<blank>";
  static constexpr const char* kWordSeparator = "|";

  // `symbols` excludes the blank; it must contain "|" and no duplicates. counts (optional, same length) are
  // the corpus counts the order came from, kept for information.
  explicit Vocab(std::vector<std::string> symbols, std::vector<int64_t> counts = {});

  // Count the tokens of every line of the .ltr files (read and validated with read_ltr) and order them as
  // fairseq does (count descending, ties by symbol).
  static Vocab from_ltr_files(const std::vector<std::string>& ltr_paths);
  // fairseq's dict.ltr.txt: one `SYMBOL COUNT` per line, kept in file order (fairseq Dictionary.add_from_file).
  static Vocab from_fairseq_dict(const std::string& path);

  // JSON file: {"format": "hubmamba.ctc_vocab", "version": 1, "blank": 0, "word_separator": "|",
  //             "symbols": ["<blank>", "|", "E", ...], "counts": [0, 1234, 987, ...]}  ("counts" optional).
  Json to_json() const;
  static Vocab from_json(const Json& j, const std::string& source);
  void save(const std::string& path) const;  // atomic
  static Vocab load(const std::string& path);

  int32_t size() const { return int32_t(symbols_.size()); }  // V of the CTC output layer, blank included
  const std::string& symbol(int32_t id) const;               // throws on an id outside [0, size)
  int32_t id(const std::string& symbol) const;               // -1 when absent
  int32_t separator() const { return separator_; }
  const std::vector<std::string>& symbols() const { return symbols_; }  // [0] is kBlankSymbol
  const std::vector<int64_t>& counts() const { return counts_; }        // empty, or one per symbol ([0] = 0)

  // A .ltr line ("H E L L O | W O R L D |") -> ids. `where` ("train.ltr:7") names the line in errors: unknown
  // symbols and the blank symbol (never a CTC target) are rejected.
  std::vector<int32_t> encode(const std::string& ltr_line, const std::string& where) const;
  // Every line of a .ltr file (read_ltr) -> ids; errors name path:line.
  std::vector<std::vector<int32_t>> encode_file(const std::string& ltr_path) const;
  // ids -> words ("HELLO WORLD"): blanks are skipped (as fairseq's Dictionary.string skips <s>), '|' splits
  // words, repeated or leading '|' produce no empty words. Ids outside [0, size) throw.
  std::string decode(const std::vector<int32_t>& ids) const;

 private:
  std::vector<std::string> symbols_;  // (V,) symbols_[0] = kBlankSymbol
  std::vector<int64_t> counts_;       // (V,) or empty
  std::map<std::string, int32_t> index_;
  int32_t separator_ = -1;
};

}  // namespace hm
