// Warnings of netns, held back until no lock is held. A caller may give netns a stderr that
// it never reads: a write to a full pipe would block while netns holds the state file's lock
// or the iptables lock, and so hold up every other user's runs. Nothing is written to stderr
// during an action; Main writes what was kept once the action returned and every lock is
// released.
#ifndef GDN_NETNS_WARNINGS_H_
#define GDN_NETNS_WARNINGS_H_

#include <string>
#include <vector>

namespace gdn::netns {

// Keeps `message` (one sentence, no newline) for later.
void Warn(std::string message);

// The warnings kept so far, oldest first; forgets them.
std::vector<std::string> TakeWarnings();

}  // namespace gdn::netns

#endif  // GDN_NETNS_WARNINGS_H_
