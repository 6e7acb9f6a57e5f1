#!/usr/bin/env python3
"""make_index.py LAYOUT TAG ARCH...: adds to an OCI layout (made by make_oci_layout.sh) an
image index tagged TAG with one manifest per ARCH (linux/ARCH). Each is the layout's "latest"
image plus a layer holding /arch with the architecture's name, so a test can tell which one a
client chose."""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

layout, tag, arches = sys.argv[1], sys.argv[2], sys.argv[3:]
blobs = os.path.join(layout, "blobs", "sha256")


def put(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def get(digest):
    with open(os.path.join(blobs, digest.split(":")[1]), "rb") as f:
        return f.read()


index = json.load(open(os.path.join(layout, "index.json")))
base = next(m for m in index["manifests"]
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "latest")
base_manifest = json.loads(get(base["digest"]))
base_config = json.loads(get(base_manifest["config"]["digest"]))
entries = []
for arch in arches:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("arch")
        payload = (arch + "\n").encode()
        info.size, info.mode, info.mtime = len(payload), 0o644, 1700000000
        t.addfile(info, io.BytesIO(payload))
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    layer_digest, layer_size = put(gzip.compress(raw.getvalue(), mtime=0))
    config = dict(base_config, architecture=arch)
    config["rootfs"] = {"type": "layers", "diff_ids": base_config["rootfs"]["diff_ids"] + [diff_id]}
    config_digest, config_size = put(json.dumps(config).encode())
    manifest = dict(base_manifest)
    manifest["config"] = dict(base_manifest["config"], digest=config_digest, size=config_size)
    manifest["layers"] = base_manifest["layers"] + [{
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}]
    manifest_digest, manifest_size = put(json.dumps(manifest).encode())
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                    "size": manifest_size, "platform": {"os": "linux", "architecture": arch}})
sub_index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
index_digest, index_size = put(json.dumps(sub_index).encode())
index["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest,
                           "size": index_size, "annotations": {"org.opencontainers.image.ref.name": tag}})
with open(os.path.join(layout, "index.json"), "w") as f:
    json.dump(index, f)
for e in entries:
    print(e["platform"]["architecture"], e["digest"])
