// The tar of Garden's StreamIn and StreamOut, run inside the container (by gdn-init, as the
// requested user, after spawn exec has joined its namespaces): plain libc and no
// allocation-heavy library, so the static gdn-init stays small.
//
// TarIn reads ustar/GNU/pax archives as `tar --no-same-owner --no-same-permissions -xf -`
// does for an unprivileged user: files, folders, symlinks and hard links, modes under the
// umask, mtimes kept, owners not. Leading "/" is stripped; members with ".." are refused.
// TarOut writes `tar -cf - -C dirname(source) basename(source)`, or `-C source .` when
// `source` ends in "/", with GNU long names.
#ifndef GDN_GDN_TAR_H_
#define GDN_GDN_TAR_H_

namespace gdn {

// Both return 0, or 2 after one line on stderr (tar's exit code for a fatal error).
int TarIn(int in_fd, const char* destination);
int TarOut(int out_fd, const char* source);

}  // namespace gdn

#endif  // GDN_GDN_TAR_H_
