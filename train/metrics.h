// Recognition metrics: Levenshtein alignment with backtrace (substitutions, deletions, insertions), word error
// rate WER = (S + D + I) / N over whitespace-separated words, and character error rate CER over letter units,
// per utterance and summed over a corpus (corpus rate = total errors / total reference length, as fairseq and
// sclite aggregate; not the mean of per-utterance rates).
//
// CER units follow what fairseq reports as "uer" when fine-tuning on .ltr targets (fairseq/criterions/ctc.py:
// editdistance over the target ids `H E L L O | W O R L D |`, word separators included): every word contributes
// its characters (UTF-8 code points) followed by one '|'. So "HELLO WORLD" has N = 12 units, and a dropped word
// costs its letters plus its separator. (fairseq compares raw decoded ids, where a stray leading or doubled '|'
// also counts; scoring text, as here, cannot see those, so our CER can be slightly lower on such outputs.)
//
// Empty references: N = 0 makes the rate undefined (NaN, written as null in JSON, "n/a" in text); their
// insertions still count in the corpus totals. Text is compared exactly (no case folding or normalization).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/json.h"

namespace hm {

struct ErrorCounts {
  int64_t substitutions = 0, deletions = 0, insertions = 0;
  int64_t ref_length = 0;  // N
  int64_t hyp_length = 0;
  int64_t errors() const { return substitutions + deletions + insertions; }
  double rate() const;  // errors / N; NaN when N == 0
  ErrorCounts& operator+=(const ErrorCounts& o);
  std::string summary(const std::string& name) const;  // "WER 12.50% (S=1 D=0 I=0 N=8)"; "n/a" when N == 0
  Json to_json() const;  // {"substitutions", "deletions", "insertions", "errors", "ref_length", "hyp_length",
                         //  "rate_percent" (null when N == 0)}
};

enum class EditOp : uint8_t { match, substitution, deletion, insertion };
char edit_op_letter(EditOp op);  // ' ', 'S', 'D', 'I'

struct AlignedPair {
  EditOp op;
  int32_t ref, hyp;  // token indices; -1 for the side that has no token (insertion: ref, deletion: hyp)
};

struct Alignment {
  std::vector<AlignedPair> pairs;  // in order
  ErrorCounts counts;
};

// Minimum edit distance with unit costs, and one alignment that attains it. Among equal-cost alignments the
// backtrace (from the end) prefers match/substitution, then deletion, then insertion, so the S/D/I split is
// deterministic; S + D + I always equals the edit distance.
Alignment align(const std::vector<std::string>& ref, const std::vector<std::string>& hyp);

std::vector<std::string> split_words(const std::string& text);   // on runs of spaces and tabs
std::vector<std::string> letter_units(const std::string& text);  // "HI YO" -> H I | Y O |

struct UtteranceScore {
  std::string ref, hyp;
  std::vector<std::string> ref_words, hyp_words, ref_letters, hyp_letters;
  Alignment words, letters;
};

struct CorpusScore {
  std::vector<UtteranceScore> utterances;
  ErrorCounts words, letters;  // sums over the utterances
};

UtteranceScore score_utterance(const std::string& hyp, const std::string& ref);
// hyps[i] is scored against refs[i]; the sizes must match.
CorpusScore score_corpus(const std::vector<std::string>& hyps, const std::vector<std::string>& refs);

// The report `hubmamba eval` writes: corpus WER/CER with their counts and every utterance's texts and counts.
Json report_json(const CorpusScore& score);
// Human-readable alignments, sclite style: REF/HYP rows with "***" in gaps and an S/D/I marker row.
std::string format_details(const CorpusScore& score);

}  // namespace hm
