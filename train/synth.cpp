// `hubmamba synth` corpus builder: choose speakers and held-out splits, plan every utterance from the seed,
// synthesize on --jobs workers, write LibriSpeech-layout FLACs and fairseq manifests. See train/synth.h.
#include "train/synth.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "engine/error.h"
#include "train/atomic_file.h"
#include "train/audio.h"
#include "train/manifest.h"

namespace hm::synth {
namespace fs = std::filesystem;
namespace {

constexpr const char* kSplits[3] = {"train", "valid", "test"};

// splitmix64 (Steele et al. 2014): a seeded stream that is the same with every C++ library, so the corpus is
// a function of the seed alone. Each speaker and each utterance gets its own stream.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed, uint64_t stream = 0) : s(seed * 0x9E3779B97F4A7C15ULL + stream * 0xD1B54A32D192ED03ULL) {
    next();
  }
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * double(next() >> 11) * 0x1.0p-53; }
  size_t below(size_t n) { return size_t(next() % n); }
  template <class T>
  void shuffle(std::vector<T>& v) {  // Fisher-Yates
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }
};

struct Speaker {
  int id = 0;
  Voice voice;
  double rate = 1, pitch = 1;  // the speaker's own speaking rate and pitch (multipliers)
  bool test = false;
};

// Pick up to n speakers: every non-espeak voice (there are few), then espeak voices with distinct variants
// cycling through the accents; then hold out whole families for test, about test_fraction of the speakers.
std::vector<Speaker> choose_speakers(const std::vector<Voice>& voices, int n, double test_fraction, uint64_t seed) {
  check(!voices.empty(), "synth: no TTS voice found (install espeak-ng, flite or festival: tools/install_deps.sh)");
  Rng rng(seed, 1);
  std::vector<Voice> chosen, espeak;
  for (const Voice& v : voices) (v.engine == Engine::espeak ? espeak : chosen).push_back(v);
  if (int(chosen.size()) > n) {
    rng.shuffle(chosen);
    chosen.resize(size_t(n));
  }
  // espeak: variant k in accent (k + offset) mod #accents, so speakers differ in voice quality and accent.
  std::vector<std::string> variants, accents;
  for (const Voice& v : espeak) {
    if (std::find(variants.begin(), variants.end(), v.variant) == variants.end()) variants.push_back(v.variant);
    if (std::find(accents.begin(), accents.end(), v.voice) == accents.end()) accents.push_back(v.voice);
  }
  rng.shuffle(variants);
  const size_t offset = accents.empty() ? 0 : rng.below(accents.size());
  for (size_t k = 0; k < variants.size() && int(chosen.size()) < n; ++k)
    chosen.push_back({Engine::espeak, accents[(k + offset) % accents.size()], variants[k], "espeak-" + variants[k]});

  std::vector<Speaker> speakers;
  for (size_t k = 0; k < chosen.size(); ++k) {
    Speaker s;
    s.id = 1001 + int(k);
    s.voice = chosen[k];
    s.rate = rng.uniform(0.85, 1.15);
    s.pitch = rng.uniform(0.85, 1.2);
    speakers.push_back(s);
  }
  // Test families: shuffled, taken while they fit the quota; at least one test and one training speaker.
  std::vector<std::string> families;
  for (const Speaker& s : speakers)
    if (std::find(families.begin(), families.end(), s.voice.family) == families.end())
      families.push_back(s.voice.family);
  check(families.size() >= 2, "synth: need voices of at least 2 different families to hold out test speakers, found ",
        families.size(), " (install more voices or allow more engines)");
  rng.shuffle(families);
  const size_t quota = std::max<size_t>(1, size_t(std::lround(test_fraction * double(speakers.size()))));
  size_t n_test = 0;
  for (size_t f = 0; f + 1 < families.size() && n_test < quota; ++f) {
    size_t members = 0;
    for (const Speaker& s : speakers) members += s.voice.family == families[f];
    if (n_test > 0 && n_test + members > quota) continue;
    for (Speaker& s : speakers)
      if (s.voice.family == families[f]) s.test = true;
    n_test += members;
  }
  return speakers;
}

// One planned utterance: everything needed to synthesize and file it, decided before any audio exists.
struct Plan {
  int64_t index = 0;
  int split = 0;  // 0 train, 1 valid, 2 test
  const Speaker* speaker = nullptr;
  int chapter = 0, number = 0;
  const Sentence* sentence = nullptr;
  double rate = 1, pitch = 1, gain = 1;
  std::string id() const {  // LibriSpeech utterance id: SPEAKER-CHAPTER-NNNN
    char buf[64];
    std::snprintf(buf, sizeof buf, "%d-%d-%04d", speaker->id, chapter, number);
    return buf;
  }
  std::string rel_path() const { return cat(kSplits[split], "/", speaker->id, "/", chapter, "/", id(), ".flac"); }
};

// Hands out plans in index order (under the caller's lock); plan i depends on the seed and i only.
class Planner {
 public:
  Planner(const std::vector<Speaker>& speakers, const std::vector<Sentence>& sentences, const Options& o) : o_(o) {
    for (const Speaker& s : speakers) (s.test ? test_speakers_ : train_speakers_).push_back(&s);
    std::vector<const Sentence*> all;
    for (const Sentence& s : sentences) all.push_back(&s);
    Rng rng(o.seed, 2);
    rng.shuffle(all);
    // Held-out sentence pools: 10 % each for valid and test (at least one), the rest for training.
    const size_t n = all.size(), n_held = std::max<size_t>(1, n / 10);
    pools_[2].assign(all.begin(), all.begin() + long(n_held));
    pools_[1].assign(all.begin() + long(n_held), all.begin() + long(2 * n_held));
    pools_[0].assign(all.begin() + long(2 * n_held), all.end());
    check(!pools_[0].empty(), "synth: too few sentences to hold out valid and test ones (", n, ")");
  }

  Plan next() {
    Plan p;
    p.index = next_index_++;
    // Split by running shares: test while its count is below ceil((i+1) t), then valid likewise, else train, so
    // utterance 0 is test, 1 is valid, and every prefix of the corpus has its shares.
    const double n = double(p.index + 1);
    if (double(counts_[2]) < std::ceil(n * o_.test_fraction - 1e-9))
      p.split = 2;
    else if (double(counts_[1]) < std::ceil(n * o_.valid_fraction - 1e-9))
      p.split = 1;
    else
      p.split = 0;
    const int64_t k = counts_[p.split]++;
    const auto& pool = pools_[p.split];
    const auto& spk = p.split == 2 ? test_speakers_ : train_speakers_;
    // Sentences cycle through their pool; the speaker shifts by one each cycle so that repeated sentences are
    // read by different voices.
    p.sentence = pool[size_t(k) % pool.size()];
    p.speaker = spk[(size_t(k) + size_t(k) / pool.size()) % spk.size()];
    p.chapter = p.speaker->id * 10 + p.split + 1;
    p.number = chapter_counts_[p.chapter]++;
    Rng rng(o_.seed, 1000 + uint64_t(p.index));
    p.rate = p.speaker->rate * rng.uniform(0.93, 1.07);
    p.pitch = p.speaker->pitch * rng.uniform(0.95, 1.05);
    p.gain = rng.uniform(0.3, 0.9);  // peak level of the written utterance
    return p;
  }

 private:
  const Options& o_;
  std::vector<const Speaker*> train_speakers_, test_speakers_;
  std::vector<const Sentence*> pools_[3];
  int64_t next_index_ = 0, counts_[3] = {0, 0, 0};
  std::map<int, int> chapter_counts_;
};

std::string duration_str(double s) {
  const long t = std::lround(std::max(0.0, s));
  return t >= 3600 ? cat(t / 3600, "h", (t % 3600) / 60, "m") : cat(t / 60, "m", t % 60, "s");
}

struct Done {
  Plan plan;
  int64_t samples = 0;  // 0: failed (skipped)
  std::string error;
};

}  // namespace

Report build_corpus(const Options& o) {
  check(!o.out_dir.empty(), "synth: --out-dir is required");
  check(o.jobs >= 1, "synth: --jobs must be >= 1, got ", o.jobs);
  check(o.utterances > 0 || o.hours > 0, "synth: give --utterances N or --hours H > 0");
  check(o.speakers >= 2, "synth: --speakers must be >= 2 (training and test speakers), got ", o.speakers);
  check(o.valid_fraction >= 0 && o.test_fraction > 0 && o.valid_fraction + o.test_fraction < 1,
        "synth: --valid-fraction must be >= 0, --test-fraction > 0, and their sum < 1");
  check(o.test_speaker_fraction > 0 && o.test_speaker_fraction < 1, "synth: --test-speaker-fraction must be in (0, 1)");
  const std::vector<Sentence> sentences = read_sentences(o.sentences.empty() ? default_sentences_path() : o.sentences);
  const std::vector<Speaker> speakers =
      choose_speakers(installed_voices(o.engines), o.speakers, o.test_speaker_fraction, o.seed);

  const fs::path out(o.out_dir), audio = out / "audio", partial = out / "audio.partial", work = out / "tmp";
  fs::create_directories(out);
  check(!fs::exists(audio) || o.overwrite, (audio).string(), " exists (pass --overwrite to replace it)");
  fs::remove_all(partial);
  fs::remove_all(work);
  fs::create_directories(work);

  Planner planner(speakers, sentences, o);
  const double target_s = o.utterances > 0 ? 0 : o.hours * 3600;
  std::mutex mu;  // guards planner, done, stop state and progress
  std::map<int64_t, Done> done;
  int64_t prefix_end = 0;                              // utterances [0, prefix_end) are finished
  double prefix_s = 0;                                 // their audio seconds
  int64_t cut = o.utterances > 0 ? o.utterances : -1;  // final count once known
  std::string fatal;
  const auto t0 = std::chrono::steady_clock::now();
  auto last_progress = t0;
  double audio_s_all = 0;
  int64_t finished_all = 0;

  const bool tty = ::isatty(2) != 0;
  auto report_progress = [&](bool final) {
    const auto now = std::chrono::steady_clock::now();
    // On a terminal one line is redrawn every second; in a log a new line every 10 s.
    const auto every = tty ? std::chrono::seconds(1) : std::chrono::seconds(10);
    if (!o.progress || (!final && now - last_progress < every)) return;
    last_progress = now;
    const double wall = std::chrono::duration<double>(now - t0).count();
    const double speed = audio_s_all / std::max(wall, 1e-9);
    const double left = o.utterances > 0
                            ? double(o.utterances - finished_all) * (wall / std::max<int64_t>(1, finished_all))
                            : std::max(0.0, target_s - prefix_s) / std::max(speed, 1e-9);
    std::cerr << "synth: " << finished_all << (o.utterances > 0 ? cat("/", o.utterances) : std::string())
              << " utterances, " << cat(std::round(audio_s_all / 36.0) / 100) << " h audio"
              << (target_s > 0 ? cat(" of ", o.hours) : std::string()) << ", " << cat(std::round(speed * 10) / 10)
              << " audio-s/s, " << (final ? "done in " + duration_str(wall) : "ETA " + duration_str(left))
              << (tty && !final ? "   \r" : "\n") << std::flush;
  };

  int64_t failures = 0;
  auto worker = [&](int w) {
    for (;;) {
      Plan p;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!fatal.empty() || (cut >= 0 && o.utterances <= 0)) return;
        p = planner.next();
        if (cut >= 0 && p.index >= cut) return;
      }
      Done d;
      d.plan = p;
      try {
        const Rendering r{p.speaker->voice, p.rate, p.pitch, p.sentence->text};
        std::vector<float> x = synthesize(r, (work / cat("job", w)).string(), o.timeout_s);  // (samples,) 16 kHz
        float peak = 0;
        for (float s : x) peak = std::max(peak, std::abs(s));
        for (float& s : x) s *= float(p.gain) / peak;
        const fs::path dst = partial / p.rel_path();
        fs::create_directories(dst.parent_path());
        write_flac(dst.string(), x, kSampleRate);
        d.samples = int64_t(x.size());
      } catch (const std::exception& e) {
        d.error = e.what();
      }
      std::lock_guard<std::mutex> lock(mu);
      if (!d.error.empty()) {
        ++failures;
        if (!o.skip_bad)
          fatal = cat(d.error, " (pass --skip-bad to skip failed utterances)");
        else if (failures > 20 && failures * 10 > finished_all)
          fatal = cat("synth: ", failures, " of ", finished_all + 1, " utterances failed, giving up; last: ", d.error);
        if (!fatal.empty()) return;
      }
      ++finished_all;
      audio_s_all += double(d.samples) / kSampleRate;
      done.emplace(p.index, std::move(d));
      // Hours mode: the corpus is the shortest prefix of the plan with enough audio; plans past it that were
      // already in flight are dropped below, so the result does not depend on --jobs or on timing.
      while (cut < 0 && done.count(prefix_end)) {
        prefix_s += double(done[prefix_end++].samples) / kSampleRate;
        if (target_s > 0 && prefix_s >= target_s) cut = prefix_end;
      }
      report_progress(false);
    }
  };
  std::vector<std::thread> pool;
  for (int j = 1; j < o.jobs; ++j) pool.emplace_back(worker, j);
  worker(0);
  for (std::thread& t : pool) t.join();
  if (!fatal.empty()) {
    std::error_code ec;
    fs::remove_all(partial, ec);
    fs::remove_all(work, ec);
    throw Error(fatal);
  }
  report_progress(true);

  // Collect the kept utterances per split, in index order.
  Report rep;
  Manifest man[3];
  std::vector<std::string> wrd[3];
  std::map<std::string, std::vector<std::string>> trans;  // chapter dir (relative) -> "ID WORDS" lines
  std::map<int, double> speaker_s;
  for (auto& [index, d] : done) {
    const Plan& p = d.plan;
    if (index >= cut) {  // finished after the cut: not part of the corpus
      std::error_code ec;
      fs::remove(partial / p.rel_path(), ec);
      continue;
    }
    if (d.samples == 0) {
      rep.skipped.push_back(cat(p.rel_path(), "\t", d.error));
      continue;
    }
    man[p.split].entries.push_back({p.rel_path(), d.samples});
    wrd[p.split].push_back(p.sentence->words);
    trans[fs::path(p.rel_path()).parent_path().string()].push_back(p.id() + " " + p.sentence->words);
    rep.utterances[p.split] += 1;
    rep.seconds[p.split] += double(d.samples) / kSampleRate;
    speaker_s[p.speaker->id] += double(d.samples) / kSampleRate;
  }
  for (const auto& [dir, lines] : trans) {
    const std::string chapter = fs::path(dir).filename().string(),
                      spk = fs::path(dir).parent_path().filename().string();
    write_lines((partial / dir / cat(spk, "-", chapter, ".trans.txt")).string(), lines);
  }

  // Swap the finished tree into place, then write the manifests that make it a corpus.
  std::vector<std::string> outputs = {"SPEAKERS.TXT", "skipped.txt"};
  for (const char* sp : kSplits)
    for (const char* ext : {".tsv", ".wrd", ".ltr"}) outputs.push_back(cat(sp, ext));
  for (const std::string& f : outputs) fs::remove(out / f);  // no stale manifest may describe the new tree
  if (!fs::exists(partial)) fs::create_directories(partial);
  const fs::path old = out / "audio.old";
  fs::remove_all(old);
  if (fs::exists(audio)) fs::rename(audio, old);
  fs::rename(partial, audio);
  fs::remove_all(old);
  fs::remove_all(work);

  std::vector<AtomicFile> files;
  files.reserve(16);
  auto add = [&](const std::string& name, const std::vector<std::string>& lines) {
    files.emplace_back((out / name).string());
    for (const std::string& l : lines) files.back().out() << l << '\n';
  };
  for (int sp = 0; sp < 3; ++sp) {
    man[sp].root = fs::canonical(audio).string();
    std::vector<std::string> tsv = {man[sp].root}, ltr;
    for (const ManifestEntry& e : man[sp].entries) tsv.push_back(cat(e.path, "\t", e.num_samples));
    for (const std::string& w : wrd[sp]) ltr.push_back(words_to_letters(w));
    add(cat(kSplits[sp], ".tsv"), tsv);
    add(cat(kSplits[sp], ".wrd"), wrd[sp]);
    add(cat(kSplits[sp], ".ltr"), ltr);
  }
  std::vector<std::string> spk_lines = {cat("; synthetic speakers of `hubmamba synth --seed ", o.seed,
                                            "` (rate and pitch: multipliers of the voice's "
                                            "default)"),
                                        ";ID  |SPLIT|ENGINE   |VOICE                   |RATE |PITCH|MINUTES"};
  for (const Speaker& s : speakers) {
    char line[200];
    std::snprintf(line, sizeof line, "%-5d|%-5s|%-9s|%-24s|%.3f|%.3f|%.2f", s.id, s.test ? "test" : "train",
                  engine_name(s.voice.engine),
                  (s.voice.voice + (s.voice.variant.empty() ? "" : "+" + s.voice.variant)).c_str(), s.rate, s.pitch,
                  speaker_s[s.id] / 60);
    spk_lines.push_back(line);
    rep.speakers[s.test ? 1 : 0] += 1;
  }
  add("SPEAKERS.TXT", spk_lines);
  if (!rep.skipped.empty()) add("skipped.txt", rep.skipped);
  for (AtomicFile& f : files) f.commit();
  rep.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace hm::synth
