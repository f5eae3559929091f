// HuBERT pretraining loop (train/pretrain.h) on a micro corpus of tone utterances with tone labels and a micro
// transformer: learning, bit-exact resume, interrupted checkpoint writes, refusing to overwrite a run, config
// validation, the non-finite-update guard, and iteration 2 (dump a layer -> k-means -> 50 Hz labels -> pretrain).
#include <cstring>
#include <filesystem>
#include <fstream>

#include "models/config.h"
#include "tests/test_util.h"
#include "tests/train_corpus.h"
#include "train/checkpoint.h"
#include "train/feature_store.h"
#include "train/kmeans.h"
#include "train/manifest.h"
#include "train/pretrain.h"

namespace hm::test {
namespace {

namespace fs = std::filesystem;

// 8 utterances of 0.6-1.2 s.
const std::vector<int64_t> kLengths = {9600, 12800, 16000, 19200, 11200, 14400, 17600, 10400};

struct PretrainCorpus {
  ScratchDir dir{"pretrain"};
  std::string model;
  explicit PretrainCorpus(double dropout = 0.0, double layerdrop = 0.0) {
    write_tone_corpus(dir.str(), "train", kLengths, 11);
    model = write_micro_model(dir.str(), dropout, layerdrop);
  }
  PretrainConfig config(const std::string& run) const {
    PretrainConfig c;
    c.model = model;
    c.data = c.labels = dir.str();
    c.out = dir.str(run);
    c.max_updates = 30;
    c.warmup_updates = 3;
    c.lr = 2e-3;
    c.max_tokens = 40000;
    c.min_sample_size = 0;
    c.mask_prob = 0.5;
    c.mask_length = 4;
    c.log_interval = 1;
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

// Every tensor of two checkpoints (model and optimiser) equal bit for bit.
::testing::AssertionResult same_checkpoint_tensors(const std::string& a, const std::string& b) {
  const Checkpoint x = load_checkpoint(a), y = load_checkpoint(b);
  auto compare = [](const NamedTensors& p, const NamedTensors& q, const char* what) -> ::testing::AssertionResult {
    if (p.size() != q.size())
      return ::testing::AssertionFailure() << what << ": " << p.size() << " vs " << q.size() << " tensors";
    for (size_t i = 0; i < p.size(); ++i) {
      const Tensor& s = p[i].second;
      const Tensor& t = q[i].second;
      if (p[i].first != q[i].first || s.shape() != t.shape() || s.dtype() != t.dtype() ||
          std::memcmp(s.contiguous().raw_data(), t.contiguous().raw_data(),
                      size_t(s.numel()) * dtype_size(s.dtype())) != 0)
        return ::testing::AssertionFailure() << what << " tensor '" << p[i].first << "' differs";
    }
    return ::testing::AssertionSuccess();
  };
  if (auto r = compare(x.model, y.model, "model"); !r) return r;
  return compare(x.optimizer, y.optimizer, "optimizer");
}

bool all_finite(const NamedTensors& ts) {
  for (const auto& [n, t] : ts)
    if (is_floating(t.dtype()))
      for (double v : t.to_vector<double>())
        if (!std::isfinite(v)) return false;
  return true;
}

TEST(Pretrain, LossDecreasesAndMaskedAccuracyBeatsChance) {
  ThreadScope single(1);
  PretrainCorpus corpus;
  const PretrainConfig cfg = corpus.config("run");
  const PretrainResult r = run_pretraining(cfg);
  EXPECT_EQ(r.steps, 30);
  EXPECT_EQ(r.skipped_updates, 0);
  const std::vector<Json> m = read_metrics(cfg.out);
  ASSERT_EQ(m.size(), 30u);
  double first = 0, last = 0, acc_last = 0;
  for (int i = 0; i < 5; ++i) first += m[size_t(i)].at("loss").as_number() / 5;
  for (int i = 25; i < 30; ++i) {
    last += m[size_t(i)].at("loss").as_number() / 5;
    acc_last += m[size_t(i)].at("masked_acc").as_number() / 5;
  }
  EXPECT_LT(last, 0.8 * first) << "loss " << first << " -> " << last;
  EXPECT_LT(last, std::log(4.0)) << "below the cross-entropy of a uniform guess, penalty included";
  EXPECT_GT(acc_last, 0.45) << "masked acc " << acc_last << "; 4 balanced tone classes: chance is 0.25";
  EXPECT_TRUE(fs::exists(checkpoint_path(cfg.out, "last")));
  EXPECT_TRUE(fs::exists(checkpoint_path(cfg.out, "best")));
  EXPECT_TRUE(fs::exists(cfg.out + "/curves.png"));
  EXPECT_TRUE(fs::exists(cfg.out + "/config.json"));
  // The checkpoint's training state records where the run stands.
  const Checkpoint ck = load_checkpoint(checkpoint_path(cfg.out, "last"));
  EXPECT_EQ(ck.state.at("step").as_int(), 30);
  EXPECT_EQ(ck.state.at("model_config").at("num_classes").as_int(), kTones);
  EXPECT_EQ(ck.state.at("history").size(), 30u);
}

// The logged (step, loss, masked_acc) lines of steps > from, for comparison across runs.
std::vector<std::string> logged(const std::string& run, int64_t from) {
  std::vector<std::string> out;
  for (const Json& j : read_metrics(run))
    if (j.at("step").as_int() > from)
      out.push_back(
          Json::array({j.at("step"), j.at("loss"), j.at("masked_acc"), j.at("lr"), j.at("grad_norm")}).dump());
  return out;
}

// An interrupted run (killed right after the checkpoint of update k, with a half-written checkpoint temp file
// next to it) resumed to 2k updates ends bit-identical to an uninterrupted run: weights, Adam moments, logged
// losses. Dropout and layerdrop are on so the RNG streams must be restored too; warm-up and decay are on so the
// schedule position must be.
TEST(Pretrain, ResumeAfterAnInterruptionIsBitExact) {
  ThreadScope two(2);
  PretrainCorpus corpus(/*dropout=*/0.1, /*layerdrop=*/0.3);
  PretrainConfig full = corpus.config("full");
  full.max_updates = 8;
  full.warmup_updates = 2;
  full.save_interval = 4;  // writes checkpoint_4 on the way
  run_pretraining(full);
  ASSERT_TRUE(fs::exists(checkpoint_path(full.out, "4")));

  PretrainConfig part = full;
  part.out = corpus.dir.str("resumed");
  fs::create_directories(part.out);
  const std::string last = checkpoint_path(part.out, "last");
  fs::copy_file(checkpoint_path(full.out, "4"), last);
  {  // the write of the next checkpoint was killed half-way
    std::ofstream partial(last + ".tmp", std::ios::binary);
    partial << std::string("\x40\x00\x00\x00\x00\x00\x00\x00{\"model.w\":{\"dtype\":", 27);
  }
  part.resume = true;
  const PretrainResult r = run_pretraining(part);
  EXPECT_EQ(r.steps, 8);
  EXPECT_TRUE(same_checkpoint_tensors(checkpoint_path(full.out, "last"), last));
  EXPECT_EQ(logged(full.out, 4), logged(part.out, 4));
  EXPECT_EQ(load_checkpoint(checkpoint_path(full.out, "last")).state.at("history").dump(),
            load_checkpoint(last).state.at("history").dump());
  EXPECT_FALSE(fs::exists(last + ".tmp")) << "the next save replaces the stale temp file";
}

// train(k) as a run of its own, then --resume with max-updates 2k, equals train(2k) (constant LR, so the schedule
// does not depend on max-updates). Two batches per update (gradient accumulation), so the loader position moves
// by two per update and the runs cross epoch boundaries.
TEST(Pretrain, ExtendingAFinishedRunEqualsOneLongRun) {
  ThreadScope two(2);
  PretrainCorpus corpus(0.1, 0.0);
  PretrainConfig longrun = corpus.config("long");
  longrun.max_updates = 6;
  longrun.warmup_updates = 0;
  longrun.end_lr = longrun.lr;
  longrun.update_freq = 2;
  run_pretraining(longrun);

  PretrainConfig shortrun = longrun;
  shortrun.out = corpus.dir.str("short");
  shortrun.max_updates = 3;
  run_pretraining(shortrun);
  EXPECT_FALSE(same_checkpoint_tensors(checkpoint_path(longrun.out, "last"), checkpoint_path(shortrun.out, "last")));
  shortrun.max_updates = 6;
  shortrun.resume = true;
  run_pretraining(shortrun);
  EXPECT_TRUE(same_checkpoint_tensors(checkpoint_path(longrun.out, "last"), checkpoint_path(shortrun.out, "last")));
  EXPECT_EQ(logged(longrun.out, 0), logged(shortrun.out, 0));
}

TEST(Pretrain, TruncatedCheckpointIsAnErrorNotAFreshStart) {
  ThreadScope single(1);
  PretrainCorpus corpus;
  PretrainConfig cfg = corpus.config("run");
  cfg.max_updates = 2;
  cfg.warmup_updates = 0;
  run_pretraining(cfg);
  const std::string last = checkpoint_path(cfg.out, "last");
  const std::string copy = corpus.dir.str("truncated.safetensors");
  fs::copy_file(last, copy);
  fs::resize_file(copy, fs::file_size(copy) / 2);
  EXPECT_TRUE(throws_with([&] { load_checkpoint(copy); }, "truncated.safetensors"));
  // A corrupt checkpoint_last makes --resume fail naming it (it never silently restarts from scratch).
  fs::copy_file(copy, last, fs::copy_options::overwrite_existing);
  cfg.resume = true;
  cfg.max_updates = 4;
  EXPECT_TRUE(throws_with([&] { run_pretraining(cfg); }, "checkpoint_last.safetensors"));
}

TEST(Pretrain, RefusesToOverwriteARunWithoutResume) {
  ThreadScope single(1);
  PretrainCorpus corpus;
  PretrainConfig cfg = corpus.config("run");
  cfg.max_updates = 1;
  cfg.warmup_updates = 0;
  run_pretraining(cfg);
  const std::string last = checkpoint_path(cfg.out, "last");
  const auto before = fs::last_write_time(last);
  const auto size = fs::file_size(last);
  EXPECT_TRUE(throws_with([&] { run_pretraining(cfg); }, "pass --resume"));
  EXPECT_EQ(fs::last_write_time(last), before);
  EXPECT_EQ(fs::file_size(last), size);
  EXPECT_EQ(read_metrics(cfg.out).size(), 1u);
  // Resuming a finished run with a different model is refused as well.
  cfg.resume = true;
  cfg.max_updates = 2;
  Json other = micro_model_json();
  other["d_model"] = 16;
  const std::string other_path = corpus.dir.str("other_model.json");
  std::ofstream(other_path) << other.dump();
  cfg.model = other_path;
  EXPECT_TRUE(throws_with([&] { run_pretraining(cfg); }, "different model config"));
}

TEST(Pretrain, BadConfigsNameTheField) {
  PretrainCorpus corpus;
  const PretrainConfig good = corpus.config("run");
  EXPECT_NO_THROW(good.validate());
  auto bad = [&](auto edit, const std::string& fragment) {
    PretrainConfig c = good;
    edit(c);
    return throws_with([&] { c.validate(); }, fragment);
  };
  EXPECT_TRUE(bad([](PretrainConfig& c) { c.max_updates = 0; }, "max-updates"));
  EXPECT_TRUE(bad([](PretrainConfig& c) { c.warmup_updates = 30; }, "warmup-updates"));
  EXPECT_TRUE(bad([](PretrainConfig& c) { c.lr = -1; }, "lr must be positive"));
  EXPECT_TRUE(bad([](PretrainConfig& c) { c.lr = std::nan(""); }, "lr must be positive"));
  EXPECT_TRUE(bad([](PretrainConfig& c) { c.end_lr = 1; }, "end-lr"));
  EXPECT_TRUE(bad([](PretrainConfig& c) { c.mask_prob = 1.5; }, "mask-prob"));
  EXPECT_TRUE(bad([](PretrainConfig& c) { c.mask_length = 0; }, "mask-length"));
  EXPECT_TRUE(bad([](PretrainConfig& c) { c.update_freq = 0; }, "update-freq"));
  EXPECT_TRUE(bad([](PretrainConfig& c) { c.label_rate = 0; }, "label-rate"));
  EXPECT_TRUE(bad([](PretrainConfig& c) { c.save_interval = 0; }, "save-interval"));
  EXPECT_TRUE(bad([](PretrainConfig& c) { c.pred_masked_weight = 0; }, "prediction weight"));
  EXPECT_TRUE(bad([](PretrainConfig& c) { c.out.clear(); }, "--out"));
  // run_pretraining validates before touching the disk.
  PretrainConfig c = good;
  c.max_updates = 0;
  EXPECT_TRUE(throws_with([&] { run_pretraining(c); }, "max-updates"));
  EXPECT_FALSE(fs::exists(c.out));
  // JSON run configs: unknown fields and wrong types are named.
  EXPECT_TRUE(throws_with([] { PretrainConfig::from_json(Json::parse(R"({"learning_rate": 0.1})"), "run.json"); },
                          "run.json: unknown field 'learning_rate'"));
  EXPECT_TRUE(throws_with([] { PretrainConfig::from_json(Json::parse(R"({"max-updates": "ten"})"), "run.json"); },
                          "run.json.max-updates"));
  // The JSON form round-trips every field.
  EXPECT_EQ(PretrainConfig::from_json(good.to_json(), "x").to_json().dump(), good.to_json().dump());
  // The CLI: --config FILE, explicit flags win, unknown flags are named.
  const std::string run_json = corpus.dir.str("run.json");
  std::ofstream(run_json) << R"({"lr": 0.25, "max-updates": 7, "bogus": 1})";
  EXPECT_TRUE(throws_with([&] { run_command({"pretrain", "--config", run_json}); }, "unknown field 'bogus'"));
  EXPECT_TRUE(throws_with([&] { run_command({"pretrain", "--max-update", "3"}); }, "unknown option --max-update"));
  std::ofstream(run_json) << R"({"lr": 0.25, "max-updates": 7})";
  cli::Args args("pretrain", "");
  add_pretrain_options(args);
  std::vector<std::string> argv_s = {"pretrain", "--config", run_json, "--max-updates", "9"};
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  ASSERT_TRUE(args.parse(int(argv.size()), argv.data()));
  const PretrainConfig parsed = pretrain_config_from_args(args);
  EXPECT_EQ(parsed.lr, 0.25);
  EXPECT_EQ(parsed.max_updates, 9);
}

// The non-finite guard, triggered honestly: an absurd learning rate blows the CNN weights up after the first
// update, so the feature penalty mean(cnn^2) overflows float32 and every later loss is infinite. Those updates must
// be skipped and logged (weights untouched, every checkpoint finite and loadable), and the run must stop after 10
// in a row with an error that says what to do.
TEST(Pretrain, NonFiniteUpdatesAreSkippedAndLogged) {
  ThreadScope single(1);
  PretrainCorpus corpus;
  PretrainConfig cfg = corpus.config("run");
  cfg.lr = 1e12;
  cfg.warmup_updates = 0;
  cfg.clip_norm = 0;
  cfg.save_interval = 1;
  EXPECT_TRUE(throws_with([&] { run_pretraining(cfg); }, "10 consecutive non-finite updates"));
  const std::vector<Json> m = read_metrics(cfg.out);
  int64_t skipped = 0, first_skip = 0;
  for (const Json& j : m)
    if (j.contains("skipped")) {
      skipped++;
      if (!first_skip) first_skip = j.at("step").as_int();
    }
  EXPECT_EQ(skipped, 10);
  ASSERT_GE(first_skip, 2);
  // Every checkpoint written during the skipped updates holds the weights of the last good update.
  const std::string good = checkpoint_path(cfg.out, std::to_string(first_skip - 1));
  for (int64_t s = first_skip; s < first_skip + 9; ++s) {
    const std::string p = checkpoint_path(cfg.out, std::to_string(s));
    ASSERT_TRUE(fs::exists(p)) << p;
    EXPECT_TRUE(same_checkpoint_tensors(good, p)) << "update " << s;
  }
  const Checkpoint last = load_checkpoint(checkpoint_path(cfg.out, "last"));
  EXPECT_TRUE(all_finite(last.model));
  EXPECT_TRUE(all_finite(last.optimizer));
  // Skipped updates stay out of the logged loss curve: the history a resumed run plots holds numbers only
  // (a non-finite window loss would be stored as null and break curves.png at the end of the resumed run).
  const Json& history = last.state.at("history");
  ASSERT_GE(history.size(), 1u);
  for (size_t i = 0; i < history.size(); ++i)
    EXPECT_TRUE(history[i][1].is_number()) << "history entry " << history[i].dump();
  for (const Json& j : m) {
    if (!j.contains("skipped")) {
      EXPECT_TRUE(j.at("loss").is_number()) << j.dump();
    }
  }
}

// Iteration 2: dump layer 1 of an iteration-1 checkpoint for the manifest, k-means the features, label every
// utterance at the model's 50 Hz frame rate and pretrain again on those labels with label_rate 50.
TEST(Pretrain, IterationTwoOnDumpedLayerFeatures) {
  ThreadScope single(1);
  PretrainCorpus corpus;
  PretrainConfig it1 = corpus.config("it1");
  it1.max_updates = 10;
  run_pretraining(it1);

  const std::string tsv = corpus.dir.str("train.tsv"), feats = corpus.dir.str("feats");
  ASSERT_EQ(run_command({"dump", "--ckpt", checkpoint_path(it1.out, "last"), "--layer", "1", "--manifest", tsv,
                         "--out-dir", feats}),
            0);
  const Manifest fm = read_manifest(tsv);
  std::vector<size_t> all(fm.entries.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  std::vector<int64_t> lengths;
  const Tensor x = feat::load_features(feats, tsv, fm, all, &lengths);  // (sum T, 32)
  ASSERT_EQ(x.size(1), 32);
  const ModelConfig mc = ModelConfig::load(corpus.model);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(lengths[i], mc.cnn_output_length(kLengths[i]));  // 50 Hz frames
  feat::MiniBatchKMeansOptions km;
  km.n_clusters = 6;
  km.batch_size = 256;
  km.max_iter = 20;
  km.n_init = 2;
  km.seed = 5;
  const feat::KMeansResult fit = feat::fit_minibatch_kmeans(x, km);
  std::vector<std::vector<int32_t>> labels;
  for (size_t i = 0; i < fm.entries.size(); ++i)
    labels.push_back(
        feat::assign_labels(feat::load_utterance_features(feat::feature_path(feats, fm.entries[i].path), 32), fit.centers));
  const std::string lab_dir = corpus.dir.str("it2_labels");
  fs::create_directories(lab_dir);
  write_km(lab_dir + "/train.km", labels);

  PretrainConfig it2 = corpus.config("it2");
  it2.labels = lab_dir;
  it2.label_rate = 50;
  it2.max_updates = 4;
  // 50 Hz labels read as 100 Hz ones cover half the audio: rejected naming the label file.
  it2.label_rate = 100;
  EXPECT_TRUE(throws_with([&] { run_pretraining(it2); }, "it2_labels/train.km:1"));
  it2.label_rate = 50;
  const PretrainResult r = run_pretraining(it2);
  EXPECT_EQ(r.steps, 4);
  EXPECT_EQ(r.skipped_updates, 0);
  EXPECT_TRUE(std::isfinite(r.final_loss));
  const Checkpoint ck = load_checkpoint(checkpoint_path(it2.out, "last"));
  const ModelConfig mc2 = ModelConfig::from_json(ck.state.at("model_config"));
  EXPECT_EQ(mc2.label_rate, 50.0);
  int32_t max_label = 0;
  for (const auto& row : labels)
    for (int32_t v : row) max_label = std::max(max_label, v);
  EXPECT_EQ(mc2.num_classes, max_label + 1);
}

}  // namespace
}  // namespace hm::test
