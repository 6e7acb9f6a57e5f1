"""cc_proto: a C++ library from .proto files with the system protoc (no rules_proto)."""

def cc_proto(name, srcs, deps = [], lite = False, visibility = None):
    """Generates <file>.pb.{h,cc} for each of srcs and wraps them in a cc_library.

    Args:
      name: the cc_library's name; `<name>_srcs` holds the .proto files for importers.
      srcs: .proto files in this package (written or generated). Imports are relative to the
        workspace root.
      deps: other cc_proto targets whose .proto files these import.
      lite: generate for protobuf's lite runtime (no descriptors, no reflection), and
        <file>.schema.{h,cc} with the schemas lib/lite_json reads and writes JSON by.
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
        cmd = "protoc -I$(GENDIR) -I. --cpp_out=" + ("lite:" if lite else "") + "$(GENDIR) " + " ".join(
            ["$(location %s)" % s for s in srcs],
        ),
    )
    schema_deps = []
    if lite:
        for src in srcs:
            base = src[:-len(".proto")]
            native.genrule(
                name = name + "_" + base.replace("/", "_") + "_schema_gen",
                srcs = srcs + [d + "_srcs" for d in deps],
                outs = [base + ".schema.h", base + ".schema.cc"],
                tools = ["//tools/protoschema"],
                cmd = ("set -e; d=$$(mktemp -d); trap 'rm -rf $$d' EXIT; " +
                       "protoc -I$(GENDIR) -I. --include_imports --descriptor_set_out=$$d/set " +
                       "$(location {src}); $(location //tools/protoschema) $$d/set {name} " +
                       "$(location {base}.schema.h) $(location {base}.schema.cc)").format(
                    src = src,
                    base = base,
                    name = native.package_name() + "/" + src,
                ),
            )
            outs += [base + ".schema.h", base + ".schema.cc"]
        schema_deps = ["//lib:lite_json_schema"]
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        copts = ["-Wno-unused-parameter"],
        deps = deps + schema_deps + ["//third_party:protobuf_lite" if lite else "//third_party:protobuf"],
        visibility = visibility,
    )
