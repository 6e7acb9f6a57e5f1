#include "image/reference.h"

#include "gtest/gtest.h"

namespace gdn::image {
namespace {

TEST(ParseImageReference, EveryGardenForm) {
  auto folder = ParseImageReference("/var/rootfs");
  ASSERT_TRUE(folder.ok());
  EXPECT_EQ(folder->kind, SourceKind::kFolder);
  EXPECT_EQ(folder->path, "/var/rootfs");
  EXPECT_EQ(ParseImageReference("raw:///var/rootfs")->path, "/var/rootfs");

  auto oci = ParseImageReference("oci:///images/busybox:1.36");
  ASSERT_TRUE(oci.ok());
  EXPECT_EQ(oci->kind, SourceKind::kOciLayout);
  EXPECT_EQ(oci->path, "/images/busybox");
  EXPECT_EQ(oci->tag, "1.36");
  auto untagged = ParseImageReference("oci:///images/v1.2/busybox");
  EXPECT_EQ(untagged->path, "/images/v1.2/busybox");
  EXPECT_EQ(untagged->tag, "");

  auto archive = ParseImageReference("docker-archive:///tmp/img.tar");
  EXPECT_EQ(archive->kind, SourceKind::kDockerArchive);
  EXPECT_EQ(archive->path, "/tmp/img.tar");

  auto hub = ParseImageReference("docker:///busybox");
  ASSERT_TRUE(hub.ok());
  EXPECT_EQ(hub->registry, "");
  EXPECT_EQ(hub->repository, "busybox");
  EXPECT_EQ(hub->tag, "latest");
  RegistryEndpoint docker_hub = ResolveRegistry(*hub, "docker.io");
  EXPECT_EQ(docker_hub.host, "registry-1.docker.io");
  EXPECT_EQ(docker_hub.repository, "library/busybox");
  RegistryEndpoint elsewhere = ResolveRegistry(*hub, "127.0.0.1:5000");
  EXPECT_EQ(elsewhere.host, "127.0.0.1:5000");
  EXPECT_EQ(elsewhere.repository, "busybox");
  std::string digest = "sha256:" + std::string(64, 'a');
  auto pinned = ParseImageReference("docker://127.0.0.1:5000/app@" + digest);
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ(pinned->digest, digest);
  EXPECT_EQ(pinned->tag, "");
  auto both = ParseImageReference("docker://127.0.0.1:5000/app:v1@" + digest);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->tag, "v1");
  EXPECT_EQ(both->digest, digest);
  auto local = ParseImageReference("docker://127.0.0.1:5000/team/app#v2");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->registry, "127.0.0.1:5000");
  EXPECT_EQ(local->repository, "team/app");
  EXPECT_EQ(local->tag, "v2");
  auto colon = ParseImageReference("docker://127.0.0.1:5000/app:1.36");
  ASSERT_TRUE(colon.ok());
  EXPECT_EQ(colon->registry, "127.0.0.1:5000");
  EXPECT_EQ(colon->repository, "app");
  EXPECT_EQ(colon->tag, "1.36");
  EXPECT_EQ(ParseImageReference("docker:///busybox:1.36")->tag, "1.36");
}

TEST(ParseImageReference, RefusesWhatItCannotRead) {
  for (const char* bad : {"", "relative/path", "oci://relative", "oci:///x:", "ftp://host/x",
                          "docker://", "docker:///UPPER", "docker:///ok#bad tag",
                          "docker://bad_host!/repo", "raw://rel", "docker:///app@sha256:abc",
                          "docker:///app@md5:0123", "docker:///app:"}) {
    auto r = ParseImageReference(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace gdn::image
