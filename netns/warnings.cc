#include "netns/warnings.h"

#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace gdn::netns {
namespace {

std::mutex& Mu() {
  static std::mutex* mu = new std::mutex();
  return *mu;
}

std::vector<std::string>& Kept() {
  static std::vector<std::string>* kept = new std::vector<std::string>();
  return *kept;
}

}  // namespace

void Warn(std::string message) {
  std::lock_guard<std::mutex> lock(Mu());
  Kept().push_back(std::move(message));
}

std::vector<std::string> TakeWarnings() {
  std::lock_guard<std::mutex> lock(Mu());
  return std::exchange(Kept(), {});
}

}  // namespace gdn::netns
