// `hubmamba synth`: a multi-speaker synthetic English corpus in LibriSpeech layout, read aloud by the TTS
// engines installed on the machine (espeak-ng accents x voice variants, flite voices, festival voices), run as
// subprocesses with argument vectors (no shell), resampled to 16 kHz, and written with fairseq manifests.
//
//   OUT/audio/{train,valid,test}/SPK/CHAP/SPK-CHAP-UUUU.flac + SPK-CHAP.trans.txt   (LibriSpeech layout)
//   OUT/{train,valid,test}.{tsv,wrd,ltr}                                            (fairseq manifests)
//   OUT/SPEAKERS.TXT                                                                (who is who)
//
// Held out: test utterances are read by test speakers (whose voice -- espeak variant or TTS voice -- never
// occurs in training) from test sentences; valid utterances are read by training speakers from valid
// sentences; no sentence occurs in two splits. Everything is a function of the seed (and of the installed
// voices, which SPEAKERS.TXT records), independent of --jobs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hm::synth {

// ---- subprocesses -------------------------------------------------------------------------------------------
struct ProcessResult {
  int exit_code = -1;  // exit status, or 128 + signal
  bool timed_out = false;
  std::string output;  // the last few hundred bytes of stdout+stderr (for error messages)
};

// posix_spawnp(argv) with stdin from /dev/null and stdout+stderr into `log_path`; kills the child (SIGKILL)
// after timeout_s seconds. Throws hm::Error only when the program cannot be started at all.
ProcessResult run_process(const std::vector<std::string>& argv, double timeout_s, const std::string& log_path);

// ---- voices ---------------------------------------------------------------------------------------------------
enum class Engine { espeak, flite, festival };
const char* engine_name(Engine e);  // "espeak-ng", "flite", "festival"

struct Voice {
  Engine engine = Engine::espeak;
  std::string voice;    // espeak-ng language ("en-gb-scotland"), flite voice ("slt"), festival voice ("kal_diphone")
  std::string variant;  // espeak-ng voice variant ("m3"); empty otherwise
  // Speakers of one family share an underlying voice (an espeak variant in any accent; the same recorded
  // person in flite and festival); the train/test speaker split never separates a family.
  std::string family;
  std::string name() const;  // "espeak-ng:en-us+m3", "flite:slt", ...
};

// Voices of the requested engines (names as engine_name) that are installed here, in a fixed order.
std::vector<Voice> installed_voices(const std::vector<std::string>& engines);

// One utterance's rendering: speaking rate and pitch as multipliers of the voice's default, and the text.
struct Rendering {
  Voice voice;
  double rate = 1.0, pitch = 1.0;
  std::string text;
};

// The engine's command line for `r`, reading text from text_path and writing a WAV to wav_path.
std::vector<std::string> engine_command(const Rendering& r, const std::string& text_path, const std::string& wav_path);

// Synthesize `r` into 16 kHz mono samples, using `work_prefix`.txt/.wav/.log as scratch files (removed after).
// Throws hm::Error naming the engine, the voice and the reason (exit code, timeout, bad or silent audio).
std::vector<float> synthesize(const Rendering& r, const std::string& work_prefix, double timeout_s);

// ---- the corpus ------------------------------------------------------------------------------------------------
// Sentences of a text file (one per line; '#' comments and blank lines skipped), as written (for the TTS
// engine) and normalized (the transcript). Throws naming file:line for text the transcript cannot spell.
struct Sentence {
  std::string text, words;
};
std::vector<Sentence> read_sentences(const std::string& path);

// Where the project's sentence list is: data/sentences.txt under the working directory or next to the binary.
std::string default_sentences_path();

struct Options {
  std::string out_dir;
  std::string sentences;  // text file (default_sentences_path() when empty)
  uint64_t seed = 1;
  double hours = 1.5;                  // target audio duration; ignored when utterances > 0
  int64_t utterances = 0;              // exact number of utterances (0: until `hours` of audio)
  int jobs = 2;                        // parallel synthesis processes
  int speakers = 40;                   // at most this many speakers (fewer when fewer voices are installed)
  double test_speaker_fraction = 0.2;  // share of speakers held out for test
  double valid_fraction = 0.05, test_fraction = 0.05;  // shares of the utterances
  std::vector<std::string> engines = {"espeak-ng", "flite", "festival"};
  double timeout_s = 60;   // per synthesis process
  bool skip_bad = false;   // record failed utterances in OUT/skipped.txt and go on
  bool overwrite = false;  // replace an existing OUT/audio
  bool progress = true;    // progress lines on stderr
};

struct Report {
  int64_t utterances[3] = {0, 0, 0};  // train, valid, test
  double seconds[3] = {0, 0, 0};      // audio per split
  int speakers[2] = {0, 0};           // train (also valid), test
  double wall_s = 0;
  std::vector<std::string> skipped;
};

Report build_corpus(const Options& opts);

}  // namespace hm::synth
