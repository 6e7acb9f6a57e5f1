#include "image/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

extern char** environ;

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "image/digest.h"
#include "image/quota.h"
#include "image/reference.h"
#include "lib/fd.h"
#include "lib/file.h"
#include "lib/lite_json.h"
#include "lib/names.h"
#include "lib/proc.h"
#include "lib/status.h"
#include "lib/subprocess.h"
#include "lib/userns.h"
#include "nlohmann/json.hpp"

namespace gdn::image {
namespace {

constexpr char kRefName[] = "org.opencontainers.image.ref.name";

IdMap ToIdMap(const google::protobuf::RepeatedPtrField<IdMapping>& m) {
  std::vector<gdn::IdMapping> out;
  for (const IdMapping& x : m) out.push_back({x.container_id(), x.host_id(), x.size()});
  return IdMap(std::move(out));
}

// image-unpack, installed beside image-store (as Bazel builds them too).
std::string UnpackBinary() { return SelfDir() + "/image-unpack"; }
std::string FetchBinary() { return SelfDir() + "/image-fetch"; }

absl::Status CheckHandle(const std::string& handle) {
  if (!IsPlainName(handle, 255)) {
    return UsageError(absl::StrCat("invalid handle \"", handle, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> Lock(const std::string& path, int how) {
  ASSIGN_OR_RETURN(UniqueFd fd, gdn::Open(path, O_RDWR | O_CREAT, 0600));
  if (flock(fd.get(), how) != 0) return ErrnoError(errno, "lock", path);
  return fd;
}

template <typename M>
absl::StatusOr<M> ReadBlobJson(const std::string& layout, const Descriptor& d) {
  ASSIGN_OR_RETURN(std::string hex, DigestHex(d.digest()));
  std::string path = absl::StrCat(layout, "/blobs/sha256/", hex);
  ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  if (Sha256(data) != d.digest()) {
    return absl::InvalidArgumentError(absl::StrCat("blob ", d.digest(), " does not match its digest"));
  }
  M msg;
  RETURN_IF_ERROR(ParseLiteJson(data, &msg, {/*ignore_unknown_fields=*/true}));
  return msg;
}

// overlayfs's "volatile" (Linux 5.10+): the container's mount never syncs its upper layer, so
// the container's end does not sync the whole filesystem under the store (overlayfs does at
// unmount otherwise: a flush of the disk's cache per destroy). A container's writable layer
// does not outlive a machine crash, as its processes do not: overlayfs refuses to mount a
// volatile upper layer again after one, and gdn makes a new one for each container.
bool OverlayKnowsVolatile() {
  static const bool knows = [] {
    struct utsname u;
    int major = 0, minor = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
    return major > 5 || (major == 5 && minor >= 10);
  }();
  return knows;
}

// The runtime-spec fragment Garden's image plugin protocol returns (GARDEN_API.md 5.6):
// written directly rather than through the OCI spec's proto, whose descriptors alone cost a
// cached create a millisecond to build.
std::string SpecFragment(const ImageRecord& record, const std::string& rootfs,
                         const std::string& upper, const std::string& work, bool rootless) {
  const ImageConfig::Config& c = record.config().config();
  nlohmann::ordered_json process = nlohmann::ordered_json::object();
  if (c.env_size() > 0) process["env"] = std::vector<std::string>(c.env().begin(), c.env().end());
  std::vector<std::string> args(c.entrypoint().begin(), c.entrypoint().end());
  args.insert(args.end(), c.cmd().begin(), c.cmd().end());
  if (!args.empty()) process["args"] = args;
  if (!c.working_dir().empty()) process["cwd"] = c.working_dir();
  std::string options = absl::StrCat("lowerdir=", absl::StrJoin(record.lower_dirs(), ":"),
                                     ",upperdir=", upper, ",workdir=", work);
  if (rootless) absl::StrAppend(&options, ",userxattr");
  if (OverlayKnowsVolatile()) absl::StrAppend(&options, ",volatile");
  nlohmann::ordered_json spec = {
      {"root", {{"path", rootfs}}},
      {"mounts", {{{"destination", "/"}, {"type", "overlay"}, {"source", "overlay"},
                   {"options", {options}}}}},
  };
  if (!process.empty()) spec["process"] = process;
  return spec.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

// Disk blocks under a folder, as du counts them: a hard-linked file once.
int64_t g_du_total = 0;
std::set<std::pair<dev_t, ino_t>>* g_du_seen = nullptr;
int DuVisit(const char*, const struct stat* st, int, struct FTW*) {
  if (st->st_nlink > 1 && !S_ISDIR(st->st_mode) && !g_du_seen->insert({st->st_dev, st->st_ino}).second) {
    return 0;
  }
  g_du_total += static_cast<int64_t>(st->st_blocks) * 512;
  return 0;
}

int64_t BytesUnder(const std::string& path) {
  std::set<std::pair<dev_t, ino_t>> seen;
  g_du_seen = &seen;
  g_du_total = 0;
  nftw(path.c_str(), DuVisit, 64, FTW_PHYS);
  g_du_seen = nullptr;
  return g_du_total;
}

}  // namespace

Store::Store(std::string path, StoreConfig config, std::string idmap)
    : path_(std::move(path)), config_(std::move(config)), idmap_(FindIdmap(idmap)) {
  uid_map_ = ToIdMap(config_.uid_mappings());
  gid_map_ = ToIdMap(config_.gid_mappings());
}

absl::Status Store::InitStore(const std::string& path, const IdMap& uid_map, const IdMap& gid_map) {
  if (!uid_map.empty()) RETURN_IF_ERROR(uid_map.Validate());
  if (!gid_map.empty()) RETURN_IF_ERROR(gid_map.Validate());
  if (uid_map.empty() != gid_map.empty()) {
    return UsageError("give both --uid-mapping and --gid-mapping, or neither");
  }
  if (geteuid() != 0 && uid_map.empty()) {
    return UsageError("a rootless store needs --uid-mapping and --gid-mapping (0:YOUR_UID:1, ...)");
  }
  std::string record = absl::StrCat(path, "/store.json");
  if (FileExists(record)) return absl::AlreadyExistsError(absl::StrCat("a store exists at ", path));
  for (const char* dir : {"", "/layers", "/images", "/tmp", "/locks"}) {
    RETURN_IF_ERROR(MakeDirs(absl::StrCat(path, dir), 0755));
  }
  StoreConfig config;
  for (const gdn::IdMapping& m : uid_map.mappings()) {
    IdMapping* x = config.add_uid_mappings();
    x->set_container_id(m.container);
    x->set_host_id(m.host);
    x->set_size(m.count);
  }
  for (const gdn::IdMapping& m : gid_map.mappings()) {
    IdMapping* x = config.add_gid_mappings();
    x->set_container_id(m.container);
    x->set_host_id(m.host);
    x->set_size(m.count);
  }
  config.set_owner_uid(geteuid());
  config.set_rootless(geteuid() != 0);
  return WriteFileAtomic(record, LiteToJson(config), 0644);
}

absl::StatusOr<Store> Store::Open(const std::string& path, const std::string& idmap) {
  StoreConfig config;
  absl::Status s = ReadLiteJson(absl::StrCat(path, "/store.json"), &config);
  if (absl::IsNotFound(s)) {
    return absl::NotFoundError(absl::StrCat("no store at ", path, ": run init-store first"));
  }
  if (!s.ok()) return s;
  if (config.owner_uid() != geteuid()) {
    return absl::PermissionDeniedError(
        absl::StrCat("the store at ", path, " belongs to uid ", config.owner_uid()));
  }
  Store store(path, config, idmap);
  RETURN_IF_ERROR(store.RemoveLeftovers());
  return store;
}

absl::Status Store::RemoveTree(const std::string& path) {
  auto rm = [path]() -> absl::Status { return RemoveAll(path); };
  // Files owned by subordinate ids can only be removed from inside the user namespace;
  // a tree of the user's own files (a container that wrote nothing as another user) is
  // removed without entering one.
  if (shifted() && geteuid() != 0 && !rm().ok()) return RunInUserNamespace(uid_map_, gid_map_, idmap_, rm);
  return rm();
}

absl::Status Store::RemoveLeftovers() {
  std::string tmp = absl::StrCat(path_, "/tmp");
  DIR* d = opendir(tmp.c_str());
  if (d == nullptr) return absl::OkStatus();
  std::vector<std::string> leftovers;
  while (struct dirent* e = readdir(d)) {
    if (absl::StrContains(e->d_name, "-incomplete-")) leftovers.push_back(absl::StrCat(tmp, "/", e->d_name));
  }
  closedir(d);
  for (const std::string& l : leftovers) {
    // Only an unpack whose owner died: a live one holds its layer's lock.
    std::string name = l.substr(l.rfind('/') + 1);
    std::string hex = name.substr(0, name.find('-'));
    absl::StatusOr<UniqueFd> lock = gdn::Open(absl::StrCat(path_, "/locks/", hex, ".lock"), O_RDWR | O_CREAT, 0600);
    if (!lock.ok() || flock(lock->get(), LOCK_EX | LOCK_NB) != 0) continue;
    RETURN_IF_ERROR(RemoveTree(l));
  }
  return absl::OkStatus();
}

absl::Status Store::EnsureLayer(const LayerSource& source, const std::string& hex) {
  std::string final_dir = absl::StrCat(path_, "/layers/", hex);
  if (FileExists(final_dir)) return absl::OkStatus();
  ASSIGN_OR_RETURN(UniqueFd lock, Lock(absl::StrCat(path_, "/locks/", hex, ".lock"), LOCK_EX));
  if (FileExists(final_dir)) return absl::OkStatus();  // another create unpacked it meanwhile
  char suffix[] = "XXXXXX";
  std::string tmp = absl::StrCat(path_, "/tmp/", hex, "-incomplete-");
  std::string tmpl = tmp + suffix;
  if (mkdtemp(tmpl.data()) == nullptr) return ErrnoError(errno, "mkdtemp", tmpl);
  tmp = tmpl;
  chmod(tmp.c_str(), 0755);
  // A stream starts only now that this layer is really ours to unpack.
  int in_fd = -1;
  if (source.start) {
    absl::StatusOr<int> fd = source.start();
    if (!fd.ok()) {
      (void)RemoveTree(tmp);
      return fd.status();
    }
    in_fd = *fd;
  }
  bool chown_files = shifted() || geteuid() == 0;
  auto unpack = [&]() -> absl::Status {
    SubprocessOptions o;
    o.argv = {UnpackBinary(), "--xattr-prefix", config_.rootless() ? "user." : "trusted.", source.path, tmp};
    if (!chown_files) o.argv.insert(o.argv.begin() + 1, "--no-chown");
    if (!source.diff_id.empty()) o.argv.insert(o.argv.begin() + 1, {"--diff-id", source.diff_id});
    if (in_fd >= 0) {
      o.stdin_mode = Stdio::kFd;
      o.stdin_fd = in_fd;
    }
    // Killed with us: a half-done unpack must not go on writing after we are gone.
    o.kill_with_parent = true;
    absl::StatusOr<SubprocessResult> r = RunSubprocess(o);
    if (!r.ok()) return r.status();
    if (!r->ok()) {
      std::string why(absl::StripTrailingAsciiWhitespace(r->err));
      if (r->exited && r->exit_code == kExitInvalid) return absl::InvalidArgumentError(why);
      return absl::InternalError(absl::StrCat("image-unpack ", r->Describe(), ": ", why));
    }
    // What could not be made here (device nodes, privileged xattrs) is said, not hidden.
    if (!r->err.empty()) (void)WriteAll(STDERR_FILENO, r->err);
    // The folder itself belongs to the image's root.
    if (chown_files && chown(tmp.c_str(), 0, 0) != 0) return ErrnoError(errno, "chown", tmp);
    return absl::OkStatus();
  };
  absl::Status unpacked = shifted() ? RunInUserNamespace(uid_map_, gid_map_, idmap_, unpack, {in_fd})
                                    : unpack();
  // The stream's verdict (its digest) decides as much as the unpack's.
  if (source.finish) unpacked = source.finish(unpacked);
  if (!unpacked.ok()) {
    (void)RemoveTree(tmp);
    return unpacked;
  }
  if (rename(tmp.c_str(), final_dir.c_str()) != 0) {
    absl::Status s = ErrnoError(errno, "rename", final_dir);
    (void)RemoveTree(tmp);
    return s;
  }
  return absl::OkStatus();
}

std::vector<std::string> Store::FetchArgs() const {
  std::vector<std::string> args = {FetchBinary(), "--default-registry", pull_.default_registry};
  for (const std::string& h : pull_.insecure_registries) {
    args.push_back("--insecure-registry");
    args.push_back(h);
  }
  if (!pull_.credentials_file.empty()) {
    args.push_back("--credentials");
    args.push_back(pull_.credentials_file);
  }
  if (!pull_.username.empty()) {
    args.push_back("--username");
    args.push_back(pull_.username);
  }
  return args;
}

// image-fetch's failure as a status: its exit code says which, its stderr why.
static absl::Status FetchFailure(const SubprocessResult& r) {
  std::string why(absl::StripTrailingAsciiWhitespace(r.err));
  // Its last line is its sentence (progress lines may come before it).
  if (size_t nl = why.rfind('\n'); nl != std::string::npos) why = why.substr(nl + 1);
  why = std::string(absl::StripPrefix(why, "image-fetch: "));
  if (why.empty()) why = absl::StrCat("image-fetch ", r.Describe());
  if (!r.exited) return absl::InternalError(why);
  switch (r.exit_code) {
    case kExitNotFound: return absl::NotFoundError(why);
    case kExitNotPermitted: return absl::PermissionDeniedError(why);
    case kExitInvalid: return absl::InvalidArgumentError(why);
    case kExitUsage: return UsageError(why);
    default: return absl::InternalError(why);
  }
}

absl::StatusOr<ImageRecord> Store::PrepareRegistry(const std::string& uri, ImageRecord record) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  if (!pull_.password.empty()) env.push_back("IMAGE_FETCH_PASSWORD=" + pull_.password);
  SubprocessOptions resolve;
  resolve.argv = FetchArgs();
  resolve.argv.insert(resolve.argv.end(), {"resolve", uri});
  resolve.env = env;
  resolve.kill_with_parent = true;
  ASSIGN_OR_RETURN(SubprocessResult resolved, RunSubprocess(resolve));
  if (!resolved.ok()) return FetchFailure(resolved);
  nlohmann::json doc = nlohmann::json::parse(resolved.out, nullptr, false);
  if (!doc.is_object() || !doc.contains("manifest") || !doc.contains("config")) {
    return absl::InternalError("image-fetch resolve printed something other than an image");
  }
  Manifest manifest;
  ImageConfig config;
  RETURN_IF_ERROR(ParseLiteJson(doc["manifest"].dump(), &manifest, {/*ignore_unknown_fields=*/true}));
  RETURN_IF_ERROR(ParseLiteJson(doc["config"].dump(), &config, {/*ignore_unknown_fields=*/true}));
  std::vector<std::string> diff_ids(config.rootfs().diff_ids().begin(), config.rootfs().diff_ids().end());
  if (diff_ids.size() != static_cast<size_t>(manifest.layers_size())) {
    return absl::InvalidArgumentError(absl::StrCat("the config of ", uri, " does not match its manifest's layers"));
  }
  std::vector<std::string> chains = ChainIds(diff_ids);
  std::vector<std::string> hexes;
  std::vector<int> missing;
  for (int i = 0; i < manifest.layers_size(); ++i) {
    ASSIGN_OR_RETURN(std::string hex, DigestHex(chains[i]));
    RETURN_IF_ERROR(DigestHex(manifest.layers(i).digest()).status());
    hexes.push_back(hex);
    if (!FileExists(absl::StrCat(path_, "/layers/", hex))) missing.push_back(i);
  }
  // Missing layers stream from the registry into image-unpack, a few at a time.
  std::mutex mu;
  absl::Status first_error;
  size_t next = 0;
  auto worker = [&]() {
    for (;;) {
      int i;
      {
        std::lock_guard<std::mutex> l(mu);
        if (next >= missing.size() || !first_error.ok()) return;
        i = missing[next++];
      }
      const Descriptor& layer = manifest.layers(i);
      UniqueFd read_end, write_end;
      std::thread fetcher;
      absl::StatusOr<SubprocessResult> fetched = absl::UnknownError("not started");
      LayerSource source;
      source.path = "-";
      source.diff_id = diff_ids[i];
      source.start = [&]() -> absl::StatusOr<int> {
        ASSIGN_OR_RETURN(Pipe p, MakePipe());
        read_end = std::move(p.read);
        write_end = std::move(p.write);
        SubprocessOptions o;
        o.argv = FetchArgs();
        o.argv.insert(o.argv.end(), {"blob", uri, layer.digest(), "--size", absl::StrCat(layer.size()),
                                     "--progress", pull_.progress});
        o.env = env;
        o.stdout_mode = Stdio::kFd;
        o.stdout_fd = write_end.get();
        if (pull_.progress != "none") o.stderr_mode = Stdio::kInherit;
        o.kill_with_parent = true;  // this thread waits for it, so it outlives the child
        fetcher = std::thread([&, o]() {
          fetched = RunSubprocess(o);
          write_end.Reset();  // the unpacker sees the end of the stream
        });
        return read_end.get();
      };
      source.finish = [&](const absl::Status& unpacked) -> absl::Status {
        read_end.Reset();  // a fetch still writing (the unpack failed) gets EPIPE and stops
        fetcher.join();
        if (!fetched.ok()) return fetched.status();
        if (fetched->ok()) return unpacked;
        // A fetch that failed only because the unpack stopped reading: the unpack's reason.
        if (!unpacked.ok() && absl::StrContains(fetched->err, "went away")) return unpacked;
        return FetchFailure(*fetched);
      };
      absl::Status s = EnsureLayer(source, hexes[i]);
      if (fetcher.joinable()) fetcher.join();
      if (!s.ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (first_error.ok()) first_error = s;
      }
    }
  };
  std::vector<std::thread> workers;
  size_t n = std::min<size_t>(missing.size(), static_cast<size_t>(std::max(1, pull_.parallel_layers)));
  for (size_t w = 0; w < n; ++w) workers.emplace_back(worker);
  for (std::thread& t : workers) t.join();
  RETURN_IF_ERROR(first_error);
  for (const std::string& hex : hexes) record.add_layer_ids(hex);
  for (int i = record.layer_ids_size() - 1; i >= 0; --i) {
    record.add_lower_dirs(absl::StrCat(path_, "/layers/", record.layer_ids(i)));
  }
  *record.mutable_config() = config;
  return record;
}

absl::StatusOr<ImageRecord> Store::Prepare(const std::string& uri) {
  ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference(uri));
  ImageRecord record;
  record.set_uri(uri);
  if (ref.kind == SourceKind::kFolder) {
    struct stat st;
    if (stat(ref.path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::NotFoundError(absl::StrCat("no folder ", ref.path));
    }
    record.add_lower_dirs(ref.path);
    return record;
  }
  if (ref.kind == SourceKind::kDockerArchive) return PrepareDockerArchive(ref, std::move(record));
  if (ref.kind == SourceKind::kRegistry) return PrepareRegistry(uri, std::move(record));
  if (ref.kind != SourceKind::kOciLayout) {
    return absl::UnimplementedError(absl::StrCat("image source of \"", uri, "\" is not supported yet"));
  }
  Index index;
  absl::Status read = ReadLiteJson(absl::StrCat(ref.path, "/index.json"), &index, {true});
  if (absl::IsNotFound(read)) return absl::NotFoundError(absl::StrCat("no OCI layout at ", ref.path));
  RETURN_IF_ERROR(read);
  const Descriptor* chosen = nullptr;
  for (const Descriptor& d : index.manifests()) {
    auto name = d.annotations().find(kRefName);
    bool named = name != d.annotations().end();
    if ((ref.tag.empty() && index.manifests_size() == 1) || (named && name->second == ref.tag)) {
      chosen = &d;
    }
  }
  if (chosen == nullptr) {
    return absl::NotFoundError(absl::StrCat("no image tagged \"", ref.tag, "\" in ", ref.path));
  }
  ASSIGN_OR_RETURN(Manifest manifest, ReadBlobJson<Manifest>(ref.path, *chosen));
  ASSIGN_OR_RETURN(ImageConfig config, ReadBlobJson<ImageConfig>(ref.path, manifest.config()));
  std::vector<std::string> blobs, digests;
  for (const Descriptor& layer : manifest.layers()) {
    ASSIGN_OR_RETURN(std::string blob_hex, DigestHex(layer.digest()));
    blobs.push_back(absl::StrCat(ref.path, "/blobs/sha256/", blob_hex));
    digests.push_back(layer.digest());
  }
  RETURN_IF_ERROR(AddLayers(config, blobs, digests, &record));
  return record;
}

absl::Status Store::AddLayers(const ImageConfig& config, const std::vector<std::string>& blobs,
                              const std::vector<std::string>& digests, ImageRecord* record) {
  std::vector<std::string> diff_ids(config.rootfs().diff_ids().begin(), config.rootfs().diff_ids().end());
  if (diff_ids.size() != blobs.size()) {
    return absl::InvalidArgumentError("the image config's diff_ids do not match its layers");
  }
  std::vector<std::string> chains = ChainIds(diff_ids);
  for (size_t i = 0; i < blobs.size(); ++i) {
    ASSIGN_OR_RETURN(std::string chain_hex, DigestHex(chains[i]));
    std::string final_dir = absl::StrCat(path_, "/layers/", chain_hex);
    if (!FileExists(final_dir)) {
      ASSIGN_OR_RETURN(std::string actual, Sha256File(blobs[i]));
      if (actual != digests[i]) {
        return absl::InvalidArgumentError(absl::StrCat("layer ", digests[i], " does not match its digest"));
      }
      RETURN_IF_ERROR(EnsureLayer(LayerSource{blobs[i], diff_ids[i], nullptr, nullptr}, chain_hex));
    }
    record->add_layer_ids(chain_hex);
  }
  for (int i = record->layer_ids_size() - 1; i >= 0; --i) {
    record->add_lower_dirs(absl::StrCat(path_, "/layers/", record->layer_ids(i)));
  }
  *record->mutable_config() = config;
  return absl::OkStatus();
}

absl::StatusOr<ImageRecord> Store::PrepareDockerArchive(const ImageReference& ref, ImageRecord record) {
  if (!FileExists(ref.path)) return absl::NotFoundError(absl::StrCat("no docker archive ", ref.path));
  // The archive is unpacked with the same care as a layer, into a private folder.
  std::string tmpl = absl::StrCat(path_, "/tmp/archive-incomplete-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) return ErrnoError(errno, "mkdtemp", tmpl);
  std::string dir = tmpl;
  absl::Cleanup remove = [this, &dir] { (void)RemoveTree(dir); };
  SubprocessOptions o;
  o.argv = {UnpackBinary(), "--no-chown", ref.path, dir};
  ASSIGN_OR_RETURN(SubprocessResult r, RunSubprocess(o));
  if (!r.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read the docker archive ", ref.path, ": ",
                                                   absl::StripTrailingAsciiWhitespace(r.err)));
  }
  ASSIGN_OR_RETURN(std::string listing, ReadFile(dir + "/manifest.json"));
  DockerArchiveManifest manifest;
  RETURN_IF_ERROR(ParseLiteJson(absl::StrCat("{\"entries\":", listing, "}"), &manifest, {true}));
  const DockerArchiveEntry* chosen = nullptr;
  for (const DockerArchiveEntry& e : manifest.entries()) {
    bool tagged = false;
    for (const std::string& t : e.repo_tags()) {
      tagged = tagged || (!ref.tag.empty() && t.size() > ref.tag.size() &&
                          t.compare(t.size() - ref.tag.size() - 1, std::string::npos, ":" + ref.tag) == 0);
    }
    if (tagged || manifest.entries_size() == 1) chosen = &e;
  }
  if (chosen == nullptr) return absl::NotFoundError(absl::StrCat("no such image in ", ref.path));
  // Member names come from the archive: inside the folder only.
  auto member = [&dir](const std::string& name) -> absl::StatusOr<std::string> {
    if (name.empty() || name[0] == '/' || absl::StrContains(name, "..")) {
      return absl::InvalidArgumentError(absl::StrCat("docker archive member \"", name, "\" is not a plain name"));
    }
    return absl::StrCat(dir, "/", name);
  };
  ASSIGN_OR_RETURN(std::string config_path, member(chosen->config()));
  ImageConfig config;
  RETURN_IF_ERROR(ReadLiteJson(config_path, &config, {true}));
  std::vector<std::string> blobs;
  for (const std::string& layer : chosen->layers()) {
    ASSIGN_OR_RETURN(std::string blob, member(layer));
    blobs.push_back(blob);
  }
  // docker save keeps layers uncompressed: each one's digest is its diff_id.
  std::vector<std::string> digests(config.rootfs().diff_ids().begin(), config.rootfs().diff_ids().end());
  RETURN_IF_ERROR(AddLayers(config, blobs, digests, &record));
  return record;
}

absl::Status Store::LimitDisk(const CreateOptions& options, const std::string& upper,
                              ImageRecord* record) {
  DiskLimit* limit = record->mutable_disk_limit();
  limit->set_limit_bytes(options.disk_limit_bytes);
  limit->set_exclude_image_from_quota(options.exclude_image_from_quota);
  int64_t allowed = options.disk_limit_bytes;
  if (!options.exclude_image_from_quota) {
    int64_t image = 0;
    for (const std::string& lower : record->lower_dirs()) image += BytesUnder(lower);
    limit->set_image_bytes(image);
    if (image >= allowed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the disk limit of ", allowed, " bytes is not more than the image's ", image,
          " bytes (give a larger limit, or --exclude-image-from-quota)"));
    }
    allowed -= image;
  }
  QuotaSupport fs = ProbeProjectQuota(upper);
  if (!fs.available) {
    limit->set_not_enforced_because(fs.why_not);
    return absl::OkStatus();
  }
  // Project ids: one counter for the store, under its lock.
  ASSIGN_OR_RETURN(UniqueFd lock, Lock(absl::StrCat(path_, "/locks/projects.lock"), LOCK_EX));
  std::string counter = absl::StrCat(path_, "/projects");
  uint32_t id = 1000;
  if (absl::StatusOr<std::string> last = ReadFile(counter); last.ok()) {
    uint32_t n;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(*last), &n)) id = n + 1;
  }
  RETURN_IF_ERROR(WriteFileAtomic(counter, absl::StrCat(id, "\n"), 0644));
  RETURN_IF_ERROR(SetProjectQuota(fs, upper, id, allowed));
  limit->set_enforced(true);
  limit->set_project_id(id);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Store::Create(const std::string& uri, const std::string& handle,
                                          const CreateOptions& options) {
  RETURN_IF_ERROR(CheckHandle(handle));
  if (options.disk_limit_bytes < 0) {
    return UsageError("--disk-limit-size-bytes must be 0 (none) or more");
  }
  std::string dir = absl::StrCat(path_, "/images/", handle);
  if (FileExists(dir)) return absl::AlreadyExistsError(absl::StrCat("image \"", handle, "\" exists"));
  // Shared: clean waits until this image's record names the layers it uses.
  ASSIGN_OR_RETURN(UniqueFd gc, Lock(absl::StrCat(path_, "/locks/gc.lock"), LOCK_SH));
  ASSIGN_OR_RETURN(ImageRecord record, Prepare(uri));
  record.set_handle(handle);
  if (mkdir(dir.c_str(), 0755) != 0) {
    if (errno == EEXIST) return absl::AlreadyExistsError(absl::StrCat("image \"", handle, "\" exists"));
    return ErrnoError(errno, "mkdir", dir);
  }
  absl::Cleanup undo = [this, &dir] { (void)RemoveTree(dir); };
  std::string upper = dir + "/diff", work = dir + "/workdir", rootfs = dir + "/rootfs";
  for (const std::string& d : {upper, work, rootfs}) {
    if (mkdir(d.c_str(), 0755) != 0) return ErrnoError(errno, "mkdir", d);
  }
  if (shifted()) {
    // The container's root owns its upper layer. Usually that is us (a rootless store maps
    // 0 to the user) and there is nothing to do; root chowns directly; anyone else does it
    // from inside the user namespace, which costs a process and two idmap runs.
    std::optional<uint32_t> root_uid = uid_map_.ToHost(0), root_gid = gid_map_.ToHost(0);
    bool ours = root_uid == geteuid() && root_gid == getegid();
    if (!ours && geteuid() == 0 && root_uid && root_gid) {
      for (const std::string& d : {upper, work, rootfs}) {
        if (chown(d.c_str(), *root_uid, *root_gid) != 0) return ErrnoError(errno, "chown", d);
      }
    } else if (!ours) {
      RETURN_IF_ERROR(RunInUserNamespace(uid_map_, gid_map_, idmap_, [&]() -> absl::Status {
        for (const std::string& d : {upper, work, rootfs}) {
          if (chown(d.c_str(), 0, 0) != 0) return ErrnoError(errno, "chown", d);
        }
        return absl::OkStatus();
      }));
    }
  }
  if (options.disk_limit_bytes > 0) RETURN_IF_ERROR(LimitDisk(options, upper, &record));
  // Not synced: like the volatile layer beside it, it outlives the process that writes it, not
  // a machine crash (after which clean finds the folder without its record).
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/image.json", LiteToJson(record), 0644, Durability::kProcessCrash));

  std::move(undo).Cancel();
  return SpecFragment(record, rootfs, upper, work, config_.rootless());
}

absl::Status Store::Delete(const std::string& handle) {
  RETURN_IF_ERROR(CheckHandle(handle));
  std::string dir = absl::StrCat(path_, "/images/", handle);
  if (!FileExists(dir)) return absl::OkStatus();
  return RemoveTree(dir);
}

absl::StatusOr<std::string> Store::StatsJson(const std::string& handle) {
  RETURN_IF_ERROR(CheckHandle(handle));
  std::string dir = absl::StrCat(path_, "/images/", handle);
  ImageRecord record;
  absl::Status s = ReadLiteJson(dir + "/image.json", &record);
  if (absl::IsNotFound(s)) return absl::NotFoundError(absl::StrCat("no image \"", handle, "\""));
  RETURN_IF_ERROR(s);
  int64_t exclusive = -1;
  if (record.disk_limit().enforced()) {
    // The quota counts the upper layer's blocks already, and cheaply.
    absl::StatusOr<int64_t> used = ProjectBytesUsed(ProbeProjectQuota(dir + "/diff"),
                                                    record.disk_limit().project_id());
    if (used.ok()) exclusive = *used;
  }
  if (exclusive < 0) exclusive = BytesUnder(dir + "/diff");
  int64_t total = exclusive;
  for (const std::string& lower : record.lower_dirs()) total += BytesUnder(lower);
  Stats stats;
  if (record.has_disk_limit()) *stats.mutable_disk_limit() = record.disk_limit();
  stats.mutable_disk_usage()->set_total_bytes_used(total);
  stats.mutable_disk_usage()->set_exclusive_bytes_used(exclusive);
  GoJsonWriteOptions print;
  print.emit_zero_values = true;
  return LiteToGoJson(stats, print) + "\n";
}

absl::StatusOr<std::vector<std::string>> Store::List() {
  std::vector<std::string> out;
  std::string images = absl::StrCat(path_, "/images");
  DIR* d = opendir(images.c_str());
  if (d == nullptr) return ErrnoError(errno, "open", images);
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') out.push_back(e->d_name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status Store::Clean() {
  ASSIGN_OR_RETURN(UniqueFd gc, Lock(absl::StrCat(path_, "/locks/gc.lock"), LOCK_EX));
  std::set<std::string> used;
  ASSIGN_OR_RETURN(std::vector<std::string> handles, List());
  for (const std::string& h : handles) {
    ImageRecord r;
    // Creates hold gc.lock shared until their record is written, and we hold it exclusive:
    // a folder without a record is what a killed create left, and uses no layer.
    if (ReadLiteJson(absl::StrCat(path_, "/images/", h, "/image.json"), &r).ok()) {
      for (const std::string& id : r.layer_ids()) used.insert(id);
    }
  }
  std::string layers = absl::StrCat(path_, "/layers");
  DIR* d = opendir(layers.c_str());
  if (d == nullptr) return ErrnoError(errno, "open", layers);
  std::vector<std::string> unused;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.' && used.count(e->d_name) == 0) unused.push_back(e->d_name);
  }
  closedir(d);
  for (const std::string& id : unused) {
    // Out of the way first (atomic), then removed: no image can pick up a half-removed layer.
    std::string doomed = absl::StrCat(path_, "/tmp/", id, "-incomplete-clean");
    if (rename(absl::StrCat(layers, "/", id).c_str(), doomed.c_str()) != 0) continue;
    RETURN_IF_ERROR(RemoveTree(doomed));
  }
  return absl::OkStatus();
}

absl::Status Store::Pull(const std::string& uri) {
  ASSIGN_OR_RETURN(UniqueFd gc, Lock(absl::StrCat(path_, "/locks/gc.lock"), LOCK_SH));
  return Prepare(uri).status();
}

}  // namespace gdn::image
