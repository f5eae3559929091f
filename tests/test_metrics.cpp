// WER/CER: hand-computed alignments (substitution, deletion, insertion, empty hypothesis, empty reference,
// all insertions), alignment invariants on random token strings, corpus aggregation, the report and
// `hubmamba eval` on text files.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "engine/rng.h"
#include "tests/test_util.h"
#include "train/cli.h"
#include "train/metrics.h"

namespace hm::test {
namespace {
namespace fs = std::filesystem;

using Tokens = std::vector<std::string>;

std::string ops_of(const Alignment& a) {
  std::string s;
  for (const AlignedPair& p : a.pairs) s += p.op == EditOp::match ? '=' : edit_op_letter(p.op);
  return s;
}

void expect_counts(const ErrorCounts& c, int64_t S, int64_t D, int64_t I, int64_t N) {
  EXPECT_EQ(c.substitutions, S);
  EXPECT_EQ(c.deletions, D);
  EXPECT_EQ(c.insertions, I);
  EXPECT_EQ(c.ref_length, N);
}

TEST(Metrics, HandComputedWerAndCer) {
  // THE CAT SAT ON THE MAT -> THE BAT SAT ON MAT: CAT/BAT substituted, the second THE deleted.
  const UtteranceScore s = score_utterance("THE BAT SAT ON MAT", "THE CAT SAT ON THE MAT");
  expect_counts(s.words.counts, 1, 1, 0, 6);
  EXPECT_EQ(ops_of(s.words), "=S==D=");
  EXPECT_DOUBLE_EQ(s.words.counts.rate(), 2.0 / 6.0);
  // Letters with a '|' after every word: 17 + 6 = 23 units; C->B, and T H E | deleted.
  expect_counts(s.letters.counts, 1, 4, 0, 23);
  EXPECT_EQ(s.letters.counts.hyp_length, 19);

  // HELLO WORLD -> HELO WORLD: one letter deleted of 12 units (H E L L O | W O R L D |).
  const UtteranceScore h = score_utterance("HELO WORLD", "HELLO WORLD");
  expect_counts(h.words.counts, 1, 0, 0, 2);
  expect_counts(h.letters.counts, 0, 1, 0, 12);
  EXPECT_EQ(letter_units("HI  YO"), (Tokens{"H", "I", "|", "Y", "O", "|"}));
  EXPECT_EQ(letter_units("ÉTÉ"), (Tokens{"É", "T", "É", "|"}));  // UTF-8 code points, not bytes
  EXPECT_EQ(split_words("  A\tB   C "), (Tokens{"A", "B", "C"}));
  EXPECT_EQ(letter_units(""), Tokens{});
}

TEST(Metrics, EmptyHypothesisEmptyReferenceAndAllInsertions) {
  const UtteranceScore empty_hyp = score_utterance("", "A B C");
  expect_counts(empty_hyp.words.counts, 0, 3, 0, 3);
  EXPECT_DOUBLE_EQ(empty_hyp.words.counts.rate(), 1.0);
  expect_counts(empty_hyp.letters.counts, 0, 6, 0, 6);

  // An empty reference has no rate, but its insertions count in the corpus.
  const UtteranceScore empty_ref = score_utterance("X Y", "");
  expect_counts(empty_ref.words.counts, 0, 0, 2, 0);
  EXPECT_TRUE(std::isnan(empty_ref.words.counts.rate()));
  EXPECT_EQ(empty_ref.words.counts.summary("WER"), "WER n/a (S=0 D=0 I=2 N=0)");
  const UtteranceScore both = score_utterance("", "");
  EXPECT_EQ(both.words.counts.errors(), 0);
  EXPECT_TRUE(both.words.pairs.empty());

  // Every reference word found, three extra words: WER 150 %; rates above 100 % are not clipped.
  const UtteranceScore ins = score_utterance("X A Y B Z", "A B");
  expect_counts(ins.words.counts, 0, 0, 3, 2);
  EXPECT_EQ(ops_of(ins.words), "I=I=I");
  EXPECT_DOUBLE_EQ(ins.words.counts.rate(), 1.5);
  EXPECT_EQ(ins.words.counts.summary("WER"), "WER 150.00% (S=0 D=0 I=3 N=2)");

  // Ties between equally short alignments: the diagonal wins, so a swap is two substitutions.
  const Alignment swap = align({"A", "B"}, {"B", "A"});
  expect_counts(swap.counts, 2, 0, 0, 2);
}

TEST(Metrics, AlignmentInvariantsOnRandomStrings) {
  // Every alignment must walk both sequences in order, match only equal tokens, substitute only different
  // ones, and cost exactly the edit distance (checked by a plain recursive definition on short strings).
  Generator gen(5);
  auto random_tokens = [&](size_t max_len) {
    Tokens t(gen.next_below(max_len + 1));
    for (std::string& s : t) s = std::string(1, char('a' + gen.next_below(3)));
    return t;
  };
  std::function<int64_t(const Tokens&, size_t, const Tokens&, size_t)> dist = [&](const Tokens& r, size_t i,
                                                                                  const Tokens& h, size_t j) {
    if (i == r.size()) return int64_t(h.size() - j);
    if (j == h.size()) return int64_t(r.size() - i);
    return std::min({dist(r, i + 1, h, j + 1) + (r[i] != h[j]), dist(r, i + 1, h, j) + 1, dist(r, i, h, j + 1) + 1});
  };
  for (int trial = 0; trial < 200; ++trial) {
    const Tokens r = random_tokens(6), h = random_tokens(6);
    const Alignment a = align(r, h);
    int32_t next_r = 0, next_h = 0;
    for (const AlignedPair& p : a.pairs) {
      if (p.ref >= 0) {
        ASSERT_EQ(p.ref, next_r++);
      }
      if (p.hyp >= 0) {
        ASSERT_EQ(p.hyp, next_h++);
      }
      ASSERT_EQ(p.ref < 0, p.op == EditOp::insertion);
      ASSERT_EQ(p.hyp < 0, p.op == EditOp::deletion);
      if (p.op == EditOp::match) {
        ASSERT_EQ(r[size_t(p.ref)], h[size_t(p.hyp)]);
      }
      if (p.op == EditOp::substitution) {
        ASSERT_NE(r[size_t(p.ref)], h[size_t(p.hyp)]);
      }
    }
    ASSERT_EQ(size_t(next_r), r.size());
    ASSERT_EQ(size_t(next_h), h.size());
    ASSERT_EQ(a.counts.errors(), dist(r, 0, h, 0)) << "trial " << trial;
  }
}

TEST(Metrics, CorpusRateIsTotalErrorsOverTotalLength) {
  // Utterance 1: 1 error in 1 word (100 %); utterance 2: 0 in 9. Corpus WER 10 %, not the 50 % mean.
  const CorpusScore c = score_corpus({"B", "A B C D E F G H I"}, {"A", "A B C D E F G H I"});
  expect_counts(c.words, 1, 0, 0, 10);
  EXPECT_DOUBLE_EQ(c.words.rate(), 0.1);
  // The insertions of an empty reference count in the corpus totals.
  const CorpusScore e = score_corpus({"X", "A"}, {"", "A"});
  expect_counts(e.words, 0, 0, 1, 1);
  EXPECT_DOUBLE_EQ(e.words.rate(), 1.0);
  EXPECT_TRUE(throws_with([] { score_corpus({"A"}, {"A", "B"}); }, "1 hypotheses but 2 references"));
}

TEST(Metrics, ReportAndDetails) {
  const CorpusScore c = score_corpus({"THE BAT SAT ON MAT", ""}, {"THE CAT SAT ON THE MAT", ""});
  const Json j = report_json(c);
  EXPECT_EQ(j.at("utterances").as_int(), 2);
  EXPECT_NEAR(j.at("wer_percent").as_number(), 100.0 / 3.0, 1e-9);
  EXPECT_EQ(j.at("words").at("substitutions").as_int(), 1);
  EXPECT_EQ(j.at("words").at("deletions").as_int(), 1);
  EXPECT_EQ(j.at("letters").at("ref_length").as_int(), 23);
  EXPECT_EQ(j.at("per_utterance")[0].at("ref").as_string(), "THE CAT SAT ON THE MAT");
  EXPECT_TRUE(j.at("per_utterance")[1].at("words").at("rate_percent").is_null());  // N = 0
  const std::string d = format_details(c);
  EXPECT_NE(d.find("WER 33.33% (S=1 D=1 I=0 N=6)"), std::string::npos) << d;
  EXPECT_NE(d.find("REF: THE CAT SAT ON THE MAT\n"
                   "HYP: THE BAT SAT ON *** MAT\n"
                   "         S          D\n"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("utterance 2: WER n/a (S=0 D=0 I=0 N=0)"), std::string::npos) << d;
}

fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / cat("hm_test_metrics_", name, "_", ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_text(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

int run_cli(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return cli::commands().at(args[0]).run(int(argv.size()), argv.data());
}

TEST(Metrics, EvalCommandScoresTextFiles) {
  const fs::path d = scratch("cli");
  write_text(d / "hyp.txt", "THE BAT SAT ON MAT\nHELLO\n");
  write_text(d / "ref.wrd", "THE CAT SAT ON THE MAT\nHELLO\n");
  const std::string report = (d / "report.json").string(), details = (d / "details.txt").string();
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(run_cli({"eval", "--hyp", (d / "hyp.txt").string(), "--ref", (d / "ref.wrd").string(), "--out", report,
                     "--details", details}),
            0);
  const std::string printed = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(printed.find("WER 28.57% (S=1 D=1 I=0 N=7)"), std::string::npos) << printed;
  const Json j = Json::parse_file(report);
  EXPECT_EQ(j.at("words").at("errors").as_int(), 2);
  EXPECT_EQ(j.at("ref_file").as_string(), (d / "ref.wrd").string());
  EXPECT_EQ(j.at("per_utterance").size(), 2u);
  std::ifstream in(details);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("HYP: THE BAT SAT ON *** MAT"), std::string::npos);

  write_text(d / "short.txt", "THE CAT\n");
  EXPECT_TRUE(throws_with(
      [&] {
        run_cli({"eval", "--hyp", (d / "short.txt").string(), "--ref", (d / "ref.wrd").string(), "--out", report});
      },
      (d / "short.txt").string() + " has 1 lines but " + (d / "ref.wrd").string() + " has 2"));
}

}  // namespace
}  // namespace hm::test
