// TTS engines for `hubmamba synth`: finding the installed voices, building each engine's command line, running
// it as a subprocess (argument vector, no shell, timeout) and turning its WAV into 16 kHz samples.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/error.h"
#include "train/audio.h"
#include "train/manifest.h"
#include "train/synth.h"

extern char** environ;

namespace hm::synth {
namespace fs = std::filesystem;

ProcessResult run_process(const std::vector<std::string>& argv, double timeout_s, const std::string& log_path) {
  check(!argv.empty(), "run_process: empty command");
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  check(rc == 0, argv[0], ": cannot start (", std::strerror(rc), "; is it installed? see tools/install_deps.sh)");

  ProcessResult res;
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    check(w == 0 || errno == EINTR, argv[0], ": waitpid failed (", std::strerror(errno), ")");
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      res.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream log(log_path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  res.output = all.size() > 400 ? all.substr(all.size() - 400) : all;
  return res;
}

const char* engine_name(Engine e) {
  switch (e) {
    case Engine::espeak:
      return "espeak-ng";
    case Engine::flite:
      return "flite";
    case Engine::festival:
      return "festival";
  }
  return "?";
}

std::string Voice::name() const { return cat(engine_name(engine), ":", voice, variant.empty() ? "" : "+", variant); }

namespace {

// Run a probe command and return its output (empty when it fails: the engine is then treated as absent).
std::string probe(const std::vector<std::string>& argv) {
  const std::string log = (fs::temp_directory_path() / cat("hm_probe_", getpid(), "_", argv[0], ".log")).string();
  std::string out;
  try {
    const ProcessResult r = run_process(argv, 20, log);
    if (r.exit_code == 0 && !r.timed_out) {
      std::ifstream in(log);
      out.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
  } catch (const Error&) {
  }
  std::remove(log.c_str());
  return out;
}

// espeak-ng's English accents (the gmw/ voices; the mb/ ones need MBROLA databases Debian does not ship) and
// the voice variants that sound like people (robots, whispers and croaks left out). Variants found installed
// are used in this order.
const char* const kEspeakAccents[] = {"en-us",          "en-gb",          "en-gb-scotland", "en-gb-x-rp",
                                      "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",         "en-us-nyc"};
const char* const kEspeakVariants[] = {
    "m1",      "f1",       "m2",      "f2",      "m3",     "f3",     "m4",      "f4",      "m5",    "f5",
    "m6",      "m7",       "klatt",   "klatt2",  "klatt3", "adam",   "Alicia",  "Andy",    "Annie", "aunty",
    "belinda", "benjamin", "caleb",   "david",   "ed",     "edward", "grandma", "grandpa", "iven",  "john",
    "linda",   "max",      "Michael", "norbert", "paul",   "quincy", "rob",     "robert",  "steph", "travis",
    "victor",  "zac",      "Alex",    "Andrea",  "boris",  "Denis",  "Gene",    "michel",  "pedro", "m8"};
// Flite's voices; kal16 is the 16 kHz build of kal and preferred over the 8 kHz one.
const char* const kFliteVoices[] = {"awb", "rms", "slt", "kal16"};

std::string family_of(const std::string& voice) {
  // The same recorded person behind different synthesizers: CMU's kal, slt, awb, rms, ked.
  for (const char* person : {"kal", "slt", "awb", "rms", "ked"})
    if (voice.find(person) != std::string::npos) return person;
  return voice;
}

}  // namespace

std::vector<Voice> installed_voices(const std::vector<std::string>& engines) {
  auto wanted = [&](const char* e) { return std::find(engines.begin(), engines.end(), e) != engines.end(); };
  for (const std::string& e : engines)
    check(e == "espeak-ng" || e == "flite" || e == "festival", "synth: unknown engine '", e,
          "' (choose from espeak-ng, flite, festival)");
  std::vector<Voice> voices;
  if (wanted("espeak-ng")) {
    const std::string listing = probe({"espeak-ng", "--voices=variant"});
    std::vector<std::string> variants;
    for (const char* v : kEspeakVariants)
      if (listing.find(cat(" !v/", v, " ")) != std::string::npos ||
          listing.find(cat(" !v/", v, "\n")) != std::string::npos)
        variants.push_back(v);
    const std::string accents = probe({"espeak-ng", "--voices=en"});
    std::vector<std::string> langs;
    for (const char* a : kEspeakAccents)
      if (accents.find(cat(" ", a, " ")) != std::string::npos) langs.push_back(a);
    // Every variant in every accent; family = the variant (its voice quality), so a held-out variant is
    // unheard in training whatever the accent.
    for (const std::string& v : variants)
      for (const std::string& l : langs) voices.push_back({Engine::espeak, l, v, "espeak-" + v});
  }
  if (wanted("flite")) {
    const std::string listing = probe({"flite", "-lv"}) + " ";
    for (const char* v : kFliteVoices)
      if (listing.find(cat(" ", v, " ")) != std::string::npos) voices.push_back({Engine::flite, v, "", family_of(v)});
    if (listing.find(" kal16 ") == std::string::npos && listing.find(" kal ") != std::string::npos)
      voices.push_back({Engine::flite, "kal", "", "kal"});
  }
  if (wanted("festival") && !probe({"festival", "--version"}).empty()) {
    std::vector<std::string> names;
    for (const char* lang : {"english", "us", "british"}) {
      const fs::path dir = fs::path("/usr/share/festival/voices") / lang;
      std::error_code ec;
      if (!fs::is_directory(dir, ec)) continue;
      for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_directory()) names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    for (const std::string& n : names)
      // The name becomes Scheme code, "(voice_NAME)": only plain identifiers qualify.
      if (!n.empty() && std::all_of(n.begin(), n.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; }))
        voices.push_back({Engine::festival, n, "", family_of(n)});
  }
  return voices;
}

std::vector<std::string> engine_command(const Rendering& r, const std::string& text_path, const std::string& wav_path) {
  const Voice& v = r.voice;
  char num[64];
  auto fmt = [&](double x) {
    std::snprintf(num, sizeof num, "%.3f", x);
    return std::string(num);
  };
  switch (v.engine) {
    case Engine::espeak: {
      // espeak-ng: -s words per minute (default 175), -p pitch 0..99 (default 50).
      const int wpm = int(std::lround(165 * r.rate));
      const int pitch = std::clamp(int(std::lround(50 * r.pitch)), 0, 99);
      return {"espeak-ng",
              "-v",
              v.voice + "+" + v.variant,
              "-s",
              std::to_string(wpm),
              "-p",
              std::to_string(pitch),
              "-f",
              text_path,
              "-w",
              wav_path};
    }
    case Engine::flite: {
      // flite's duration_stretch > 1 slows down; int_f0_target_mean is the mean F0 in Hz (the CMU voices sit
      // near 100-110 Hz for the male voices and 160 Hz for slt).
      const double f0 = (v.voice == "slt" ? 160.0 : 105.0) * r.pitch;
      return {"flite",
              "-voice",
              v.voice,
              "-f",
              text_path,
              "-o",
              wav_path,
              "--setf",
              "duration_stretch=" + fmt(1.0 / r.rate),
              "--setf",
              "int_f0_target_mean=" + fmt(f0)};
    }
    case Engine::festival: {
      // text2wave evaluates each -eval after loading; the voice name comes from the installed directory list and
      // the numbers are formatted here, so no outside text reaches the Scheme interpreter.
      std::vector<std::string> cmd = {"text2wave", "-o", wav_path, "-eval", "(voice_" + v.voice + ")"};
      if (v.voice.size() > 4 && v.voice.compare(v.voice.size() - 4, 4, "_hts") == 0) {
        // HTS voices: hts_engine's -r is the speaking speed (> 1 faster). Pitch stays the voice's own.
        cmd.insert(cmd.end(), {"-eval", "(set! hts_engine_params (append hts_engine_params (list (list \"-r\" " +
                                            fmt(r.rate) + "))))"});
      } else {
        cmd.insert(cmd.end(), {"-eval", "(Parameter.set 'Duration_Stretch " + fmt(1.0 / r.rate) + ")"});
        if (v.voice.find("diphone") != std::string::npos)
          // Diphone voices use the linear-regression intonation model; its target mean sets the pitch.
          cmd.insert(cmd.end(), {"-eval", "(set! int_lr_params (list (list 'target_f0_mean " + fmt(105 * r.pitch) +
                                              ") (list 'target_f0_std 14) (list 'model_f0_mean 170) "
                                              "(list 'model_f0_std 34)))"});
      }
      cmd.push_back(text_path);
      return cmd;
    }
  }
  throw Error("synth: unknown engine");
}

std::vector<float> synthesize(const Rendering& r, const std::string& work_prefix, double timeout_s) {
  const std::string text_path = work_prefix + ".txt", wav_path = work_prefix + ".wav", log_path = work_prefix + ".log";
  {
    std::ofstream t(text_path);
    t << r.text << "\n";
    check(t.good(), text_path, ": cannot write synthesis text");
  }
  std::remove(wav_path.c_str());
  const std::vector<std::string> cmd = engine_command(r, text_path, wav_path);
  const ProcessResult p = run_process(cmd, timeout_s, log_path);
  auto cleanup = [&] {
    std::remove(text_path.c_str());
    std::remove(wav_path.c_str());
    std::remove(log_path.c_str());
  };
  std::string tail = p.output;
  std::replace(tail.begin(), tail.end(), '\n', ' ');
  const std::string who = cat(r.voice.name(), " on '", r.text, "'");
  if (p.timed_out || p.exit_code != 0) {
    cleanup();
    throw Error(p.timed_out ? cat(who, ": timed out after ", timeout_s, " s")
                            : cat(who, ": ", cmd[0], " exited with status ", p.exit_code, " (", tail, ")"));
  }
  Audio a;
  try {
    a = read_audio(wav_path, kSampleRate);
  } catch (const Error& e) {
    cleanup();
    throw Error(cat(who, ": ", cmd[0], " wrote unreadable audio: ", e.what()));
  }
  cleanup();
  float peak = 0;
  for (float s : a.samples) peak = std::max(peak, std::abs(s));
  check(peak > 1e-3f, who, ": ", cmd[0], " produced silence");
  check(a.samples.size() >= size_t(kSampleRate / 4), who, ": ", cmd[0], " produced only ", a.samples.size(),
        " samples");
  return a.samples;
}

std::vector<Sentence> read_sentences(const std::string& path) {
  const std::vector<std::string> lines = read_lines(path);
  std::vector<Sentence> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.empty() || l[0] == '#') continue;
    const std::string words = normalize_transcript(l, cat(path, ":", i + 1));
    check(!words.empty(), path, ":", i + 1, ": sentence has no words");
    out.push_back({l, words});
  }
  check(out.size() >= 3, path, ": needs at least 3 sentences (one per split), has ", out.size());
  return out;
}

std::string default_sentences_path() {
  std::vector<fs::path> tried = {fs::current_path() / "data" / "sentences.txt"};
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    tried.push_back(exe.parent_path().parent_path() / "data" / "sentences.txt");  // build/hubmamba -> data/
    tried.push_back(exe.parent_path().parent_path() / "share" / "hubmamba" / "sentences.txt");
  }
  std::string list;
  for (const fs::path& p : tried) {
    if (fs::is_regular_file(p, ec)) return p.string();
    list += (list.empty() ? "" : ", ") + p.string();
  }
  throw Error(cat("synth: cannot find the sentence list (tried ", list, "); pass --sentences FILE"));
}

}  // namespace hm::synth
