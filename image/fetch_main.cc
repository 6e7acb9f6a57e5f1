// image-fetch: one step of a registry pull, on its own so that it can be run and debugged by
// hand and so that only it links libcurl (image-store, started on every container create,
// stays small). image-store runs it as `image-fetch resolve` and then, per layer,
// `image-fetch blob ... | image-unpack - DEST`.
//
//   image-fetch [--insecure-registry HOST]... [--default-registry HOST] [--credentials FILE]
//               [--username U] [--password P] [--platform OS/ARCH] COMMAND
//     resolve docker://REF        prints {"registry","repository","digest","media_type",
//                                 "manifest":{...},"config":{...}}, both verified
//     blob docker://REF DIGEST [--size N] [--progress none|tty|json]
//                                 writes the blob to stdout as it arrives; exit 7 (after
//                                 the last byte) when it does not match DIGEST
//
// The password may come from $IMAGE_FETCH_PASSWORD instead of the command line, which other
// users can read in /proc. Exit codes: 0, 1 registry unreachable, 2 usage, 3 not found,
// 5 credentials missing or refused, 7 digest mismatch or malformed document.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "image/reference.h"
#include "image/registry.h"
#include "lib/cli.h"
#include "lib/fd.h"
#include "lib/main.h"
#include "lib/status.h"

namespace gdn::image {
namespace {

// Unreachable registries and a reader that went away are failures (exit 1), not "busy".
absl::Status AsFetchStatus(absl::Status s) {
  if (absl::IsUnavailable(s) || absl::IsAborted(s)) return absl::InternalError(s.message());
  return s;
}

std::string HumanBytes(int64_t n) {
  if (n >= 1000000) return absl::StrFormat("%.1f MB", n / 1e6);
  if (n >= 1000) return absl::StrFormat("%.1f kB", n / 1e3);
  return absl::StrCat(n, " B");
}

absl::Status Main(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(ParsedFlags global,
                   ParseFlags(args, {{"insecure-registry"}, {"default-registry"}, {"credentials"},
                                     {"username"}, {"password"}, {"platform"}},
                              true));
  if (global.positional.size() < 2) {
    return UsageError("usage: image-fetch [flags] resolve docker://REF | blob docker://REF DIGEST [--size N]");
  }
  std::string cmd = global.positional[0];
  std::vector<std::string> rest(global.positional.begin() + 2, global.positional.end());
  ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference(global.positional[1]));
  if (ref.kind != SourceKind::kRegistry) {
    return UsageError(absl::StrCat("\"", global.positional[1], "\" is not a docker:// reference"));
  }
  RegistryOptions options;
  options.insecure_registries = global.All("insecure-registry");
  options.credentials_file = global.Get("credentials");
  options.username = global.Get("username");
  options.password = global.Get("password");
  if (options.password.empty() && getenv("IMAGE_FETCH_PASSWORD") != nullptr) {
    options.password = getenv("IMAGE_FETCH_PASSWORD");
  }
  if (std::string platform = global.Get("platform"); !platform.empty()) {
    size_t slash = platform.find('/');
    if (slash == std::string::npos) return UsageError("--platform takes OS/ARCH, such as linux/arm64");
    options.os = platform.substr(0, slash);
    options.architecture = platform.substr(slash + 1);
  }
  RegistryEndpoint at = ResolveRegistry(ref, global.Get("default-registry", "docker.io"));
  RegistryClient client(at.host, at.repository, options);

  if (cmd == "resolve") {
    if (!rest.empty()) return UsageError("resolve takes one reference");
    absl::StatusOr<ResolvedImage> image = client.Resolve(ref.digest.empty() ? ref.tag : ref.digest);
    if (!image.ok()) return AsFetchStatus(image.status());
    // Both documents are JSON objects, checked by their digests: embedded as they came.
    std::string out = absl::StrCat("{\"registry\":\"", at.host, "\",\"repository\":\"", at.repository,
                                   "\",\"digest\":\"", image->digest, "\",\"media_type\":\"",
                                   image->media_type, "\",\"manifest\":", image->manifest,
                                   ",\"config\":", image->config, "}\n");
    return WriteAll(STDOUT_FILENO, out);
  }
  if (cmd == "blob") {
    ASSIGN_OR_RETURN(ParsedFlags f, ParseFlags(rest, {{"size"}, {"progress"}}, false));
    if (f.positional.size() != 1) return UsageError("blob takes a reference and a digest");
    int64_t size = -1;
    if (f.Has("size") && (!absl::SimpleAtoi(f.Get("size"), &size) || size < 0)) {
      return UsageError("--size takes a number of bytes");
    }
    std::string mode = f.Get("progress", "none");
    if (mode != "none" && mode != "tty" && mode != "json") return UsageError("--progress is none, tty or json");
    std::string digest = f.positional[0];
    std::string short_id = digest.substr(0, std::min<size_t>(digest.size(), 19));
    auto progress = [&](const Progress& p) {
      double rate = p.seconds > 0 ? p.done / p.seconds : 0;
      std::string line;
      if (mode == "json") {
        line = absl::StrCat("{\"blob\":\"", digest, "\",\"bytes\":", p.done, ",\"total\":", p.total,
                            ",\"bytes_per_second\":", static_cast<int64_t>(rate), "}\n");
      } else if (mode == "tty") {
        line = absl::StrCat(short_id, ": ", HumanBytes(p.done), p.total >= 0 ? " of " + HumanBytes(p.total) : "",
                            " (", HumanBytes(static_cast<int64_t>(rate)), "/s)\n");
      }
      if (!line.empty()) (void)WriteAll(STDERR_FILENO, line);
    };
    // A reader that goes away is an error to report, not a signal to die of.
    signal(SIGPIPE, SIG_IGN);
    return AsFetchStatus(client.FetchBlob(digest, size, STDOUT_FILENO, progress));
  }
  return UsageError(absl::StrCat("unknown command \"", cmd, "\": resolve or blob"));
}

}  // namespace
}  // namespace gdn::image

int main(int argc, char** argv) { return gdn::RunCommandMain(argc, argv, gdn::image::Main); }
