// Checks of the plain names that come from users and images: container ids, image handles,
// tags, sha256 digests. Hand-written rather than regular expressions: a counted repetition
// such as {0,254} costs RE2 a large program to compile, and these run on every command.
#ifndef GDN_LIB_NAMES_H_
#define GDN_LIB_NAMES_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace gdn {

// 1 to max_len of A-Z a-z 0-9 _ . -, not starting with . or - (runc's container ids,
// Docker's tags, Garden's handles).
bool IsPlainName(absl::string_view s, size_t max_len);

// Exactly `n` of 0-9 a-f.
bool IsLowerHex(absl::string_view s, size_t n);

}  // namespace gdn

#endif  // GDN_LIB_NAMES_H_
