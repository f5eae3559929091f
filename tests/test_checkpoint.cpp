// Checkpoints: weights + optimiser state + training state in one atomic file; an interrupted write (a stale
// temp file) never shadows the last good checkpoint.
#include <filesystem>
#include <fstream>

#include "train/checkpoint.h"
#include "tests/test_util.h"

namespace hm::test {
namespace {

TEST(Checkpoint, RoundTripSplitsModelOptimizerAndState) {
  const std::string dir = ::testing::TempDir() + "/run_ckpt";
  std::filesystem::create_directories(dir);
  Checkpoint c;
  c.model = {{"encoder.w", ones({2, 2})}};
  c.optimizer = {{"adam.step", from_vector<int64_t>({5}, {})}, {"adam.exp_avg.encoder.w", zeros({2, 2})}};
  c.state["step"] = Json(int64_t(5));
  c.state["rng"]["seed"] = Json(int64_t(42));
  const std::string path = checkpoint_path(dir, "last");
  save_checkpoint(path, c);
  const Checkpoint back = load_checkpoint(path);
  ASSERT_EQ(back.model.size(), 1u);
  EXPECT_EQ(back.model[0].first, "encoder.w");
  ASSERT_EQ(back.optimizer.size(), 2u);
  EXPECT_EQ(back.optimizer[0].first, "adam.step");
  EXPECT_EQ(back.state.at("step").as_int(), 5);
  EXPECT_EQ(back.state.at("rng").at("seed").as_int(), 42);
}

TEST(Checkpoint, KilledWriteLeavesLastGoodCheckpointLoadable) {
  const std::string dir = ::testing::TempDir() + "/run_killed";
  std::filesystem::create_directories(dir);
  const std::string path = checkpoint_path(dir, "last");
  Checkpoint good;
  good.model = {{"w", full({3}, 7.0)}};
  save_checkpoint(path, good);
  // Simulate a process killed half-way through the next save: a partial temp file next to the checkpoint.
  {
    std::ofstream partial(path + ".tmp", std::ios::binary);
    partial << "\x10\x00\x00\x00\x00\x00\x00\x00{\"w\":";
  }
  const Checkpoint back = load_checkpoint(path);
  EXPECT_EQ(back.model[0].second.to_vector<float>(), (std::vector<float>{7, 7, 7}));
  // The next successful save replaces both.
  save_checkpoint(path, good);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

}  // namespace
}  // namespace hm::test
