// The torchrun environment contract: what is read, and the messages for bad values.
#include "dist/dist_env.h"

#include <gtest/gtest.h>

#include <map>

#include "common/error.h"
#include "error_of.h"

namespace dlab {
namespace {

DistEnv read(const std::map<std::string, std::string>& vars) {
  return dist_env_read([&](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

std::string error_of(const std::map<std::string, std::string>& vars) {
  return test::error_of([&] { read(vars); });
}

TEST(DistEnv, NothingSetIsOneProcess) {
  const DistEnv env = read({});
  EXPECT_FALSE(env.distributed());
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
}

TEST(DistEnv, ReadsTheTorchrunContract) {
  const DistEnv env = read({{"RANK", "3"},
                            {"WORLD_SIZE", "4"},
                            {"LOCAL_RANK", "1"},
                            {"MASTER_ADDR", "10.0.0.7"},
                            {"MASTER_PORT", "29501"}});
  EXPECT_TRUE(env.distributed());
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "10.0.0.7");
  EXPECT_EQ(env.master_port, 29501);
}

TEST(DistEnv, LocalRankDefaultsToRankAndWorldOneNeedsNoMaster) {
  const DistEnv env = read({{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  EXPECT_FALSE(env.distributed());
  EXPECT_EQ(env.local_rank, 0);
}

TEST(DistEnv, BadValuesNameTheVariableAndWhatIsAllowed) {
  EXPECT_EQ(error_of({{"RANK", "0"}}),
            "RANK is set but WORLD_SIZE is not; a distributed run needs both (dlab launch sets "
            "them)");
  EXPECT_EQ(error_of({{"WORLD_SIZE", "2"}}),
            "WORLD_SIZE is set but RANK is not; a distributed run needs both (dlab launch sets "
            "them)");
  EXPECT_EQ(error_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}}),
            "RANK=2 is not an integer from 0 to WORLD_SIZE-1 = 1");
  EXPECT_EQ(error_of({{"RANK", "0"}, {"WORLD_SIZE", "two"}}),
            "WORLD_SIZE=two is not an integer from 1 to 65536");
  EXPECT_EQ(error_of({{"RANK", "-1"}, {"WORLD_SIZE", "2"}}),
            "RANK=-1 is not an integer from 0 to WORLD_SIZE-1 = 1");
  EXPECT_EQ(error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29500"}}),
            "MASTER_ADDR is not set; a run with WORLD_SIZE=2 needs the address of rank 0 (e.g. "
            "127.0.0.1)");
  EXPECT_EQ(error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}}),
            "MASTER_PORT is not set; a run with WORLD_SIZE=2 needs rank 0's rendezvous port "
            "(1-65535)");
  EXPECT_EQ(error_of({{"RANK", "0"},
                      {"WORLD_SIZE", "2"},
                      {"MASTER_ADDR", "127.0.0.1"},
                      {"MASTER_PORT", "70000"}}),
            "MASTER_PORT=70000 is not a port from 1 to 65535");
}

}  // namespace
}  // namespace dlab
