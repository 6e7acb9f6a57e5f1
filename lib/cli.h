// A small command-line parser for binaries with subcommands (`spawn create --bundle B ID`),
// where gflags' one global flag set does not fit. It reads the forms runc's and crun's
// callers use: --name value, --name=value, -name value, -n value, boolean --name or
// --name=true|false, and "--" to end the flags. Unknown flags are usage errors.
#ifndef GDN_LIB_CLI_H_
#define GDN_LIB_CLI_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gdn {

struct FlagSpec {
  std::string name;        // long name, without dashes
  char short_name = 0;     // one-letter alias, or 0
  bool takes_value = true; // false: a boolean switch
};

class ParsedFlags {
 public:
  bool Has(absl::string_view name) const { return values_.count(std::string(name)) > 0; }
  // The last value given, or `fallback`.
  std::string Get(absl::string_view name, absl::string_view fallback = "") const;
  // Every value given, in order.
  std::vector<std::string> All(absl::string_view name) const;
  // A switch: true when given bare or as =true/=1.
  bool Bool(absl::string_view name) const;

  // Arguments that are not flags, in order (everything after "--" or, with
  // stop_at_positional, after the first of them).
  std::vector<std::string> positional;

 private:
  friend absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>&,
                                               const std::vector<FlagSpec>&, bool);
  std::map<std::string, std::vector<std::string>> values_;
};

// Parses `args`. With stop_at_positional, the first non-flag argument and everything after
// it are positional (so `exec ID sh -c x` leaves "-c" alone).
absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                                       const std::vector<FlagSpec>& specs,
                                       bool stop_at_positional);

}  // namespace gdn

#endif  // GDN_LIB_CLI_H_
