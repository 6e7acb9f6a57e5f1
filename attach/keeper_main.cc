// attach-keeper: the keeper process (see keeper_core.h). `attach run` execs it; it is not
// meant to be run by hand.
//   attach-keeper --dir D --listen-fd N --report-fd N [--tty --rows R --cols C] [--stdin]
//                 [--buffer BYTES] -- CMD ARGS...
// The keeper goes on in a child of its own and the process its starter made ends at once, so
// that no starter collects keepers as its children.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "attach/keeper_core.h"

int main(int argc, char** argv) {
  gdn::attach::KeeperOptions o;
  int i = 1;
  for (; i < argc; ++i) {
    const char* a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (strcmp(a, "--") == 0) {
      ++i;
      break;
    } else if (strcmp(a, "--dir") == 0) {
      o.dir = value();
    } else if (strcmp(a, "--listen-fd") == 0) {
      o.listen_fd = atoi(value());
    } else if (strcmp(a, "--report-fd") == 0) {
      o.report_fd = atoi(value());
    } else if (strcmp(a, "--tty") == 0) {
      o.tty = true;
    } else if (strcmp(a, "--rows") == 0) {
      o.rows = static_cast<unsigned>(atoi(value()));
    } else if (strcmp(a, "--cols") == 0) {
      o.cols = static_cast<unsigned>(atoi(value()));
    } else if (strcmp(a, "--console-fd") == 0) {
      o.console_fd = atoi(value());
    } else if (strcmp(a, "--stdin") == 0) {
      o.stdin = true;
    } else if (strcmp(a, "--buffer") == 0) {
      o.buffer_limit = strtoull(value(), nullptr, 10);
    } else {
      fprintf(stderr, "attach-keeper: unknown argument %s\n", a);
      return 2;
    }
  }
  for (; i < argc; ++i) o.argv.emplace_back(argv[i]);
  if (o.dir.empty() || o.listen_fd < 0 || o.report_fd < 0 || o.argv.empty()) {
    fprintf(stderr, "attach-keeper: run by `attach run`, not by hand\n");
    return 2;
  }
  pid_t keeper = fork();
  if (keeper < 0) {
    perror("attach-keeper: fork");
    return 1;  // the report pipe closes unanswered: the starter says so
  }
  if (keeper > 0) _exit(0);
  return gdn::attach::RunKeeper(o);
}
