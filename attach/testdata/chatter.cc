// chatter BYTES: writes about BYTES bytes in numbered lines, alternating between stdout
// ("o 0000001 ...") and stderr ("e 0000001 ..."), so that a test can check that each stream
// arrives whole and in order.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long long total = argc > 1 ? atoll(argv[1]) : 1000000;
  char line[128];
  const char pad[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  long long written = 0;
  for (long i = 0; written < total; ++i) {
    int n = snprintf(line, sizeof line, "%c %09ld %s\n", i % 2 ? 'e' : 'o', i / 2, pad);
    int fd = i % 2 ? 2 : 1;
    for (int off = 0; off < n;) {
      ssize_t w = write(fd, line + off, static_cast<size_t>(n - off));
      if (w < 0) return 1;
      off += static_cast<int>(w);
    }
    written += n;
  }
  return 0;
}
