// Manifests and transcripts: fairseq's .tsv/.wrd/.ltr/.km formats read and written, cross-checks that name the
// file and line that disagree, and `hubmamba manifest` (build_manifests) on a small LibriSpeech-style tree.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>

#include "tests/test_util.h"
#include "train/atomic_file.h"
#include "train/audio.h"
#include "train/manifest.h"

namespace hm::test {
namespace {
namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / cat("hm_test_manifest_", name, "_", ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_text(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

std::vector<float> tone(int64_t n, int rate) {
  std::vector<float> x(static_cast<size_t>(n));  // (n,)
  for (int64_t i = 0; i < n; ++i)
    x[size_t(i)] = 0.3f * float(std::sin(2 * std::numbers::pi * 220.0 * double(i) / rate));
  return x;
}

TEST(Manifest, LettersAndWordsFollowFairseq) {
  // examples/wav2vec/libri_labels.py: " ".join(list(words.replace(" ", "|"))) + " |"
  EXPECT_EQ(words_to_letters("HELLO WORLD"), "H E L L O | W O R L D |");
  EXPECT_EQ(words_to_letters("DON'T"), "D O N ' T |");
  EXPECT_EQ(letters_to_words("H E L L O | W O R L D |"), "HELLO WORLD");
  EXPECT_EQ(normalize_transcript("Don't stop, Anna!  'Really?'"), "DON'T STOP ANNA REALLY");
  EXPECT_EQ(normalize_transcript("well-known"), "WELL KNOWN");
  EXPECT_TRUE(throws_with([] { normalize_transcript("room 101", "t.txt:3"); }, "t.txt:3: cannot spell character '1'"));
  EXPECT_TRUE(throws_with([] { letters_to_words("H E L L O", "x.ltr:2"); }, "x.ltr:2: must end with"));
  EXPECT_TRUE(throws_with([] { letters_to_words("HE L L O |", "x.ltr:2"); }, "x.ltr:2: letter tokens"));
  EXPECT_TRUE(throws_with([] { letters_to_words("H | | O |", "x.ltr:2"); }, "x.ltr:2: empty word"));
  EXPECT_TRUE(throws_with([] { letters_to_words("h i |", "x.ltr:2"); }, "x.ltr:2: unexpected letter 'h'"));
  EXPECT_TRUE(throws_with([] { letters_to_words("H  I |", "x.ltr:2"); }, "x.ltr:2: letters must be separated"));
  EXPECT_TRUE(throws_with([] { letters_to_words("", "x.ltr:2"); }, "x.ltr:2: empty transcript"));
}

TEST(Manifest, TsvWrdLtrKmRoundTrip) {
  const fs::path d = scratch("roundtrip");
  Manifest m;
  m.root = "/data/corpus";
  m.entries = {{"a/1.flac", 16000}, {"b/2.flac", 32080}};
  write_manifest((d / "train.tsv").string(), m);
  const Manifest r = read_manifest((d / "train.tsv").string());
  EXPECT_EQ(r.root, m.root);
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[1].path, "b/2.flac");
  EXPECT_EQ(r.entries[1].num_samples, 32080);
  EXPECT_EQ(r.audio_path(0), "/data/corpus/a/1.flac");
  std::ifstream in(d / "train.tsv");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "/data/corpus\na/1.flac\t16000\nb/2.flac\t32080\n");

  const std::vector<std::string> wrd = {"HELLO WORLD", "GOOD MORNING"};
  std::vector<std::string> ltr;
  for (const auto& w : wrd) ltr.push_back(words_to_letters(w));
  write_lines((d / "train.wrd").string(), wrd);
  write_lines((d / "train.ltr").string(), ltr);
  // Labels at 50 Hz: 1 s -> 50 labels, 2.005 s -> 100 labels (within fairseq's 0.1 s tolerance).
  const std::vector<std::vector<int32_t>> km = {std::vector<int32_t>(50, 3), std::vector<int32_t>(100, 7)};
  write_km((d / "train.km").string(), km);
  EXPECT_EQ(read_wrd((d / "train.wrd").string()), wrd);
  EXPECT_EQ(read_ltr((d / "train.ltr").string()), ltr);
  EXPECT_EQ(read_km((d / "train.km").string()), km);
  EXPECT_EQ(validate_split(d.string(), "train", 50), 2u);

  // A relative root is resolved against the manifest's directory.
  write_text(d / "rel.tsv", "audio\nx.wav\t5\n");
  EXPECT_EQ(read_manifest((d / "rel.tsv").string()).audio_path(0), (d / "audio" / "x.wav").string());
  fs::remove_all(d);
}

TEST(Manifest, MalformedFilesNameTheLine) {
  const fs::path d = scratch("malformed");
  auto path = [&](const char* n) { return (d / n).string(); };
  write_text(d / "a.tsv", "/root\ngood.flac\t100\nbad line\n");
  EXPECT_TRUE(throws_with([&] { read_manifest(path("a.tsv")); }, "a.tsv:3: expected 'relative/path<TAB>num_samples'"));
  write_text(d / "b.tsv", "/root\nx.flac\tmany\n");
  EXPECT_TRUE(throws_with([&] { read_manifest(path("b.tsv")); }, "b.tsv:2: num_samples must be a positive integer"));
  write_text(d / "c.tsv", "x.flac\t100\n");
  EXPECT_TRUE(throws_with([&] { read_manifest(path("c.tsv")); }, "c.tsv:1: expected the audio root directory"));
  write_text(d / "e.tsv", "");
  EXPECT_TRUE(throws_with([&] { read_manifest(path("e.tsv")); }, "e.tsv:1: missing root"));
  write_text(d / "a.km", "1 2 3\n4 x 6\n");
  EXPECT_TRUE(throws_with([&] { read_km(path("a.km")); }, "a.km:2: labels must be non-negative integers"));
  write_text(d / "b.km", "1 2\n\n");
  EXPECT_TRUE(throws_with([&] { read_km(path("b.km")); }, "b.km:2: no labels"));
  write_text(d / "c.km", "1 -2\n");
  EXPECT_TRUE(throws_with([&] { read_km(path("c.km")); }, "c.km:1: labels must be non-negative"));
  write_text(d / "a.wrd", "HELLO\nhello there\n");
  EXPECT_TRUE(throws_with([&] { read_wrd(path("a.wrd")); }, "a.wrd:2: transcript 'hello there' is not normalized"));
  write_text(d / "a.ltr", "H I |\nH I\n");
  EXPECT_TRUE(throws_with([&] { read_ltr(path("a.ltr")); }, "a.ltr:2: must end with"));
  write_text(d / "crlf.wrd", "HELLO\r\n");
  EXPECT_TRUE(throws_with([&] { read_wrd(path("crlf.wrd")); }, "crlf.wrd:1: carriage return"));
  EXPECT_TRUE(throws_with([&] { read_lines(path("nope.txt")); }, "nope.txt: cannot open"));
  fs::remove_all(d);
}

TEST(AtomicFile, CreatesMissingDirectoriesAndLeavesNoTemporary) {
  const fs::path d = scratch("atomic");
  // `hubmamba label --out labels/train.km` into a directory that does not exist yet.
  const std::string km = (d / "labels" / "it1" / "train.km").string();
  write_km(km, {{1, 2}, {3}});
  EXPECT_EQ(read_km(km), (std::vector<std::vector<int32_t>>{{1, 2}, {3}}));
  {
    AtomicFile f((d / "new" / "x.txt").string());
    f.out() << "never committed";
  }
  EXPECT_FALSE(fs::exists(d / "new" / "x.txt"));
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(d)) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1u);  // only train.km: no temporary left behind
  // A parent that is a regular file cannot become a directory: the error names the target.
  write_text(d / "plain", "x");
  EXPECT_TRUE(throws_with([&] { write_file_atomic((d / "plain" / "y.txt").string(), "y"); },
                          "plain/y.txt: cannot create directory"));
  fs::remove_all(d);
}

TEST(Manifest, MismatchedLabelsNameTheLine) {
  const fs::path d = scratch("mismatch");
  auto path = [&](const char* n) { return (d / n).string(); };
  write_text(d / "train.tsv", "/root\na.flac\t16000\nb.flac\t16000\nc.flac\t48000\n");
  const Manifest m = read_manifest(path("train.tsv"));
  // Too few / too many lines.
  write_text(d / "train.wrd", "ONE\nTWO\n");
  EXPECT_TRUE(throws_with([&] { validate_split(d.string(), "train"); }, "train.wrd: 2 lines but"));
  EXPECT_TRUE(throws_with([&] { validate_split(d.string(), "train"); }, "(line 4 of"));
  write_text(d / "train.wrd", "ONE\nTWO\nTHREE\nFOUR\n");
  EXPECT_TRUE(throws_with([&] { validate_split(d.string(), "train"); }, "train.wrd:4: extra line"));
  // .ltr that spells another line.
  write_text(d / "train.wrd", "ONE\nTWO\nTHREE\n");
  write_text(d / "train.ltr", "O N E |\nT W O |\nT H R E |\n");
  EXPECT_TRUE(throws_with([&] { validate_split(d.string(), "train"); }, "train.ltr:3: 'T H R E |' does not spell"));
  write_text(d / "train.ltr", "O N E |\nT W O |\nT H R E E |\n");
  EXPECT_EQ(validate_split(d.string(), "train"), 3u);
  // .km whose length does not match the audio (100 Hz labels: 1 s = 100 labels).
  write_text(d / "train.km", "1 1 1\n");
  EXPECT_TRUE(throws_with([&] { validate_split(d.string(), "train", 100); }, "train.km: 1 lines but"));
  std::vector<std::vector<int32_t>> km = {std::vector<int32_t>(98, 1), std::vector<int32_t>(99, 2),
                                          std::vector<int32_t>(250, 3)};
  write_km(path("train.km"), km);
  EXPECT_TRUE(throws_with([&] { validate_split(d.string(), "train", 100); },
                          "train.km:3: 250 labels at 100 Hz cover 2.5 s but"));
  EXPECT_TRUE(throws_with([&] { validate_split(d.string(), "train", 100); }, "train.tsv:4 (c.flac) is 3 s long"));
  km[2].assign(299, 5);
  write_km(path("train.km"), km);
  EXPECT_EQ(validate_split(d.string(), "train", 100), 3u);
  EXPECT_TRUE(throws_with([&] { validate_km(path("train.tsv"), m, path("train.km"), km, 100, 0.1, 5); },
                          "train.km:3: label 5 >= number of classes 5"));
  fs::remove_all(d);
}

// A tiny LibriSpeech tree: speaker 19 chapter 198 (3 utterances, one at 8 kHz), speaker 26 chapter 495 (2).
fs::path make_librispeech(const fs::path& d) {
  const fs::path root = d / "LibriSpeech" / "train-clean-5";
  const fs::path c1 = root / "19" / "198", c2 = root / "26" / "495";
  fs::create_directories(c1);
  fs::create_directories(c2);
  write_flac((c1 / "19-198-0000.flac").string(), tone(16000, 16000), 16000);
  write_flac((c1 / "19-198-0001.flac").string(), tone(8000, 16000), 16000);
  write_flac((c1 / "19-198-0002.flac").string(), tone(4000, 8000), 8000);  // 0.5 s at 8 kHz -> 8000 at 16 kHz
  write_flac((c2 / "26-495-0000.flac").string(), tone(24000, 16000), 16000);
  write_flac((c2 / "26-495-0001.flac").string(), tone(12345, 16000), 16000);
  write_text(c1 / "19-198.trans.txt", "19-198-0000 HELLO WORLD\n19-198-0001 GOOD MORNING\n19-198-0002 DON'T STOP\n");
  write_text(c2 / "26-495.trans.txt", "26-495-0000 ONE TWO THREE\n26-495-0001 FOUR\n");
  return root;
}

TEST(Manifest, BuildsFromLibriSpeechTree) {
  const fs::path d = scratch("build");
  const fs::path root = make_librispeech(d);
  ManifestOptions o;
  o.root = root.string();
  o.out_dir = (d / "manifest").string();
  o.valid_percent = 0.4;
  o.progress = false;
  o.jobs = 2;
  const ManifestReport r = build_manifests(o);
  EXPECT_EQ(r.train + r.valid, 5u);
  EXPECT_TRUE(r.transcripts);
  EXPECT_TRUE(r.skipped.empty());
  size_t total = 0;
  std::map<std::string, std::pair<int64_t, std::string>> seen;  // path -> (samples, words)
  for (const char* split : {"train", "valid"}) {
    total += validate_split(o.out_dir, split);
    const Manifest m = read_manifest(cat(o.out_dir, "/", split, ".tsv"));
    EXPECT_EQ(m.root, fs::canonical(root).string());
    const auto wrd = read_wrd(cat(o.out_dir, "/", split, ".wrd"));
    for (size_t i = 0; i < m.entries.size(); ++i) {
      seen[m.entries[i].path] = {m.entries[i].num_samples, wrd[i]};
      EXPECT_EQ(int64_t(read_audio(m.audio_path(i)).samples.size()), m.entries[i].num_samples);
    }
  }
  EXPECT_EQ(total, 5u);
  EXPECT_EQ(seen["19/198/19-198-0002.flac"], (std::pair<int64_t, std::string>{8000, "DON'T STOP"}));
  EXPECT_EQ(seen["26/495/26-495-0001.flac"], (std::pair<int64_t, std::string>{12345, "FOUR"}));
  // Same seed, same split; no temporary files left behind.
  const std::string first = read_lines(o.out_dir + "/train.tsv").back();
  build_manifests(o);
  EXPECT_EQ(read_lines(o.out_dir + "/train.tsv").back(), first);
  for (const auto& e : fs::directory_iterator(o.out_dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  fs::remove_all(d);
}

TEST(Manifest, BadFilesFailOrAreSkippedWhenAsked) {
  const fs::path d = scratch("skip");
  const fs::path root = make_librispeech(d);
  const fs::path bad = root / "26" / "495" / "26-495-0001.flac";
  write_text(bad, "not audio at all");
  ManifestOptions o;
  o.root = root.string();
  o.out_dir = (d / "out").string();
  o.valid_percent = 0;
  o.progress = false;
  // Without --skip-bad: one error naming the file, and no manifest written.
  EXPECT_TRUE(throws_with([&] { build_manifests(o); }, bad.string() + ": cannot read audio"));
  EXPECT_TRUE(throws_with([&] { build_manifests(o); }, "--skip-bad"));
  EXPECT_FALSE(fs::exists(d / "out" / "train.tsv"));
  // With it: the other four files, and the bad one listed.
  o.skip_bad = true;
  const ManifestReport r = build_manifests(o);
  EXPECT_EQ(r.train, 4u);
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_NE(r.skipped[0].find("26-495-0001.flac"), std::string::npos);
  EXPECT_EQ(read_lines(o.out_dir + "/skipped.txt").size(), 1u);
  EXPECT_EQ(validate_split(o.out_dir, "train"), 4u);
  EXPECT_FALSE(fs::exists(d / "out" / "valid.tsv"));  // --valid-percent 0 writes no valid split
  // An utterance without a transcript line names the file.
  write_flac(bad.string(), tone(1600, 16000), 16000);
  write_text(root / "26" / "495" / "26-495.trans.txt", "26-495-0000 ONE TWO THREE\n");
  o.skip_bad = false;
  EXPECT_TRUE(throws_with([&] { build_manifests(o); }, bad.string() + ": no transcript for utterance 26-495-0001"));
  write_text(root / "26" / "495" / "26-495.trans.txt", "26-495-0000 ONE TWO THREE\n26-495-0000 AGAIN\n");
  EXPECT_TRUE(throws_with([&] { build_manifests(o); }, "26-495.trans.txt:2: utterance 26-495-0000 listed twice"));
  o.root = (d / "nothing").string();
  EXPECT_TRUE(throws_with([&] { build_manifests(o); }, "nothing: not a directory"));
  fs::remove_all(d);
}

}  // namespace
}  // namespace hm::test
