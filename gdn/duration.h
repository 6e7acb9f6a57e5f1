// Go's time.ParseDuration, for what operators and gaol write: "0", "30s", "5m", "1h30m",
// "250ms" (--default-grace-time, gaol -g).
#ifndef GDN_GDN_DURATION_H_
#define GDN_GDN_DURATION_H_

#include <cstdint>
#include <string>

namespace gdn::server {

bool ParseDuration(const std::string& s, int64_t* ns);

}  // namespace gdn::server

#endif  // GDN_GDN_DURATION_H_
