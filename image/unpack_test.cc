// Layers made at test time with libarchive's writer, unpacked for real (as root), including
// a corpus of hostile ones that must fail cleanly with nothing written outside.
#include "image/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <thread>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/ascii.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/subprocess.h"
#include "lib/testing/testing.h"

namespace gdn::image {
namespace {

using ::testing::HasSubstr;

struct Entry {
  std::string name;
  mode_t type = AE_IFREG;
  std::string content;  // file content, or symlink target, or hard link target
  mode_t perm = 0644;
  unsigned uid = 0, gid = 0;
};

enum class Compression { kNone, kGzip, kZstd };

void WriteLayer(const std::string& path, const std::vector<Entry>& entries,
                Compression c = Compression::kGzip) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (c == Compression::kGzip) archive_write_add_filter_gzip(a);
  if (c == Compression::kZstd) archive_write_add_filter_zstd(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const Entry& x : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, x.name.c_str());
    archive_entry_set_uid(e, x.uid);
    archive_entry_set_gid(e, x.gid);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (x.type == 0) {  // a hard link
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_hardlink(e, x.content.c_str());
      archive_entry_set_size(e, 0);
    } else {
      archive_entry_set_filetype(e, x.type);
      archive_entry_set_perm(e, x.perm);
      if (x.type == AE_IFLNK) archive_entry_set_symlink(e, x.content.c_str());
      archive_entry_set_size(e, x.type == AE_IFREG ? static_cast<la_int64_t>(x.content.size()) : 0);
    }
    archive_write_header(a, e);
    if (x.type == AE_IFREG && !x.content.empty()) archive_write_data(a, x.content.data(), x.content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

class UnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GDN_SKIP_UNLESS_PRIVILEGED();
    dest_ = tmp_.Join("layer");
    outside_ = tmp_.Join("outside");
    ASSERT_TRUE(MakeDirs(dest_).ok());
    ASSERT_TRUE(MakeDirs(outside_).ok());
  }
  absl::StatusOr<UnpackReport> Unpack(const std::vector<Entry>& entries,
                                      Compression c = Compression::kGzip, UnpackOptions o = {}) {
    std::string layer = tmp_.Join("layer.tar");
    WriteLayer(layer, entries, c);
    return UnpackLayer(layer, dest_, o);
  }
  bool OutsideIsEmpty() {
    std::string listing;
    SubprocessOptions ls;
    ls.argv = {"ls", "-A", outside_};
    auto r = RunSubprocess(ls);
    return r.ok() && r->out.empty();
  }

  gdn::testing::TempDir tmp_;
  std::string dest_, outside_;
};

TEST_F(UnpackTest, FilesLinksOwnersModesAndWhiteouts) {
  auto r = Unpack({{"bin", AE_IFDIR, "", 0755},
                   {"bin/tool", AE_IFREG, "#!/bin/sh\n", 04755, 1000, 1000},
                   {"bin/alias", AE_IFLNK, "tool"},
                   {"bin/hard", 0, "bin/tool"},
                   {"etc/.wh.passwd", AE_IFREG, ""},
                   {"var/.wh..wh..opq", AE_IFREG, ""}});
  ASSERT_TRUE(r.ok()) << r.status();
  struct stat st;
  ASSERT_EQ(stat((dest_ + "/bin/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_mode & 07777, 04755u);  // setuid kept, after chown
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(st.st_mtime, 1700000000);
  EXPECT_EQ(*ReadFile(dest_ + "/bin/hard"), "#!/bin/sh\n");
  char target[16] = {};
  ASSERT_GT(readlink((dest_ + "/bin/alias").c_str(), target, sizeof target), 0);
  EXPECT_STREQ(target, "tool");
  ASSERT_EQ(lstat((dest_ + "/etc/passwd").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  char opaque[4] = {};
  EXPECT_EQ(getxattr((dest_ + "/var").c_str(), "trusted.overlay.opaque", opaque, sizeof opaque), 1);
  EXPECT_EQ(opaque[0], 'y');
  EXPECT_FALSE(FileExists(dest_ + "/etc/.wh.passwd"));
}

TEST_F(UnpackTest, EveryCompressionUnpacks) {
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    auto r = Unpack({{"file", AE_IFREG, "content"}}, c);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*ReadFile(dest_ + "/file"), "content");
  }
}

// "-" reads the layer from stdin, as `image-fetch blob | image-unpack - DEST` streams it, and
// reads past the tar's end to EOF so that the writer can hash every byte it sends.
TEST_F(UnpackTest, StdinIsReadToItsEnd) {
  std::string layer = tmp_.Join("piped.tar");
  WriteLayer(layer, {{"file", AE_IFREG, "piped"}}, Compression::kNone);
  std::string data = *ReadFile(layer) + std::string(300000, '\0');
  absl::StatusOr<Pipe> p = MakePipe();
  ASSERT_TRUE(p.ok());
  bool all_written = false;
  std::thread writer([&] {
    all_written = WriteAll(p->write.get(), data).ok();
    p->write.Reset();
  });
  int saved = dup(STDIN_FILENO);
  dup2(p->read.get(), STDIN_FILENO);
  p->read.Reset();
  auto r = UnpackLayer("-", dest_);
  writer.join();
  dup2(saved, STDIN_FILENO);
  close(saved);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*ReadFile(dest_ + "/file"), "piped");
  EXPECT_TRUE(all_written);
}

std::string Sh(const std::string& script) {
  SubprocessOptions o;
  o.argv = {"sh", "-c", script};
  absl::StatusOr<SubprocessResult> r = RunSubprocess(o);
  EXPECT_TRUE(r.ok() && r->ok()) << script;
  return r.ok() ? std::string(absl::StripTrailingAsciiWhitespace(r->out)) : "";
}

// The uncompressed tar must hash to the diff_id asked for, whatever the compression.
TEST_F(UnpackTest, DiffIdIsChecked) {
  std::string plain = tmp_.Join("plain.tar");
  WriteLayer(plain, {{"file", AE_IFREG, "content"}}, Compression::kNone);
  std::string diff_id = "sha256:" + Sh("sha256sum " + plain + " | cut -d' ' -f1");
  Sh("gzip -c " + plain + " > " + plain + ".gz; zstd -q -c " + plain + " > " + plain + ".zst");
  for (const std::string& layer : {plain, plain + ".gz", plain + ".zst"}) {
    Sh("rm -rf " + dest_ + " && mkdir " + dest_);
    UnpackOptions o;
    o.expected_diff_id = diff_id;
    auto r = UnpackLayer(layer, dest_, o);
    EXPECT_TRUE(r.ok()) << layer << ": " << r.status();
    Sh("rm -rf " + dest_ + " && mkdir " + dest_);
    o.expected_diff_id = "sha256:" + std::string(64, '0');
    r = UnpackLayer(layer, dest_, o);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << layer;
    EXPECT_THAT(r.status().message(), HasSubstr("not to the diff_id")) << layer;
  }
}

// Concatenated gzip members are one gzip stream; a cut one is refused.
TEST_F(UnpackTest, GzipMembersAndCutStreams) {
  std::string plain = tmp_.Join("two.tar");
  WriteLayer(plain, {{"a", AE_IFREG, std::string(5000, 'a')}, {"b", AE_IFREG, "bee"}}, Compression::kNone);
  Sh("cd " + tmp_.path() + " && head -c 3000 two.tar | gzip > two.gz && tail -c +3001 two.tar | gzip >> two.gz");
  auto r = UnpackLayer(tmp_.Join("two.gz"), dest_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*ReadFile(dest_ + "/b"), "bee");
  Sh("rm -rf " + dest_ + " && mkdir " + dest_);
  // Cut in the middle, and cut by just its trailer (the data whole, the stream not).
  for (const char* cut : {"gzip -c two.tar > full.gz && head -c $(( $(stat -c %s full.gz) / 2 )) full.gz > cut.gz",
                          "gzip -c two.tar | head -c -4 > cut.gz"}) {
    Sh("rm -rf " + dest_ + " && mkdir " + dest_);
    Sh("cd " + tmp_.path() + " && " + cut);
    r = UnpackLayer(tmp_.Join("cut.gz"), dest_);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << cut;
  }
}

TEST_F(UnpackTest, DotDotIsRefused) {
  auto r = Unpack({{"../outside/evil", AE_IFREG, "x"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("climbs out"));
  EXPECT_TRUE(OutsideIsEmpty());
  EXPECT_FALSE(Unpack({{"a/../../evil", AE_IFREG, "x"}}).ok());
}

TEST_F(UnpackTest, AbsoluteNamesStayInside) {
  ASSERT_TRUE(Unpack({{outside_ + "/evil", AE_IFREG, "x"}}).ok());
  EXPECT_TRUE(OutsideIsEmpty());
  EXPECT_TRUE(FileExists(dest_ + outside_ + "/evil"));
}

TEST_F(UnpackTest, SymlinkedParentsStayInside) {
  // An entry plants a symlink to the outside; a later entry writes through it. The link is
  // resolved inside the layer, where its target does not exist: refused, nothing outside.
  auto dangling = Unpack({{"escape", AE_IFLNK, outside_}, {"escape/pwned", AE_IFREG, "x"}});
  EXPECT_FALSE(dangling.ok());
  EXPECT_TRUE(OutsideIsEmpty());
  // Where the target exists inside the layer, the write lands there.
  auto r = Unpack({{outside_.substr(1), AE_IFDIR, "", 0755},
                   {"escape2", AE_IFLNK, outside_},
                   {"escape2/pwned", AE_IFREG, "x"},
                   {"up", AE_IFLNK, "../../../../../../.."},
                   {"up" + outside_ + "/pwned2", AE_IFREG, "x"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(OutsideIsEmpty());
  EXPECT_TRUE(FileExists(dest_ + outside_ + "/pwned"));
  EXPECT_TRUE(FileExists(dest_ + outside_ + "/pwned2"));
}

TEST_F(UnpackTest, HardLinksCannotReachOutside) {
  ASSERT_TRUE(WriteFileAtomic(outside_ + "/secret", "s").ok());
  EXPECT_FALSE(Unpack({{"h", 0, "../outside/secret"}}).ok());
  EXPECT_FALSE(Unpack({{"h", 0, outside_ + "/secret"}}).ok());
  // Through a symlinked parent: resolved inside, where there is no such file.
  auto r = Unpack({{"s", AE_IFLNK, outside_}, {"h2", 0, "s/secret"}});
  EXPECT_FALSE(r.ok());
  struct stat st;
  ASSERT_EQ(stat((outside_ + "/secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 1u);
}

TEST_F(UnpackTest, DecompressionBombsAreRefused) {
  UnpackOptions small;
  small.max_bytes = 1 << 20;
  auto r = Unpack({{"zeros", AE_IFREG, std::string(8 << 20, '\0')}}, Compression::kGzip, small);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("more than 1048576 bytes"));
}

TEST_F(UnpackTest, GarbageIsInvalid) {
  std::string layer = tmp_.Join("garbage.tar.gz");
  ASSERT_TRUE(WriteFileAtomic(layer, "\x1f\x8b this is not gzip at all").ok());
  EXPECT_EQ(UnpackLayer(layer, dest_).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gdn::image
