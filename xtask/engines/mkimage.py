#!/usr/bin/python3
"""Build a one-layer busybox image tarball (docker-save + OCI layout in one
archive) from busybox-static, with no engine and no network.

usage: mkimage.py OUT.tar REF [--cmd JSONLIST] [--entrypoint JSONLIST]
The archive loads with `docker load` and `ctr -n NS images import`.
Stdlib only, run with /usr/bin/python3 (Debian's python3 package): it is
there on every machine `cargo xtask engines up` prepared, whatever pyenv says.
"""
import hashlib, io, json, os, sys, tarfile, time

def main():
    out, ref = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    cmd, ep = ["/bin/sh"], None
    while args:
        k, v = args[0], args[1]; args = args[2:]
        if k == "--cmd": cmd = json.loads(v)
        elif k == "--entrypoint": ep = json.loads(v)
    bb = "/bin/busybox"
    applets = os.popen(bb + " --list").read().split()
    mtime = 0
    # layer tar (uncompressed)
    lbuf = io.BytesIO()
    with tarfile.open(fileobj=lbuf, mode="w", format=tarfile.PAX_FORMAT) as t:
        def d(name, mode=0o755):
            ti = tarfile.TarInfo(name); ti.type = tarfile.DIRTYPE; ti.mode = mode; ti.mtime = mtime; t.addfile(ti)
        def f(name, data, mode=0o644):
            ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = mode; ti.mtime = mtime; t.addfile(ti, io.BytesIO(data))
        for n in ["bin", "etc", "tmp", "proc", "sys", "dev", "root", "var", "mnt", "home"]:
            d(n, 0o1777 if n == "tmp" else 0o755)
        with open(bb, "rb") as fh:
            f("bin/busybox", fh.read(), 0o755)
        for a in applets:
            if a == "busybox":
                continue
            ti = tarfile.TarInfo("bin/" + a); ti.type = tarfile.SYMTYPE; ti.linkname = "busybox"; ti.mtime = mtime; ti.mode = 0o777
            t.addfile(ti)
        f("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
        f("etc/group", b"root:x:0:\nnobody:x:65534:\n")
    layer = lbuf.getvalue()
    ldig = hashlib.sha256(layer).hexdigest()
    cfg = {
        "architecture": "amd64", "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin"], "Cmd": cmd, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + ldig]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "mkimage.py busybox-static"}],
    }
    if ep:
        cfg["config"]["Entrypoint"] = ep
    cfgb = json.dumps(cfg, sort_keys=True).encode()
    cdig = hashlib.sha256(cfgb).hexdigest()
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cdig, "size": len(cfgb)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + ldig, "size": len(layer)}],
    }
    mb = json.dumps(manifest, sort_keys=True).encode()
    mdig = hashlib.sha256(mb).hexdigest()
    # fully qualified name for the OCI annotation (containerd uses it as the image name)
    full = ref
    first = ref.split("/")[0]
    if "/" not in ref or ("." not in first and ":" not in first and first != "localhost"):
        full = "docker.io/" + ("library/" + ref if "/" not in ref else ref)
    index = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + mdig, "size": len(mb),
                       "annotations": {"io.containerd.image.name": full, "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[-1]}}],
    }
    docker_manifest = [{"Config": "blobs/sha256/" + cdig, "RepoTags": [ref], "Layers": ["blobs/sha256/" + ldig]}]
    with tarfile.open(out, "w") as t:
        def f(name, data):
            ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = 0o644; ti.mtime = int(time.time()); t.addfile(ti, io.BytesIO(data))
        f("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        f("blobs/sha256/" + ldig, layer)
        f("blobs/sha256/" + cdig, cfgb)
        f("blobs/sha256/" + mdig, mb)
        f("index.json", json.dumps(index).encode())
        f("manifest.json", json.dumps(docker_manifest).encode())
    print(out, ref, "config=sha256:" + cdig)

if __name__ == "__main__":
    main()
