// The layer store (grootfs's place in Garden). Its layout, in one place (STYLE.md 5):
//
//   <store>/store.json                 StoreConfig: the id mappings every layer is shifted by
//   <store>/layers/<chain id hex>/     one unpacked layer, shared by every image that has it
//   <store>/images/<handle>/image.json ImageRecord: the layers (lowerdirs) of a container
//   <store>/images/<handle>/diff/      the container's overlay upperdir
//   <store>/images/<handle>/workdir/   the overlay workdir
//   <store>/images/<handle>/rootfs/    where spawn mounts the overlay, inside the container
//   <store>/tmp/<id>-incomplete-<rand> unpacks in progress; renamed into layers/ when whole,
//                                      removed by the next command after a crash
//   <store>/locks/                     flock files: one per layer, and gc.lock (shared by
//                                      create, exclusive for clean)
#ifndef GDN_IMAGE_STORE_H_
#define GDN_IMAGE_STORE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "image/oci.schema.h"
#include "image/reference.h"
#include "lib/idmap.h"

namespace gdn::image {

// How registry images are fetched (image-fetch's flags) and whether progress is shown.
struct PullOptions {
  std::vector<std::string> insecure_registries;
  std::string default_registry = "docker.io";
  std::string credentials_file;
  std::string username, password;
  std::string progress = "none";  // none, tty or json: image-fetch's progress on stderr
  int parallel_layers = 3;
};

// Where a layer's bytes come from: a file, or a stream (path "-") that `start` begins and
// returns the read end of, and `finish` waits for; its status decides whether the unpacked
// layer is kept.
struct LayerSource {
  std::string path;
  std::string diff_id;  // what the unpacked tar must hash to
  std::function<absl::StatusOr<int>()> start;
  std::function<absl::Status(const absl::Status& unpacked)> finish;
};

struct CreateOptions {
  int64_t disk_limit_bytes = 0;  // 0: none
  bool exclude_image_from_quota = false;
};

class Store {
 public:
  // Opens the store at `path` (made by InitStore); `idmap` as for lib/userns.
  static absl::StatusOr<Store> Open(const std::string& path, const std::string& idmap = "");
  // Makes a store recording the mappings layers are shifted by. A rootless store belongs to
  // the user who makes it.
  static absl::Status InitStore(const std::string& path, const IdMap& uid_map,
                                const IdMap& gid_map);

  // Garden's `create`: the runtime-spec fragment (JSON) for container `handle`.
  void set_pull_options(PullOptions o) { pull_ = std::move(o); }

  absl::StatusOr<std::string> Create(const std::string& uri, const std::string& handle,
                                     const CreateOptions& options = {});
  absl::Status Delete(const std::string& handle);
  absl::StatusOr<std::string> StatsJson(const std::string& handle);
  absl::StatusOr<std::vector<std::string>> List();
  // Removes layers no image uses; never one in use, also while creates run.
  absl::Status Clean();
  // Unpacks an image's layers ahead of time.
  absl::Status Pull(const std::string& uri);

 private:
  Store(std::string path, StoreConfig config, std::string idmap);
  absl::Status RemoveLeftovers();
  absl::Status RemoveTree(const std::string& path);
  // Unpacks (once) every layer of the image at `uri`; the lowerdirs, top first.
  absl::StatusOr<ImageRecord> Prepare(const std::string& uri);
  absl::Status EnsureLayer(const LayerSource& source, const std::string& chain_hex);
  absl::StatusOr<ImageRecord> PrepareRegistry(const std::string& uri, ImageRecord record);
  // image-fetch's arguments before its command, and its environment.
  std::vector<std::string> FetchArgs() const;
  // Unpacks (once) the layers `blobs` (with `digests`) of an image with `config`, and
  // records them, top first, in `record`.
  absl::Status AddLayers(const ImageConfig& config, const std::vector<std::string>& blobs,
                         const std::vector<std::string>& digests, ImageRecord* record);
  absl::StatusOr<ImageRecord> PrepareDockerArchive(const ImageReference& ref,
                                                   ImageRecord record);
  // Records `options`' limit in `record` and applies it to `upper` where the filesystem can.
  absl::Status LimitDisk(const CreateOptions& options, const std::string& upper,
                         ImageRecord* record);
  bool shifted() const { return !uid_map_.empty(); }

  std::string path_;
  StoreConfig config_;
  std::string idmap_;
  IdMap uid_map_, gid_map_;
  PullOptions pull_;
};

}  // namespace gdn::image

#endif  // GDN_IMAGE_STORE_H_
