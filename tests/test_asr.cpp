// Recognisers of models/asr.h and their training/decoding (train/asr_train.h, train/asr_decode.h): the attention
// decoder's masks, the hybrid loss, joint CTC/attention beam search against CTC prefix beam search and greedy
// attention decoding, Conv2dSubsampling lengths, the weighted layer sum, the frozen upstream, a tiny ConBiMamba ASR
// that overfits spelled utterances, and the errors on bad inputs.
#include <cmath>
#include <cstring>
#include <filesystem>

#include "ops/ops.h"
#include "tests/test_util.h"
#include "tests/train_corpus.h"
#include "train/asr_decode.h"
#include "train/asr_train.h"
#include "train/checkpoint.h"
#include "train/decode.h"
#include "train/layer_mi.h"

namespace hm::test {
namespace {

AsrModelConfig tiny_config(const std::string& frontend, int64_t input_dim, int64_t decoder_layers,
                           const std::string& layer_type = "conbimamba") {
  AsrModelConfig c;
  c.frontend = frontend;
  c.input_dim = input_dim;
  c.subsample_channels = 4;
  ModelConfig e = preset("tiny-conformer");
  e.layer_type = layer_type;
  e.num_layers = 1;
  e.d_model = 16;
  e.ffn_dim = 32;
  e.num_heads = 2;
  e.depthwise_kernel = 3;
  e.d_state = 4;
  e.dropout = e.attention_dropout = 0;
  e.pos_conv_groups = 1;
  c.encoder = e;
  c.decoder_layers = decoder_layers;
  c.decoder_heads = 2;
  c.decoder_ffn = 32;
  c.vocab = 7;
  return c;
}

Tensor random_tokens(int64_t B, int64_t U, int64_t V, uint64_t seed) {
  Generator g(seed);
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < B * U; ++i) ids.push_back(int64_t(g.next_below(uint64_t(V))));
  return from_vector(ids, {B, U});
}

TEST(Asr, DecoderShapesCausalAndMemoryMasks) {
  Generator gen(5);
  TransformerDecoder dec(7, 16, 2, 32, 2, 0.0, gen);
  dec.eval();
  const int64_t B = 2, U = 6, T = 5;
  const Tensor mem = randn({B, T, 16}, DType::f32, gen);
  const Tensor pad = from_vector(std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, {B, T});  // row 1: 3 frames
  const Tensor tok = random_tokens(B, U, 7, 1);
  const Tensor out = dec.forward(tok, mem, pad);
  EXPECT_EQ(out.shape(), Shape({B, U, 7}));
  // Causal: changing tokens after position t leaves the outputs at positions <= t unchanged.
  for (int64_t t = 0; t < U - 1; ++t) {
    std::vector<int64_t> ids = tok.to_vector<int64_t>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t u = t + 1; u < U; ++u) ids[size_t(b * U + u)] = (ids[size_t(b * U + u)] + 3) % 7;
    const Tensor out2 = dec.forward(from_vector(ids, {B, U}), mem, pad);
    EXPECT_TRUE(all_close(out2.narrow(1, 0, t + 1), out.narrow(1, 0, t + 1), 1e-6, 1e-6)) << "position " << t;
    EXPECT_FALSE(all_close(out2.narrow(1, t + 1, 1), out.narrow(1, t + 1, 1), 1e-4, 1e-4)) << "position " << t + 1;
  }
  // Padded memory frames are invisible to the cross-attention; valid ones are not.
  Tensor mem2 = mem.clone();
  {
    float* p = mem2.data<float>();
    for (int64_t t = 3; t < T; ++t)
      for (int64_t k = 0; k < 16; ++k) p[(1 * T + t) * 16 + k] += 5.0f;
  }
  EXPECT_TRUE(all_close(dec.forward(tok, mem2, pad), out, 1e-6, 1e-6));
  EXPECT_FALSE(all_close(dec.forward(tok, mem2, Tensor()).select(0, 1), out.select(0, 1), 1e-4, 1e-4));
  // Cross-attention takes a memory of another length than the target sequence.
  EXPECT_EQ(dec.forward(tok, randn({B, 11, 16}, DType::f32, gen), Tensor()).shape(), Shape({B, U, 7}));
  EXPECT_TRUE(throws_with([&] { dec.forward(tok, randn({B, T, 8}, DType::f32, gen), Tensor()); }, "memory must be"));
}

TEST(Asr, Conv2dSubsamplingOutputLength) {
  Generator gen(2);
  Conv2dSubsampling sub(80, 3, 8, gen);
  EXPECT_EQ(sub.out->weight.size(1), 3 * 19);  // F' = ((80 - 1) / 2 - 1) / 2 = 19
  for (int64_t T : {7, 8, 9, 10, 11, 12, 13, 20, 33, 100}) {
    const Tensor y = sub.forward(randn({2, T, 80}, DType::f32, gen));
    EXPECT_EQ(y.shape(), Shape({2, ((T - 1) / 2 - 1) / 2, 8})) << "T = " << T;
    EXPECT_EQ(Conv2dSubsampling::output_length(T), ((T - 1) / 2 - 1) / 2);
  }
  EXPECT_EQ(Conv2dSubsampling::output_length(6), 0);
  EXPECT_TRUE(throws_with([&] { sub.forward(randn({1, 6, 80}, DType::f32, gen)); }, "too short"));
}

AsrEncoded encode_random(const AsrModel& m, int64_t B, int64_t T, uint64_t seed, std::vector<int64_t> lengths = {}) {
  Generator gen(seed);
  std::vector<Tensor> in;
  const size_t levels = m.featurizer ? size_t(m.cfg.upstream_hidden) : 1;
  for (size_t k = 0; k < levels; ++k) in.push_back(randn({B, T, m.cfg.input_dim}, DType::f32, gen));
  return m.encode(in, lengths, false);
}

TEST(Asr, HybridLossIsTheWeightedSumOfCtcAndAttention) {
  AsrModel m(tiny_config("fbank", 20, 1, "conformer"), 3);
  m.eval();
  const AsrEncoded enc = encode_random(m, 2, 40, 9, {40, 31});
  const std::vector<std::vector<int32_t>> targets = {{1, 2, 3}, {4, 5}};
  const AsrLoss L = asr_loss(m, enc, targets, 0.3, 0.0);
  EXPECT_NEAR(L.total.item(), 0.3 * L.ctc.item() + 0.7 * L.att.item(), 1e-5);
  // CTC part: torch-style ctc_loss summed over the batch / target tokens.
  const Tensor lp = m.ctc_log_probs(enc);
  const double ctc = ctc_loss(lp.transpose(0, 1).contiguous(), from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 0}, {2, 3}),
                              from_vector(enc.mask.lengths, {2}), from_vector(std::vector<int64_t>{3, 2}, {2}), 0,
                              LossReduction::sum)
                         .item() /
                     5.0;
  EXPECT_NEAR(L.ctc.item(), ctc, 1e-5);
  // Attention part: mean over the 3 + 1 and 2 + 1 output positions of -log p(y_u | <sos> y_<u).
  const Tensor logits = m.decoder_logits(from_vector(std::vector<int64_t>{0, 1, 2, 3, 0, 4, 5, 0}, {2, 4}), enc);
  const std::vector<double> ls = log_softmax(logits, -1).to_vector<double>();
  const std::vector<std::pair<int, int>> pos = {{0, 1}, {1, 2}, {2, 3}, {3, 0}, {4, 4}, {5, 5}, {6, 0}};
  double att = 0;
  for (auto [row, y] : pos) att -= ls[size_t(row * 7 + y)];
  EXPECT_NEAR(L.att.item(), att / 7.0, 1e-5);
  // Label smoothing raises the loss of a confident model and keeps the weighting.
  const AsrLoss S = asr_loss(m, enc, targets, 0.3, 0.1);
  EXPECT_NEAR(S.total.item(), 0.3 * S.ctc.item() + 0.7 * S.att.item(), 1e-5);
  EXPECT_NE(S.att.item(), L.att.item());
  // CTC only without a decoder.
  AsrModel c(tiny_config("fbank", 20, 0, "conformer"), 3);
  const AsrLoss C = asr_loss(c, encode_random(c, 2, 40, 9), targets, 0.3, 0.1);
  EXPECT_FALSE(C.att.defined());
  EXPECT_NEAR(C.total.item(), C.ctc.item(), 0);
}

// Peaked random CTC posteriors: a label sequence with blanks and repeats, smeared.
std::vector<float> peaked_log_probs(int64_t T, int64_t V, uint64_t seed, double peak_logit) {
  Generator g(seed);
  std::vector<float> lp(size_t(T * V));
  for (int64_t t = 0; t < T; ++t) {
    const int64_t peak = int64_t(g.next_below(uint64_t(V)));
    std::vector<double> p(static_cast<size_t>(V));
    for (int64_t v = 0; v < V; ++v) p[size_t(v)] = (v == peak ? peak_logit : 0.0) + 2.0 * g.next_double();
    double lse = 0;
    for (double x : p) lse += std::exp(x);
    for (int64_t v = 0; v < V; ++v) lp[size_t(t * V + v)] = float(p[size_t(v)] - std::log(lse));
  }
  return lp;
}

TEST(Asr, JointBeamWithCtcWeightOneEqualsCtcPrefixBeamSearch) {
  // Posteriors about as peaked as a half-trained model's. The two searches prune differently (by frame: the
  // alignments of a prefix; by label: prefix probabilities), so on flat posteriors and small beams either may find
  // a more probable sequence than the other; with enough beam for the ambiguity they agree.
  int differs_from_greedy = 0;
  for (uint64_t seed = 1; seed <= 24; ++seed) {
    const int64_t T = 10 + int64_t(seed % 5), V = 5;
    const std::vector<float> lp = peaked_log_probs(T, V, seed, 2.5);
    // log P_ctc(tokens | x) as torch's ctc_loss computes it.
    auto exact = [&](const std::vector<int32_t>& tokens) {
      std::vector<int64_t> tgt(tokens.begin(), tokens.end());
      const int64_t S = int64_t(tgt.size());
      if (tgt.empty()) tgt.push_back(0);
      return -ctc_loss(from_vector(lp, {T, 1, V}), from_vector(tgt, {1, int64_t(tgt.size())}),
                       from_vector(std::vector<int64_t>{T}, {1}), from_vector(std::vector<int64_t>{S}, {1}), 0,
                       LossReduction::sum)
                  .item();
    };
    for (int beam : {16, 32}) {
      BeamSearchOptions bo;
      bo.beam = beam;
      const auto ref = ctc_prefix_beam_search(lp.data(), T, V, T, bo).front();
      JointDecodeOptions jo;
      jo.beam = beam;
      jo.ctc_weight = 1.0;
      jo.length_normalize = false;
      const JointHypothesis h = joint_beam_search(lp.data(), T, V, NextTokenScorer(), jo);
      EXPECT_EQ(h.tokens, ref.tokens) << "seed " << seed << " beam " << beam << ": log P " << exact(h.tokens)
                                      << " vs " << exact(ref.tokens);
      // The joint search scores with exact prefix probabilities, so its final score is log P_ctc(tokens | x); the
      // prefix beam search's sum of the alignments it kept is a lower bound of the same number.
      EXPECT_NEAR(h.score, exact(h.tokens), 1e-4) << "seed " << seed;
      EXPECT_GE(h.score, ref.log_prob - 1e-6) << "seed " << seed;
      if (beam == 16) differs_from_greedy += h.tokens != ctc_greedy_decode(lp.data(), T, V, T);
    }
  }
  EXPECT_GT(differs_from_greedy, 0);  // the cases are not all trivially greedy
}

TEST(Asr, JointBeamOneWithoutCtcEqualsGreedyAttention) {
  AsrModel m(tiny_config("fbank", 20, 2, "conformer"), 4);
  m.eval();
  NoGradGuard ng;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    const AsrEncoded enc = encode_random(m, 1, 60, seed);
    const Tensor lp = m.ctc_log_probs(enc).contiguous();
    const auto greedy = asr_decode_one(m, enc, lp, 0, AsrDecodeConfig{"attention", 1, 0.0, true});
    const auto joint = asr_decode_one(m, enc, lp, 0, AsrDecodeConfig{"joint", 1, 0.0, true});
    EXPECT_EQ(joint, greedy) << "seed " << seed;
    EXPECT_LE(int64_t(greedy.size()), enc.mask.lengths[0]);
  }
  // A scripted scorer: emits 3, 1, 4 then <eos>; beam 1 stops there, as greedy does.
  const NextTokenScorer script = [](const std::vector<std::vector<int32_t>>& prefixes) {
    std::vector<float> out;
    const std::vector<int32_t> want = {3, 1, 4, 0};
    for (const auto& p : prefixes)
      for (int32_t v = 0; v < 6; ++v) out.push_back(v == want[std::min<size_t>(p.size() - 1, 3)] ? -0.1f : -3.0f);
    return out;
  };
  JointDecodeOptions jo;
  jo.beam = 1;
  jo.ctc_weight = 0;
  jo.max_length = 10;
  EXPECT_EQ(joint_beam_search(nullptr, 0, 6, script, jo).tokens, (std::vector<int32_t>{3, 1, 4}));
  EXPECT_EQ(greedy_attention_decode(script, 6, 10), (std::vector<int32_t>{3, 1, 4}));
  jo.beam = 3;
  EXPECT_EQ(joint_beam_search(nullptr, 0, 6, script, jo).tokens, (std::vector<int32_t>{3, 1, 4}));
}

TEST(Asr, WeightedLayerSumGetsGradientsAndLastLayerHasNoWeights) {
  AsrModelConfig c = tiny_config("upstream", 12, 0, "conformer");
  c.upstream_layers = "weighted";
  c.upstream_hidden = 3;
  AsrModel m(c, 6);
  ASSERT_TRUE(m.featurizer != nullptr);
  const AsrEncoded enc = encode_random(m, 2, 20, 3, {20, 14});
  const AsrLoss L = asr_loss(m, enc, {{1, 2}, {3}}, 0.3, 0.0);
  L.total.backward();
  const Tensor g = m.featurizer->weights.grad();
  ASSERT_TRUE(g.defined());
  double norm = 0;
  for (double v : g.to_vector<double>()) norm += v * v;
  EXPECT_GT(norm, 0.0);
  for (double w : m.featurizer->normalized_weights()) EXPECT_NEAR(w, 1.0 / 3, 1e-6);  // zeros init: equal weights
  // 2 hidden states for weights over 3 is an error naming both counts.
  Generator gen(1);
  EXPECT_TRUE(throws_with([&] { m.encode({randn({1, 9, 12}), randn({1, 9, 12})}, {}, false); }, "2 input tensors"));
  AsrModel last(tiny_config("upstream", 12, 0, "conformer"), 6);
  EXPECT_TRUE(last.featurizer == nullptr);
  for (const auto& [n, t] : last.named_parameters()) EXPECT_EQ(n.find("featurizer"), std::string::npos) << n;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.contiguous().raw_data(), b.contiguous().raw_data(),
                                               size_t(a.numel()) * dtype_size(a.dtype())) == 0;
}

const std::vector<std::string> kSentences = {"AB CD", "DABC", "CAD BA"};

TEST(Asr, FrozenUpstreamGetsNoGradientAndNeverChanges) {
  ThreadScope single(1);
  ScratchDir dir("asr_frozen");
  write_spelled_corpus(dir.str("data"), "train", kSentences, 21);
  const std::string model = write_micro_model(dir.str());
  const std::string init = dir.str("init.safetensors");
  ASSERT_EQ(run_command({"init", "--config", model, "--seed", "3", "--out", init}), 0);
  const NamedTensors pre = load_checkpoint(init).model;
  // Through the CLI, as the experiment runs it.
  ASSERT_EQ(run_command({"finetune", "--downstream", "conformer", "--upstream-layers", "weighted", "--pretrained", init,
                         "--data", dir.str("data"), "--valid-split", "train", "--out", dir.str("run"), "--layers", "1",
                         "--d-model", "16", "--ffn-dim", "32", "--heads", "2", "--kernel", "3", "--max-updates", "3",
                         "--lr", "1e-2", "--warmup-updates", "1", "--min-sample-size", "0", "--quiet"}),
            0);
  const Checkpoint ck = load_checkpoint(checkpoint_path(dir.str("run"), "last"));
  size_t upstream_tensors = 0;
  bool featurizer_moved = false;
  for (const auto& [n, t] : ck.model) {
    if (n.rfind("upstream.", 0) == 0) {
      for (const auto& [pn, pt] : pre)
        if (pn == n.substr(9)) {
          EXPECT_TRUE(same_bits(t, pt)) << n << " changed";
          ++upstream_tensors;
        }
    }
    if (n == "featurizer.weights")
      for (double w : t.to_vector<double>()) featurizer_moved = featurizer_moved || w != 0.0;
  }
  EXPECT_EQ(upstream_tensors, pre.size());
  EXPECT_TRUE(featurizer_moved);
  // The front end's features carry no autograd history, and a backward pass leaves the upstream without gradients.
  LoadedAsr l = load_asr_checkpoint(checkpoint_path(dir.str("run"), "last"));
  const Manifest man = read_manifest(dir.str("data/train.tsv"));
  const std::vector<Tensor> f = l.frontend->features(man.audio_path(0));
  EXPECT_EQ(int64_t(f.size()), 3);  // 2 layers + 1
  for (const Tensor& t : f) EXPECT_FALSE(t.requires_grad());
  l.model->train();
  std::vector<int64_t> lens;
  const AsrEncoded enc = l.model->encode(pad_features({f}, lens), lens, false);
  asr_loss(*l.model, enc, {l.vocab.encode("A B |", "test")}, 0.3, 0).total.backward();
  for (const auto& [n, t] : l.frontend->upstream->named_parameters()) EXPECT_FALSE(t.grad().defined()) << n;
  EXPECT_TRUE(l.model->featurizer->weights.grad().defined());
  // MI levels of the downstream model: X, the upstream's 2 layers, then the downstream's 1 layer.
  const std::vector<Tensor> levels = hidden_states_of_checkpoint(checkpoint_path(dir.str("run"), "last"))(man.audio_path(0));
  ASSERT_EQ(levels.size(), 4u);
  for (const Tensor& t : levels) EXPECT_EQ(t.size(0), f[0].size(0));
  EXPECT_EQ(levels[3].size(1), 16);  // downstream width
}

TEST(Asr, TinyConBiMambaAsrOverfitsSpelledUtterances) {
  ThreadScope single(1);
  ScratchDir dir("asr_overfit");
  write_spelled_corpus(dir.str("data"), "train", kSentences, 21);
  AsrTrainConfig c;
  c.downstream = "conbimamba";
  c.data = dir.str("data");
  c.valid_split = "train";
  c.out = dir.str("run");
  c.layers = 1;
  c.d_model = 32;
  c.ffn_dim = 64;
  c.heads = 2;
  c.kernel = 3;
  c.subsample_channels = 8;
  c.decoder_layers = 1;
  c.decoder_ffn = 64;
  c.dropout = 0;
  c.label_smoothing = 0;
  c.max_updates = 1;
  c.warmup_updates = 10;
  c.lr = 3e-3;
  c.min_sample_size = 0;
  c.decode = "ctc";
  c.beam = 1;
  c.quiet = true;
  const FinetuneResult start = run_asr_training(c);
  c.out = dir.str("run2");
  c.max_updates = 160;
  c.decode = "joint";
  c.beam = 3;
  const FinetuneResult r = run_asr_training(c);
  for (size_t i = 0; i < r.valid.hyps.size(); ++i)
    std::cerr << "  ref '" << r.valid.refs[i] << "' hyp '" << r.valid.hyps[i] << "'\n";
  EXPECT_GT(start.valid.cer(), 0.6) << start.valid.score.letters.summary("CER");
  EXPECT_LT(r.valid.cer(), 0.25) << r.valid.score.letters.summary("CER");
  // The checkpoint decodes the same utterances through every mode.
  const std::string ck = checkpoint_path(c.out, "last");
  for (const char* mode : {"ctc", "attention", "joint"}) {
    const EvalResult e = evaluate_asr(ck, c.data, "train", AsrDecodeConfig{mode, 3, 0.3, true});
    EXPECT_LT(e.cer(), 0.4) << mode << ": " << e.score.letters.summary("CER");
  }
}

TEST(Asr, BadInputsGiveClearErrors) {
  ThreadScope single(1);
  AsrModel m(tiny_config("fbank", 80, 1, "conformer"), 1);
  EXPECT_TRUE(throws_with([&] { m.encode({randn({1, 30, 40})}, {}, false); },
                          "input feature dim 40 but the model expects 80 (fbank bins)"));
  const AsrEncoded enc = encode_random(m, 1, 30, 1);
  EXPECT_TRUE(throws_with([&] { asr_loss(m, enc, {{1, 9}}, 0.3, 0); }, "target id 9 outside [1, 7)"));
  EXPECT_TRUE(throws_with([&] { asr_loss(m, enc, {{1}, {2}}, 0.3, 0); }, "2 target sequences for a batch of 1"));
  AsrModel ctc_only(tiny_config("fbank", 80, 0, "conformer"), 1);
  EXPECT_TRUE(throws_with([&] { ctc_only.decoder_logits(from_vector(std::vector<int64_t>{0}, {1, 1}), enc); },
                          "no attention decoder"));
  AsrModelConfig bad = tiny_config("fbank", 80, 1);
  bad.frontend = "mfcc";
  EXPECT_TRUE(throws_with([&] { AsrModel x(bad, 1); }, "frontend must be fbank or upstream"));

  // Vocabulary mismatches: resuming on data with other letters, and a checkpoint whose vocabulary does not fit.
  ScratchDir dir("asr_bad");
  write_spelled_corpus(dir.str("data"), "train", kSentences, 21);
  write_spelled_corpus(dir.str("other"), "train", {"AB", "BA"}, 22);
  AsrTrainConfig c;
  c.data = dir.str("data");
  c.valid_split = "train";
  c.out = dir.str("run");
  c.layers = 1;
  c.d_model = 16;
  c.ffn_dim = 32;
  c.heads = 2;
  c.kernel = 3;
  c.subsample_channels = 4;
  c.max_updates = 1;
  c.min_sample_size = 0;
  c.quiet = true;
  run_asr_training(c);
  EXPECT_TRUE(throws_with([&] { run_asr_training(c); }, "pass --resume"));
  AsrTrainConfig other = c;
  other.data = dir.str("other");
  other.resume = true;
  EXPECT_TRUE(throws_with([&] { run_asr_training(other); }, "vocabulary differs from the one built from"));
  const std::string ckp = checkpoint_path(c.out, "last");
  Checkpoint ck = load_checkpoint(ckp);
  ck.state["vocab"] = Vocab({"|", "A", "B"}).to_json();
  const std::string broken = dir.str("broken.safetensors");
  save_checkpoint(broken, ck);
  EXPECT_TRUE(throws_with([&] { load_asr_checkpoint(broken); }, "vocabulary of 4 symbols but the model has 6 outputs"));
  EXPECT_TRUE(throws_with([&] { load_asr_checkpoint(dir.str("data/train.tsv")); }, "train.tsv"));
  c.upstream_layers = "middle";
  EXPECT_TRUE(throws_with([&] { run_asr_training(c); }, "--upstream-layers must be last or weighted"));
}

}  // namespace
}  // namespace hm::test
