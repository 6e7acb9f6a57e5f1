// Garden's routes (GARDEN_API.md 1.3) over a Backend.
#ifndef GDN_GDN_SERVER_H_
#define GDN_GDN_SERVER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "gdn/backend.h"
#include "gdn/duration.h"
#include "gdn/http.h"

namespace gdn::server {

std::vector<Route> Routes(Backend* backend);

}  // namespace gdn::server

#endif  // GDN_GDN_SERVER_H_
