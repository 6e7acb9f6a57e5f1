"""cc_proto: a C++ library from .proto files with the system protoc (no rules_proto)."""

def cc_proto(name, srcs, deps = [], visibility = None):
    """Generates <file>.pb.{h,cc} for each of srcs and wraps them in a cc_library.

    Args:
      name: the cc_library's name; `<name>_srcs` holds the .proto files for importers.
      srcs: .proto files in this package. Imports are relative to the workspace root.
      deps: other cc_proto targets whose .proto files these import.
      visibility: as for any rule.
    """
    native.filegroup(
        name = name + "_srcs",
        srcs = srcs + [d + "_srcs" for d in deps],
        visibility = visibility,
    )
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = outs,
        cmd = "protoc -I. --cpp_out=$(GENDIR) " + " ".join(
            ["$(location %s)" % s for s in srcs],
        ),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        copts = ["-Wno-unused-parameter"],
        deps = deps + ["//third_party:protobuf"],
        visibility = visibility,
    )
