"""How the binaries that run for every container and process are linked: wholly static."""

# spawn, image-store, attach, attach-keeper and gaol run once or more for every container
# and process, idmap for every container, netns for every network step. Linked static (libc
# included), a start has no loader at work: no shared objects to map, no symbols to bind;
# on this project's VM a start of image-store took 2.2 ms of CPU dynamically linked and
# 1.2 ms static. glibc 2.34+ has its `files` and `dns` NSS sources built in, so getpwnam and
# getaddrinfo need no shared object at run time either.
#
# The unprivileged ones are not position-independent either: no relocations to apply at
# start (22,000 in image-store, ~100 pages written).
STATIC_FEATURES = ["fully_static_link"]
STATIC_LINKOPTS = ["-static"]

# The setuid helpers (idmap, netns) stay position-independent (their code at a random
# address, as every setuid program of a hardened distribution): a static PIE, which gold
# cannot link, so these take bfd, and archives instead of gold's --start-lib.
STATIC_PIE_FEATURES = ["-supports_start_end_lib"]
STATIC_PIE_LINKOPTS = ["-static-pie", "-fuse-ld=bfd"]
