// Whole-file reads and crash-safe writes.
#ifndef GDN_LIB_FILE_H_
#define GDN_LIB_FILE_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gdn {

// The whole content of `path`.
absl::StatusOr<std::string> ReadFile(absl::string_view path);

// What a write must outlive.
enum class Durability {
  kMachineCrash,  // a power loss: fsynced (images, setup's records)
  kProcessCrash,  // a killed writer, not the machine: runtime state (containers, processes),
                  // which a reboot ends anyway; the rename alone, no fsync
};

// Replaces `path` with `data` so that a reader (or a crash) sees either the old content or
// the new, never a mix: a temporary file beside it is written, fsynced and renamed over it,
// then the folder is fsynced (the fsyncs only for kMachineCrash). The temporary file is
// removed if any step fails.
absl::Status WriteFileAtomic(absl::string_view path, absl::string_view data,
                             mode_t mode = 0644, Durability durability = Durability::kMachineCrash);

// Whether anything (even a dangling symlink) exists at `path`.
bool FileExists(absl::string_view path);

// mkdir -p: makes `path` and any missing parents with `mode`. OK if it exists as a folder.
absl::Status MakeDirs(absl::string_view path, mode_t mode = 0755);

// rm -rf --one-file-system in this process: removes `path` and everything under it without
// following symlinks or entering another filesystem (a mount inside is an error and stays).
// Folders of the caller's that deny it writing or searching are opened up first. OK when
// `path` does not exist. On an error what could be removed is gone and the rest stays.
absl::Status RemoveAll(absl::string_view path);

}  // namespace gdn

#endif  // GDN_LIB_FILE_H_
