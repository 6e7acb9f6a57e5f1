// probe: a small static program that containers under test run as their process. Each
// subcommand prints one fact about the process as it sees itself, in lines a test parses.
//
//   probe ids            uid R E S / gid R E S / groups G... (as getresuid/getresgid see them)
//   probe fds            one open descriptor number per line (the listing's own is left out)
//   probe caps           the Cap* lines of /proc/self/status
//   probe mountinfo      /proc/self/mountinfo as it is
//   probe stat PATH      type=file|dir|link|chr|blk|fifo|sock mode=0755 uid=N gid=N size=N
//   probe hostname       the UTS hostname
//   probe env            the environment, one VAR=value per line
//   probe cwd            the working folder
//   probe rlimit NAME    soft and hard limit of RLIMIT_NAME (nofile, nproc, core, ...)
//   probe write PATH TEXT  creates PATH holding TEXT
//   probe exit N         exits with code N
//   probe sleep SECONDS  sleeps, then exits 0
// Plain libc and nothing else, so it links statically and runs in any root filesystem.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

extern char** environ;

namespace {

int Usage() {
  fprintf(stderr, "usage: probe ids|fds|caps|mountinfo|stat PATH|hostname|env|cwd|"
                  "rlimit NAME|write PATH TEXT|exit N|sleep SECONDS\n");
  return 2;
}

int Ids() {
  uid_t r, e, s;
  gid_t gr, ge, gs;
  if (getresuid(&r, &e, &s) != 0 || getresgid(&gr, &ge, &gs) != 0) return 1;
  printf("uid %u %u %u\ngid %u %u %u\ngroups", r, e, s, gr, ge, gs);
  gid_t groups[256];
  int n = getgroups(256, groups);
  for (int i = 0; i < n; ++i) printf(" %u", groups[i]);
  printf("\n");
  return 0;
}

int Fds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) {
    perror("probe: /proc/self/fd");
    return 1;
  }
  int own = dirfd(d);
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd != own) printf("%d\n", fd);
  }
  closedir(d);
  return 0;
}

int Cat(const char* path, const char* prefix) {
  FILE* f = fopen(path, "re");
  if (f == nullptr) {
    perror(path);
    return 1;
  }
  char line[4096];
  while (fgets(line, sizeof line, f) != nullptr) {
    if (prefix == nullptr || strncmp(line, prefix, strlen(prefix)) == 0) fputs(line, stdout);
  }
  fclose(f);
  return 0;
}

int Stat(const char* path) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    perror(path);
    return 1;
  }
  const char* type = S_ISREG(st.st_mode)    ? "file"
                     : S_ISDIR(st.st_mode)  ? "dir"
                     : S_ISLNK(st.st_mode)  ? "link"
                     : S_ISCHR(st.st_mode)  ? "chr"
                     : S_ISBLK(st.st_mode)  ? "blk"
                     : S_ISFIFO(st.st_mode) ? "fifo"
                                            : "sock";
  printf("type=%s mode=%04o uid=%u gid=%u size=%lld\n", type, st.st_mode & 07777, st.st_uid,
         st.st_gid, static_cast<long long>(st.st_size));
  return 0;
}

int Rlimit(const char* name) {
  static const struct {
    const char* name;
    int resource;
  } kLimits[] = {{"as", RLIMIT_AS},           {"core", RLIMIT_CORE},
                 {"cpu", RLIMIT_CPU},         {"data", RLIMIT_DATA},
                 {"fsize", RLIMIT_FSIZE},     {"locks", RLIMIT_LOCKS},
                 {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE},
                 {"nice", RLIMIT_NICE},       {"nofile", RLIMIT_NOFILE},
                 {"nproc", RLIMIT_NPROC},     {"rss", RLIMIT_RSS},
                 {"rtprio", RLIMIT_RTPRIO},   {"sigpending", RLIMIT_SIGPENDING},
                 {"stack", RLIMIT_STACK}};
  for (const auto& l : kLimits) {
    if (strcmp(l.name, name) != 0) continue;
    struct rlimit r;
    if (getrlimit(l.resource, &r) != 0) return 1;
    auto show = [](rlim_t v) {
      if (v == RLIM_INFINITY) {
        printf("unlimited");
      } else {
        printf("%llu", static_cast<unsigned long long>(v));
      }
    };
    show(r.rlim_cur);
    printf(" ");
    show(r.rlim_max);
    printf("\n");
    return 0;
  }
  return Usage();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const char* cmd = argv[1];
  if (strcmp(cmd, "ids") == 0) return Ids();
  if (strcmp(cmd, "fds") == 0) return Fds();
  if (strcmp(cmd, "caps") == 0) return Cat("/proc/self/status", "Cap");
  if (strcmp(cmd, "mountinfo") == 0) return Cat("/proc/self/mountinfo", nullptr);
  if (strcmp(cmd, "stat") == 0 && argc == 3) return Stat(argv[2]);
  if (strcmp(cmd, "hostname") == 0) {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0) return 1;
    printf("%s\n", name);
    return 0;
  }
  if (strcmp(cmd, "env") == 0) {
    for (char** e = environ; *e != nullptr; ++e) printf("%s\n", *e);
    return 0;
  }
  if (strcmp(cmd, "cwd") == 0) {
    char buf[4096];
    if (getcwd(buf, sizeof buf) == nullptr) return 1;
    printf("%s\n", buf);
    return 0;
  }
  if (strcmp(cmd, "rlimit") == 0 && argc == 3) return Rlimit(argv[2]);
  if (strcmp(cmd, "write") == 0 && argc == 4) {
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      perror(argv[2]);
      return 1;
    }
    ssize_t n = write(fd, argv[3], strlen(argv[3]));
    close(fd);
    return n < 0 ? 1 : 0;
  }
  if (strcmp(cmd, "exit") == 0 && argc == 3) return atoi(argv[2]);
  if (strcmp(cmd, "sleep") == 0 && argc == 3) {
    sleep(static_cast<unsigned>(atoi(argv[2])));
    return 0;
  }
  return Usage();
}
