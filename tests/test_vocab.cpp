// The CTC letter vocabulary: built from .ltr files in fairseq's symbol order, JSON round trip, fairseq
// dict.ltr.txt import, encode/decode, and errors that name the file and line.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/test_util.h"
#include "train/vocab.h"

namespace hm::test {
namespace {
namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / cat("hm_test_vocab_", name, "_", ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_text(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

TEST(Vocab, BuildsFromLtrFilesInFairseqOrder) {
  const fs::path d = scratch("build");
  // Counts over both files: A 4, | 4, B 2, N 2, ' 1, D 1. Count descending, ties in byte order (fairseq).
  write_text(d / "a.ltr", "B A N A N A |\nA |\n");
  write_text(d / "b.ltr", "D | B ' |\n| \n");  // the last line is malformed: must be rejected by read_ltr
  EXPECT_TRUE(throws_with([&] { Vocab::from_ltr_files({(d / "a.ltr").string(), (d / "b.ltr").string()}); }, "b.ltr:2"));
  write_text(d / "b.ltr", "D | B ' |\n");
  const Vocab v = Vocab::from_ltr_files({(d / "a.ltr").string(), (d / "b.ltr").string()});
  EXPECT_EQ(v.size(), 7);
  EXPECT_EQ(v.symbol(Vocab::kBlank), "<blank>");
  const std::vector<std::string> expect = {"<blank>", "A", "|", "B", "N", "'", "D"};
  EXPECT_EQ(v.symbols(), expect);
  const std::vector<int64_t> counts = {0, 4, 4, 2, 2, 1, 1};
  EXPECT_EQ(v.counts(), counts);
  EXPECT_EQ(v.separator(), 2);
  EXPECT_EQ(v.id("N"), 4);
  EXPECT_EQ(v.id("Z"), -1);
  EXPECT_TRUE(throws_with([] { Vocab::from_ltr_files({}); }, "no .ltr files"));
}

TEST(Vocab, EncodeDecodeRoundTrip) {
  const Vocab v({"|", "E", "L", "O", "H", "W", "R", "D"});
  const std::vector<int32_t> ids = v.encode("H E L L O | W O R L D |", "x.ltr:1");
  const std::vector<int32_t> want = {5, 2, 3, 3, 4, 1, 6, 4, 7, 3, 8, 1};
  EXPECT_EQ(ids, want);
  EXPECT_EQ(v.decode(ids), "HELLO WORLD");
  // Decoder output need not be a well-formed .ltr line: blanks are skipped, stray/doubled '|' make no empty
  // words, and the last word needs no separator.
  EXPECT_EQ(v.decode({1, 0, 5, 0, 2, 1, 1, 0, 6, 4}), "HE WO");
  EXPECT_EQ(v.decode({}), "");
  EXPECT_EQ(v.decode({0, 1, 0}), "");
  EXPECT_TRUE(throws_with([&] { v.decode({3, 9}); }, "id 9 outside [0, 9)"));
  EXPECT_TRUE(throws_with([&] { v.decode({-1}); }, "id -1 outside"));
}

TEST(Vocab, EncodeErrorsNameFileAndLine) {
  const fs::path d = scratch("encode");
  write_text(d / "train.ltr", "H I |\n");
  const Vocab v = Vocab::from_ltr_files({(d / "train.ltr").string()});
  write_text(d / "valid.ltr", "H I |\nH O |\n");
  const std::string valid = (d / "valid.ltr").string();
  EXPECT_TRUE(throws_with([&] { v.encode_file(valid); }, valid + ":2: unknown symbol 'O'"));
  EXPECT_TRUE(throws_with([&] { v.encode("H <blank> |", "t.ltr:4"); }, "t.ltr:4: the CTC blank"));
  const std::vector<std::vector<int32_t>> ids = v.encode_file((d / "train.ltr").string());
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(v.decode(ids[0]), "HI");
}

TEST(Vocab, JsonRoundTripAndErrors) {
  const fs::path d = scratch("json");
  const Vocab v({"|", "E", "T", "'"}, {10, 7, 3, 1});
  const std::string path = (d / "vocab.json").string();
  v.save(path);
  const Vocab r = Vocab::load(path);
  EXPECT_EQ(r.symbols(), v.symbols());
  EXPECT_EQ(r.counts(), v.counts());
  EXPECT_EQ(r.separator(), v.separator());
  const Json j = Json::parse_file(path);
  EXPECT_EQ(j.at("format").as_string(), "hubmamba.ctc_vocab");
  EXPECT_EQ(j.at("symbols")[0].as_string(), "<blank>");

  // Counts are optional; everything else is checked and the error names the file.
  write_text(d / "min.json", R"({"format": "hubmamba.ctc_vocab", "version": 1, "blank": 0, "word_separator": "|",
                                 "symbols": ["<blank>", "|", "A"]})");
  EXPECT_EQ(Vocab::load((d / "min.json").string()).size(), 3);
  const auto bad = [&](const std::string& symbols, const std::string& fragment) {
    const fs::path p = d / "bad.json";
    write_text(p, R"({"format": "hubmamba.ctc_vocab", "version": 1, "blank": 0, "word_separator": "|", "symbols": )" +
                      symbols + "}");
    const auto load = [&] { Vocab::load(p.string()); };
    return throws_with(load, p.string() + ": vocabulary: ") && throws_with(load, fragment);
  };
  EXPECT_TRUE(bad(R"(["|", "A"])", "symbols[0] must be \"<blank>\""));
  EXPECT_TRUE(bad(R"(["<blank>", "A"])", "word separator '|' is missing"));
  EXPECT_TRUE(bad(R"(["<blank>", "|", "A", "A"])", "symbol 'A' listed twice"));
  EXPECT_TRUE(bad(R"(["<blank>", "|", "A B"])", "contains whitespace"));
  EXPECT_TRUE(bad(R"(["<blank>", "|", 3])", "symbols[2]"));
  write_text(d / "other.json", R"({"format": "something", "symbols": []})");
  EXPECT_TRUE(throws_with([&] { Vocab::load((d / "other.json").string()); }, "'format' must be"));
  EXPECT_TRUE(throws_with([] { Vocab({"A", "B"}); }, "word separator '|' is missing"));
  EXPECT_TRUE(throws_with([] { Vocab({"|", "<blank>"}); }, "reserved for the CTC blank"));
}

TEST(Vocab, ReadsFairseqDictInFileOrder) {
  const fs::path d = scratch("fairseq");
  // The head of fairseq's LibriSpeech dict.ltr.txt: our id i >= 1 is fairseq id i + 3 (after <s> <pad> </s> <unk>).
  write_text(d / "dict.ltr.txt", "| 94802\nE 51860\nT 38431\nA 33152\n");
  const Vocab v = Vocab::from_fairseq_dict((d / "dict.ltr.txt").string());
  const std::vector<std::string> want = {"<blank>", "|", "E", "T", "A"};
  EXPECT_EQ(v.symbols(), want);
  EXPECT_EQ(v.counts()[2], 51860);
  write_text(d / "bad.txt", "| 10\nE many\n");
  EXPECT_TRUE(throws_with([&] { Vocab::from_fairseq_dict((d / "bad.txt").string()); }, "bad.txt:2: count 'many'"));
  write_text(d / "bad.txt", "| 10\n<unk> 1\n");
  EXPECT_TRUE(throws_with([&] { Vocab::from_fairseq_dict((d / "bad.txt").string()); }, "bad.txt:2: '<unk>'"));
  write_text(d / "bad.txt", "E 10\n");
  EXPECT_TRUE(throws_with([&] { Vocab::from_fairseq_dict((d / "bad.txt").string()); }, "separator '|' is missing"));
}

}  // namespace
}  // namespace hm::test
