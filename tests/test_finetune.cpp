// CTC fine-tuning (train/finetune.h) on "spelled" utterances (letters A-D as tones, words separated by silence)
// with a micro transformer: overfitting a handful of utterances, the encoder freeze, greedy vs beam evaluation,
// and vocabulary mismatches between a checkpoint and its data.
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/test_util.h"
#include "tests/train_corpus.h"
#include "train/checkpoint.h"
#include "train/finetune.h"
#include "train/vocab.h"

namespace hm::test {
namespace {

namespace fs = std::filesystem;

// No doubled letters: a repeated letter would be one long tone, which CTC cannot split.
const std::vector<std::string> kSentences = {"AB CD", "DABC", "CAD BA", "BAD CAB"};

struct SpelledCorpus {
  ScratchDir dir{"finetune"};
  std::string model;
  SpelledCorpus() {
    write_spelled_corpus(dir.str("data"), "train", kSentences, 21);
    model = write_micro_model(dir.str());
  }
  FinetuneConfig config(const std::string& run) const {
    FinetuneConfig c;
    c.model = model;
    c.data = dir.str("data");
    c.valid_split = "train";  // overfitting: evaluate on the training utterances
    c.out = dir.str(run);
    c.max_updates = 150;
    c.freeze_updates = 0;
    c.lr = 5e-3;
    c.mask_prob = 0;
    c.mask_channel_prob = 0;
    c.max_tokens = 100000;  // the 4 utterances in one batch
    c.log_interval = 10;
    c.save_interval = 1000;
    c.quiet = true;
    return c;
  }
};

std::vector<Json> read_metrics(const std::string& run) {
  std::vector<Json> out;
  std::ifstream in(run + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) out.push_back(Json::parse(line, run + "/metrics.jsonl"));
  return out;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.contiguous().raw_data(), b.contiguous().raw_data(), size_t(a.numel()) * dtype_size(a.dtype())) ==
             0;
}

const Tensor& find(const NamedTensors& ts, const std::string& name) {
  for (const auto& [n, t] : ts)
    if (n == name) return t;
  throw Error("no tensor " + name);
}

TEST(Finetune, CtcOverfitsAHandfulOfUtterances) {
  ThreadScope single(1);
  SpelledCorpus corpus;
  const FinetuneConfig cfg = corpus.config("run");
  const FinetuneResult r = run_finetuning(cfg);
  EXPECT_EQ(r.steps, cfg.max_updates);
  const std::vector<Json> m = read_metrics(cfg.out);
  ASSERT_GE(m.size(), 2u);
  EXPECT_LT(m.back().at("loss").as_number(), 0.2 * m.front().at("loss").as_number());
  for (size_t i = 0; i < r.valid.hyps.size(); ++i)
    std::cerr << "  ref '" << r.valid.refs[i] << "' hyp '" << r.valid.hyps[i] << "'\n";
  EXPECT_LE(r.valid.cer(), 0.05) << r.valid.score.letters.summary("CER");
  EXPECT_EQ(r.valid.refs, kSentences);
  // The checkpoint decodes the same way through evaluate_ctc (what `hubmamba decode` runs), greedy and beam.
  const std::string ck = checkpoint_path(cfg.out, "last");
  const EvalResult greedy = evaluate_ctc(ck, cfg.data, "train", 1);
  const EvalResult beam = evaluate_ctc(ck, cfg.data, "train", 8);
  EXPECT_EQ(greedy.hyps, r.valid.hyps);
  EXPECT_EQ(greedy.refs, kSentences);
  EXPECT_EQ(beam.refs, kSentences);
  // A confident model's best beam prefix is its best path, so both decoders agree utterance by utterance.
  EXPECT_EQ(beam.hyps, greedy.hyps);
  EXPECT_EQ(beam.score.letters.errors(), greedy.score.letters.errors());
  const EvalResult two = evaluate_ctc(ck, cfg.data, "train", 8, 2);
  ASSERT_EQ(two.hyps.size(), 2u);
  EXPECT_EQ(two.hyps, std::vector<std::string>(greedy.hyps.begin(), greedy.hyps.begin() + 2));
  EXPECT_EQ(two.refs, std::vector<std::string>(kSentences.begin(), kSentences.begin() + 2));
  EXPECT_TRUE(fs::exists(cfg.out + "/vocab.json"));
}

// While frozen only the CTC head trains: every encoder tensor keeps the pretrained bits. Afterwards the
// transformer trains too, while the CNN stays frozen for the whole run (fairseq feature_grad_mult 0).
TEST(Finetune, EncoderIsFrozenForTheFirstUpdates) {
  ThreadScope single(1);
  SpelledCorpus corpus;
  const std::string init = corpus.dir.str("init.safetensors");
  ASSERT_EQ(run_command({"init", "--config", corpus.model, "--seed", "3", "--out", init}), 0);
  const NamedTensors pre = load_checkpoint(init).model;

  FinetuneConfig cfg = corpus.config("frozen1");
  cfg.pretrained = init;
  cfg.freeze_updates = 2;
  cfg.max_updates = 1;
  cfg.log_interval = 1;
  run_finetuning(cfg);
  const NamedTensors one = load_checkpoint(checkpoint_path(cfg.out, "last")).model;
  cfg.out = corpus.dir.str("frozen2");
  cfg.max_updates = 2;
  run_finetuning(cfg);
  const NamedTensors two = load_checkpoint(checkpoint_path(cfg.out, "last")).model;
  cfg.out = corpus.dir.str("thawed");
  cfg.max_updates = 4;
  run_finetuning(cfg);
  const NamedTensors four = load_checkpoint(checkpoint_path(cfg.out, "last")).model;

  for (const auto& [name, t] : pre) {
    EXPECT_TRUE(same_bits(t, find(two, name))) << name << " changed while the encoder was frozen";
    if (name.rfind("wav2vec2.feature_extractor.", 0) == 0) {
      EXPECT_TRUE(same_bits(t, find(four, name))) << name << ": the CNN is frozen for the whole run";
    }
  }
  EXPECT_FALSE(same_bits(find(one, "aux.weight"), find(two, "aux.weight"))) << "the head trains while frozen";
  EXPECT_FALSE(same_bits(find(one, "aux.bias"), find(two, "aux.bias")));
  for (const char* name : {"wav2vec2.encoder.transformer.layers.0.attention.q_proj.weight",
                           "wav2vec2.encoder.transformer.layers.1.feed_forward.output_dense.weight",
                           "wav2vec2.encoder.feature_projection.projection.weight"})
    EXPECT_FALSE(same_bits(find(pre, name), find(four, name))) << name << " did not train after the freeze";
  const std::vector<Json> m = read_metrics(cfg.out);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_TRUE(m[0].at("frozen").as_bool());
  EXPECT_TRUE(m[1].at("frozen").as_bool());
  EXPECT_FALSE(m[2].at("frozen").as_bool());
  EXPECT_FALSE(m[3].at("frozen").as_bool());
}

// train(k), then --resume with max-updates 2k, equals train(2k): weights, Adam moments and logged losses, with
// dropout, layerdrop, time and channel masking on (every RNG stream must be restored) and two threads. The LR is
// constant (tri-stage with only a hold phase) so the schedule does not depend on max-updates.
TEST(Finetune, ResumeIsBitExact) {
  ThreadScope two(2);
  SpelledCorpus corpus;
  write_micro_model(corpus.dir.str(), /*dropout=*/0.1, /*layerdrop=*/0.3);  // fine-tuning caps layerdrop at 0.05
  FinetuneConfig full = corpus.config("full");
  full.max_updates = 12;
  full.freeze_updates = 3;
  full.warmup_fraction = 0, full.hold_fraction = 1, full.decay_fraction = 0, full.final_lr_scale = 1;
  full.mask_prob = 0.3;
  full.mask_channel_prob = 0.2;
  full.mask_channel_length = 4;
  full.max_tokens = 40000;  // 2 batches per epoch: the resumed run starts mid-epoch
  full.log_interval = 1;
  run_finetuning(full);
  FinetuneConfig part = full;
  part.out = corpus.dir.str("part");
  part.max_updates = 5;
  run_finetuning(part);
  part.max_updates = 12;
  part.resume = true;
  run_finetuning(part);
  const Checkpoint a = load_checkpoint(checkpoint_path(full.out, "last"));
  const Checkpoint b = load_checkpoint(checkpoint_path(part.out, "last"));
  ASSERT_EQ(a.model.size(), b.model.size());
  for (size_t i = 0; i < a.model.size(); ++i)
    EXPECT_TRUE(same_bits(a.model[i].second, b.model[i].second)) << a.model[i].first;
  ASSERT_EQ(a.optimizer.size(), b.optimizer.size());
  for (size_t i = 0; i < a.optimizer.size(); ++i)
    EXPECT_TRUE(same_bits(a.optimizer[i].second, b.optimizer[i].second)) << a.optimizer[i].first;
  EXPECT_EQ(a.state.at("history").dump(), b.state.at("history").dump());
}

TEST(Finetune, VocabularyMismatchesAreClearErrors) {
  ThreadScope single(1);
  SpelledCorpus corpus;
  FinetuneConfig cfg = corpus.config("run");
  cfg.max_updates = 2;
  run_finetuning(cfg);
  const std::string ck = checkpoint_path(cfg.out, "last");

  // Resuming on transcripts with another letter set.
  const std::string other = corpus.dir.str("other");
  write_spelled_corpus(other, "train", {"AB CA", "CAB", "BAC", "ABC"}, 5);  // no D
  FinetuneConfig resume = cfg;
  resume.data = other;
  resume.resume = true;
  resume.max_updates = 4;
  EXPECT_TRUE(throws_with([&] { run_finetuning(resume); }, "vocabulary differs from the one built from"));

  // A checkpoint whose vocabulary does not match its CTC head.
  Checkpoint c = load_checkpoint(ck);
  Json vocab = c.state.at("vocab");
  Json symbols = Json::array();
  for (size_t i = 0; i + 1 < vocab.at("symbols").size(); ++i) symbols.push_back(vocab.at("symbols")[i]);
  vocab["symbols"] = symbols;
  if (vocab.contains("counts")) {
    Json counts = Json::array();
    for (size_t i = 0; i + 1 < vocab.at("counts").size(); ++i) counts.push_back(vocab.at("counts")[i]);
    vocab["counts"] = counts;
  }
  c.state["vocab"] = vocab;
  const std::string edited = corpus.dir.str("edited.safetensors");
  save_checkpoint(edited, c);
  EXPECT_TRUE(throws_with([&] { evaluate_ctc(edited, cfg.data, "train", 1); }, "edited.safetensors"));
  EXPECT_TRUE(throws_with([&] { evaluate_ctc(edited, cfg.data, "train", 1); }, "5 symbols"));

  // A pretraining / init checkpoint has no vocabulary at all.
  const std::string init = corpus.dir.str("init.safetensors");
  ASSERT_EQ(run_command({"init", "--config", corpus.model, "--out", init}), 0);
  EXPECT_TRUE(throws_with([&] { evaluate_ctc(init, cfg.data, "train", 1); }, "not a fine-tuned CTC checkpoint"));
  // ... and refusing to overwrite works as for pretraining.
  EXPECT_TRUE(throws_with([&] { run_finetuning(cfg); }, "pass --resume"));
}

TEST(Finetune, BadConfigsAreRejected) {
  SpelledCorpus corpus;
  const FinetuneConfig good = corpus.config("run");
  EXPECT_NO_THROW(good.validate());
  FinetuneConfig c = good;
  c.hold_fraction = 0.5;
  EXPECT_TRUE(throws_with([&] { c.validate(); }, "must be 1"));
  c = good;
  c.mask_prob = 1.0;
  EXPECT_TRUE(throws_with([&] { c.validate(); }, "mask probabilities"));
  c = good;
  c.freeze_updates = -1;
  EXPECT_TRUE(throws_with([&] { c.validate(); }, "freeze-updates"));
  // A missing validation split is reported before any training, not after the last update.
  c = good;
  c.valid_split = "valid";
  EXPECT_TRUE(throws_with([&] { run_finetuning(c); }, "valid.tsv: validation manifest not found"));
  EXPECT_FALSE(fs::exists(c.out));
}

}  // namespace
}  // namespace hm::test
