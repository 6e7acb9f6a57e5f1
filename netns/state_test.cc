#include "netns/state.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/file.h"
#include "lib/testing/testing.h"

namespace gdn::netns {
namespace {

void Map(State* s, const std::string& handle, uint32_t port) {
  ContainerState* c = FindContainer(s, handle);
  if (c == nullptr) {
    c = s->add_containers();
    c->set_handle(handle);
  }
  c->add_port_mappings()->set_host_port(port);
}

TEST(AllocatePort, RoundRobinSkippingTakenPorts) {
  State s;
  Map(&s, "a", 100);
  EXPECT_EQ(*AllocatePort(&s, 100, 3), 101u);
  Map(&s, "a", 101);
  EXPECT_EQ(*AllocatePort(&s, 100, 3), 102u);
  Map(&s, "b", 102);
  EXPECT_EQ(AllocatePort(&s, 100, 3).status().code(), absl::StatusCode::kResourceExhausted);
  RemoveContainer(&s, "a");
  // 100 and 101 are free again; the cursor wrapped to 100.
  EXPECT_EQ(*AllocatePort(&s, 100, 3), 100u);
  EXPECT_TRUE(PortInUse(s, 102));
  EXPECT_FALSE(PortInUse(s, 101));
}

TEST(UniqueChainId, AvoidsIdsOfOtherHandles) {
  State s;
  std::string first = UniqueChainId(s, "gdn-", "h");
  s.add_containers()->set_chain_id(first);
  std::string second = UniqueChainId(s, "gdn-", "h");
  EXPECT_NE(first, second);
}

TEST(StateFile, SaveLoadAndLock) {
  testing::TempDir dir;
  std::string path = dir.Join("sub/state.json");
  auto f = StateFile::Lock(path, absl::Seconds(1));
  ASSERT_TRUE(f.ok()) << f.status();
  auto empty = f->Load();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->containers_size(), 0);
  State s;
  Map(&s, "h", 61001);
  ASSERT_TRUE(f->Save(s).ok());
  auto back = f->Load();
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->containers(0).port_mappings(0).host_port(), 61001u);
  // A second holder waits, then reports busy.
  auto other = StateFile::Lock(path, absl::Milliseconds(50));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(WriteFileAtomic(path, "{\"nonsense\":1}", 0600).ok());
  EXPECT_EQ(f->Load().status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace gdn::netns
