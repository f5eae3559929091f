// `hubmamba synth`: the subprocess runner, the engines' command lines, the project's sentence list, and tiny
// corpora (espeak-ng only, skipped when it is not installed) that must be consumable, held out and
// deterministic for a seed whatever --jobs is.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "tests/test_util.h"
#include "train/audio.h"
#include "train/manifest.h"
#include "train/synth.h"

namespace hm::test {
namespace {
namespace fs = std::filesystem;
using synth::Options;

fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / cat("hm_test_synth_", name, "_", ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool espeak_installed() {
  for (const synth::Voice& v : synth::installed_voices({"espeak-ng"}))
    if (v.engine == synth::Engine::espeak) return true;
  return false;
}

TEST(Synth, RunProcessReportsExitCodesTimeoutsAndMissingPrograms) {
  const fs::path d = scratch("process");
  const std::string log = (d / "log").string();
  synth::ProcessResult r = synth::run_process({"true"}, 10, log);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  r = synth::run_process({"false"}, 10, log);
  EXPECT_EQ(r.exit_code, 1);
  // Arguments reach the program verbatim: no shell sees them.
  r = synth::run_process({"echo", "a; rm -rf /nonexistent $(id) `x`"}, 10, log);
  EXPECT_EQ(r.output, "a; rm -rf /nonexistent $(id) `x`\n");
  const auto t0 = std::chrono::steady_clock::now();
  r = synth::run_process({"sleep", "5"}, 0.2, log);
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 3.0);
  EXPECT_TRUE(
      throws_with([&] { synth::run_process({"no-such-program-hm"}, 1, log); }, "no-such-program-hm: cannot start"));
  fs::remove_all(d);
}

TEST(Synth, EngineCommandsAreArgumentVectorsWithTextInAFile) {
  const std::string text = "Hello \"there\"; $(rm -rf x) (voice_evil)";
  for (const synth::Voice& v : {synth::Voice{synth::Engine::espeak, "en-gb", "m3", "espeak-m3"},
                                synth::Voice{synth::Engine::flite, "slt", "", "slt"},
                                synth::Voice{synth::Engine::festival, "kal_diphone", "", "kal"},
                                synth::Voice{synth::Engine::festival, "cmu_us_slt_arctic_hts", "", "slt"}}) {
    const auto cmd = synth::engine_command({v, 1.1, 0.9, text}, "/tmp/t.txt", "/tmp/o.wav");
    ASSERT_FALSE(cmd.empty());
    EXPECT_TRUE(cmd[0] == "espeak-ng" || cmd[0] == "flite" || cmd[0] == "text2wave") << cmd[0];
    for (const std::string& a : cmd) EXPECT_EQ(a.find("rm -rf"), std::string::npos) << v.name();
    EXPECT_NE(std::find(cmd.begin(), cmd.end(), "/tmp/t.txt"), cmd.end()) << v.name();
    EXPECT_NE(std::find(cmd.begin(), cmd.end(), "/tmp/o.wav"), cmd.end()) << v.name();
  }
  const auto es = synth::engine_command({{synth::Engine::espeak, "en-us", "f2", "x"}, 1.2, 0.8, "hi"}, "t", "o");
  EXPECT_EQ(es,
            (std::vector<std::string>{"espeak-ng", "-v", "en-us+f2", "-s", "198", "-p", "40", "-f", "t", "-w", "o"}));
}

TEST(Synth, ProjectSentenceListIsLargeAndSpellable) {
  const std::string path = std::string(HM_SOURCE_DIR) + "/data/sentences.txt";
  const std::vector<synth::Sentence> s = synth::read_sentences(path);
  std::set<std::string> distinct, types;
  for (const auto& x : s) {
    distinct.insert(x.words);
    std::istringstream in(x.words);
    for (std::string w; in >> w;) types.insert(w);
  }
  EXPECT_GE(distinct.size(), 3000u);
  EXPECT_GE(types.size(), 2000u);
  const fs::path d = scratch("sentences");
  std::ofstream(d / "s.txt") << "# comment\nOne fine day.\n\nTwo cats sat.\nRoom 101 is free.\n";
  EXPECT_TRUE(
      throws_with([&] { synth::read_sentences((d / "s.txt").string()); }, "s.txt:5: cannot spell character '1'"));
  fs::remove_all(d);
}

Options tiny(const fs::path& out, int64_t utterances, int jobs) {
  Options o;
  o.out_dir = out.string();
  o.sentences = std::string(HM_SOURCE_DIR) + "/data/sentences.txt";
  o.utterances = utterances;
  o.jobs = jobs;
  o.speakers = 5;
  o.engines = {"espeak-ng"};
  o.valid_fraction = 0.15;
  o.test_fraction = 0.15;
  o.seed = 7;
  o.progress = false;
  return o;
}

TEST(Synth, TinyCorpusIsConsumableAndHeldOut) {
  if (!espeak_installed()) GTEST_SKIP() << "espeak-ng is not installed (tools/install_deps.sh installs it)";
  const fs::path d = scratch("tiny");
  const synth::Report r = synth::build_corpus(tiny(d / "corpus", 12, 2));
  EXPECT_EQ(r.utterances[0] + r.utterances[1] + r.utterances[2], 12);
  EXPECT_EQ(r.utterances[2], 2);  // ceil(12 * 0.15)
  EXPECT_EQ(r.utterances[1], 2);
  EXPECT_GE(r.speakers[1], 1);
  EXPECT_EQ(r.speakers[0] + r.speakers[1], 5);
  const std::string dir = (d / "corpus").string();
  std::map<std::string, std::set<std::string>> speakers, sentences;  // split -> speaker ids / transcripts
  for (const char* split : {"train", "valid", "test"}) {
    EXPECT_EQ(validate_split(dir, split), size_t(r.utterances[split[1] == 'r' ? 0 : split[1] == 'a' ? 1 : 2]));
    const Manifest m = read_manifest(cat(dir, "/", split, ".tsv"));
    const auto wrd = read_wrd(cat(dir, "/", split, ".wrd"));
    for (size_t i = 0; i < m.entries.size(); ++i) {
      const Audio a = read_audio(m.audio_path(i));
      EXPECT_EQ(int64_t(a.samples.size()), m.entries[i].num_samples);
      EXPECT_GT(a.samples.size(), size_t(kSampleRate / 2));
      const fs::path p(m.entries[i].path);
      // LibriSpeech layout: split/SPK/CHAP/SPK-CHAP-NNNN.flac with the transcript in SPK-CHAP.trans.txt.
      const std::string spk = p.parent_path().parent_path().filename().string();
      const std::string chap = p.parent_path().filename().string();
      EXPECT_EQ(p.stem().string().rfind(spk + "-" + chap + "-", 0), 0u) << p;
      const auto trans =
          read_librispeech_transcripts(cat(m.root, "/", p.parent_path().string(), "/", spk, "-", chap, ".trans.txt"));
      EXPECT_EQ(trans.at(p.stem().string()), wrd[i]);
      speakers[split].insert(spk);
      sentences[split].insert(wrd[i]);
    }
  }
  for (const auto& s : speakers["test"]) {
    EXPECT_FALSE(speakers["train"].count(s)) << "test speaker " << s << " also in train";
    EXPECT_FALSE(speakers["valid"].count(s)) << "test speaker " << s << " also in valid";
  }
  for (const auto& s : sentences["train"]) {
    EXPECT_FALSE(sentences["test"].count(s)) << s;
    EXPECT_FALSE(sentences["valid"].count(s)) << s;
  }
  EXPECT_NE(slurp(d / "corpus" / "SPEAKERS.TXT").find("espeak-ng"), std::string::npos);
  EXPECT_FALSE(fs::exists(d / "corpus" / "audio.partial"));
  EXPECT_FALSE(fs::exists(d / "corpus" / "tmp"));
  // An existing corpus is not overwritten unless asked.
  EXPECT_TRUE(throws_with([&] { synth::build_corpus(tiny(d / "corpus", 3, 1)); }, "exists (pass --overwrite"));
  Options again = tiny(d / "corpus", 3, 1);
  again.overwrite = true;
  synth::build_corpus(again);
  EXPECT_EQ(validate_split(dir, "train") + validate_split(dir, "valid") + validate_split(dir, "test"), 3u);
  size_t flacs = 0;
  for (const auto& e : fs::recursive_directory_iterator(d / "corpus" / "audio"))
    flacs += e.path().extension() == ".flac";
  EXPECT_EQ(flacs, 3u);  // the old tree is gone
  fs::remove_all(d);
}

TEST(Synth, SameSeedSameCorpusWhateverTheJobs) {
  if (!espeak_installed()) GTEST_SKIP() << "espeak-ng is not installed (tools/install_deps.sh installs it)";
  const fs::path d = scratch("determinism");
  synth::build_corpus(tiny(d / "a", 8, 1));
  synth::build_corpus(tiny(d / "b", 8, 3));
  Options other = tiny(d / "c", 8, 2);
  other.seed = 8;
  synth::build_corpus(other);
  auto body = [](const fs::path& p) {  // a file without its first line (the .tsv root differs)
    const std::string s = slurp(p);
    return s.substr(s.find('\n') + 1);
  };
  for (const char* f : {"train.tsv", "valid.tsv", "test.tsv", "train.wrd", "test.ltr", "SPEAKERS.TXT"})
    EXPECT_EQ(body(d / "a" / f), body(d / "b" / f)) << f;
  EXPECT_NE(slurp(d / "a" / "train.wrd"), slurp(d / "c" / "train.wrd"));
  const Manifest m = read_manifest((d / "a" / "train.tsv").string());
  ASSERT_FALSE(m.entries.empty());
  for (const ManifestEntry& e : m.entries)
    EXPECT_EQ(slurp(d / "a" / "audio" / e.path), slurp(d / "b" / "audio" / e.path)) << e.path;
  fs::remove_all(d);
}

TEST(Synth, HoursModeStopsAtTheShortestPrefixWithEnoughAudio) {
  if (!espeak_installed()) GTEST_SKIP() << "espeak-ng is not installed (tools/install_deps.sh installs it)";
  const fs::path d = scratch("hours");
  Options o = tiny(d / "h", 0, 2);
  o.hours = 15.0 / 3600;  // 15 s
  const synth::Report r = synth::build_corpus(o);
  const double total = r.seconds[0] + r.seconds[1] + r.seconds[2];
  const int64_t count = r.utterances[0] + r.utterances[1] + r.utterances[2];
  EXPECT_GE(total, 15.0);
  // The same plan cut one utterance earlier has less than 15 s: the prefix is the shortest one.
  const synth::Report shorter = synth::build_corpus(tiny(d / "s", count - 1, 2));
  EXPECT_LT(shorter.seconds[0] + shorter.seconds[1] + shorter.seconds[2], 15.0);
  // --utterances equal to the count it made gives the same corpus, and so does another --jobs.
  synth::build_corpus(tiny(d / "u", count, 1));
  Options o3 = o;
  o3.out_dir = (d / "j3").string();
  o3.jobs = 3;
  synth::build_corpus(o3);
  for (const char* f : {"train.wrd", "valid.wrd", "test.wrd"}) {
    EXPECT_EQ(slurp(d / "h" / f), slurp(d / "u" / f)) << f;
    EXPECT_EQ(slurp(d / "h" / f), slurp(d / "j3" / f)) << f;
  }
  fs::remove_all(d);
}

TEST(Synth, ErrorsAreOneClearLine) {
  const fs::path d = scratch("errors");
  Options o = tiny(d / "x", 3, 1);
  o.engines = {"espeak-ng", "say"};
  EXPECT_TRUE(throws_with([&] { synth::build_corpus(o); }, "unknown engine 'say'"));
  o = tiny(d / "x", 3, 1);
  o.sentences = (d / "missing.txt").string();
  EXPECT_TRUE(throws_with([&] { synth::build_corpus(o); }, "missing.txt: cannot open"));
  o = tiny(d / "x", 3, 1);
  o.speakers = 1;
  EXPECT_TRUE(throws_with([&] { synth::build_corpus(o); }, "--speakers must be >= 2"));
  if (espeak_installed()) {
    // A voice the engine does not have: the failing utterance is named, nothing looks complete.
    const synth::Rendering bad{{synth::Engine::espeak, "xx-nonexistent", "m1", "x"}, 1, 1, "Hello there."};
    EXPECT_TRUE(throws_with([&] { synth::synthesize(bad, (d / "job").string(), 10); },
                            "espeak-ng:xx-nonexistent+m1 on 'Hello there.': espeak-ng exited with status"));
  }
  fs::remove_all(d);
}

}  // namespace
}  // namespace hm::test
