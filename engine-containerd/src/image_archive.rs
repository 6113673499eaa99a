//! Reading an image tarball (`docker save` or an OCI layout, or both as `ctr export` writes
//! them) into what containerd's content and image stores need: blobs with digests, and image
//! names pointing at a manifest. Pure file work, no daemon.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use anyctr_core::{Error, Result};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// Where a blob's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobSource {
    /// A region of the spooled tarball.
    Archive { offset: u64, size: u64 },
    /// Bytes made here (a manifest built for a `docker save` image).
    Memory(Vec<u8>),
}

/// A blob to put in the content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
    pub source: BlobSource,
}

/// An image record to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub name: String,
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// What a tarball holds.
#[derive(Debug, Default)]
pub struct Plan {
    pub blobs: Vec<Blob>,
    pub images: Vec<ImageRef>,
}

/// Entry name → (data offset, size) of a tarball.
pub fn scan(file: &File) -> Result<BTreeMap<String, (u64, u64)>> {
    let mut archive = tar::Archive::new(file);
    let mut entries = BTreeMap::new();
    for entry in archive.entries_with_seek().map_err(bad_archive)? {
        let entry = entry.map_err(bad_archive)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(bad_archive)?.to_string_lossy().trim_start_matches("./").to_owned();
        entries.insert(path, (entry.raw_file_position(), entry.size()));
    }
    Ok(entries)
}

fn read(file: &File, (offset, size): (u64, u64)) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; usize::try_from(size).map_err(|_| Error::invalid_argument("archive entry too large"))?];
    file.read_exact_at(&mut buf, offset).map_err(bad_archive)?;
    Ok(buf)
}

fn sha256_of(file: &File, (offset, size): (u64, u64)) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut pos = offset;
    let end = offset + size;
    let mut buf = vec![0u8; 1 << 20];
    while pos < end {
        let n = usize::try_from((end - pos).min(buf.len() as u64)).unwrap_or(buf.len());
        file.read_exact_at(&mut buf[..n], pos).map_err(bad_archive)?;
        hasher.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(format!("sha256:{}", hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Plans the import: an OCI layout (`index.json`) when there is one, else `docker save`'s
/// `manifest.json` with a Docker schema 2 manifest built per image.
pub fn plan(file: &File, entries: &BTreeMap<String, (u64, u64)>) -> Result<Plan> {
    if let Some(index) = entries.get("index.json") {
        return plan_oci(file, entries, *index);
    }
    if let Some(manifest) = entries.get("manifest.json") {
        return plan_docker(file, entries, *manifest);
    }
    Err(Error::invalid_argument("not an image archive: no index.json or manifest.json"))
}

fn plan_oci(file: &File, entries: &BTreeMap<String, (u64, u64)>, index: (u64, u64)) -> Result<Plan> {
    let index: Value = serde_json::from_slice(&read(file, index)?).map_err(bad_json)?;
    let mut plan = Plan::default();
    for (name, (offset, size)) in entries {
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            plan.blobs.push(Blob {
                digest: format!("sha256:{hex}"),
                size: *size,
                source: BlobSource::Archive { offset: *offset, size: *size },
            });
        }
    }
    for m in index.get("manifests").and_then(Value::as_array).into_iter().flatten() {
        let annotation = |k: &str| m.pointer(&format!("/annotations/{}", k.replace('/', "~1"))).and_then(Value::as_str);
        let name = annotation("io.containerd.image.name").or_else(|| annotation("org.opencontainers.image.ref.name"));
        let (Some(name), Some(digest)) = (name, m.get("digest").and_then(Value::as_str)) else {
            continue;
        };
        plan.images.push(ImageRef {
            name: full_reference(name),
            media_type: m
                .get("mediaType")
                .and_then(Value::as_str)
                .unwrap_or("application/vnd.oci.image.manifest.v1+json")
                .to_owned(),
            digest: digest.to_owned(),
            size: m.get("size").and_then(Value::as_u64).unwrap_or(0),
        });
    }
    Ok(plan)
}

fn plan_docker(file: &File, entries: &BTreeMap<String, (u64, u64)>, manifest: (u64, u64)) -> Result<Plan> {
    let list: Value = serde_json::from_slice(&read(file, manifest)?).map_err(bad_json)?;
    let mut plan = Plan::default();
    let entry = |path: &str| {
        entries
            .get(path.trim_start_matches("./"))
            .copied()
            .ok_or_else(|| Error::invalid_argument(format!("archive lacks {path}")))
    };
    for image in list.as_array().into_iter().flatten() {
        let config_path = image
            .get("Config")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid_argument("manifest.json entry without Config"))?;
        let config = entry(config_path)?;
        let config_digest = sha256_of(file, config)?;
        plan.blobs.push(Blob {
            digest: config_digest.clone(),
            size: config.1,
            source: BlobSource::Archive { offset: config.0, size: config.1 },
        });
        let mut layers = Vec::new();
        for layer in image.get("Layers").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            let at = entry(layer)?;
            let digest = sha256_of(file, at)?;
            layers.push(json!({ "mediaType": DOCKER_LAYER, "size": at.1, "digest": digest }));
            plan.blobs.push(Blob { digest, size: at.1, source: BlobSource::Archive { offset: at.0, size: at.1 } });
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": { "mediaType": DOCKER_CONFIG, "size": config.1, "digest": config_digest },
            "layers": layers,
        });
        let bytes = serde_json::to_vec(&manifest).map_err(bad_json)?;
        let digest = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
        let size = bytes.len() as u64;
        plan.blobs.push(Blob { digest: digest.clone(), size, source: BlobSource::Memory(bytes) });
        for tag in image.get("RepoTags").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            plan.images.push(ImageRef {
                name: full_reference(tag),
                media_type: DOCKER_MANIFEST.into(),
                digest: digest.clone(),
                size,
            });
        }
    }
    Ok(plan)
}

/// containerd's (and CRI's) spelling of a reference: `busybox:local` →
/// `docker.io/library/busybox:local`, a missing tag → `:latest`.
pub fn full_reference(name: &str) -> String {
    let (first, _) = name.split_once('/').unwrap_or(("", name));
    let has_domain = first.contains('.') || first.contains(':') || first == "localhost";
    let mut full = match (has_domain, name.contains('/')) {
        (true, _) => name.to_owned(),
        (false, true) => format!("docker.io/{name}"),
        (false, false) => format!("docker.io/library/{name}"),
    };
    let last = full.rsplit('/').next().unwrap_or_default();
    if !last.contains(':') && !last.contains('@') {
        full.push_str(":latest");
    }
    full
}

/// The garbage-collection labels of a manifest or index blob: references to its children, so
/// containerd keeps them as long as the image exists.
pub fn gc_labels(blob: &[u8]) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let Ok(v) = serde_json::from_slice::<Value>(blob) else {
        return labels;
    };
    let digest = |d: &Value| d.get("digest").and_then(Value::as_str).map(str::to_owned);
    if let Some(config) = v.get("config").and_then(digest) {
        labels.insert("containerd.io/gc.ref.content.config".into(), config);
    }
    for (i, l) in v.get("layers").and_then(Value::as_array).into_iter().flatten().enumerate() {
        if let Some(d) = digest(l) {
            labels.insert(format!("containerd.io/gc.ref.content.l.{i}"), d);
        }
    }
    for (i, m) in v.get("manifests").and_then(Value::as_array).into_iter().flatten().enumerate() {
        if let Some(d) = digest(m) {
            labels.insert(format!("containerd.io/gc.ref.content.m.{i}"), d);
        }
    }
    labels
}

fn bad_archive(e: std::io::Error) -> Error {
    Error::invalid_argument(format!("bad image archive: {e}")).with_source(e)
}

fn bad_json(e: serde_json::Error) -> Error {
    Error::invalid_argument(format!("bad JSON in image archive: {e}")).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    fn archive(files: &[(&str, &[u8])]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        {
            let mut b = tar::Builder::new(&mut file);
            for (name, data) in files {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                b.append_data(&mut h, name, *data).unwrap();
            }
            b.finish().unwrap();
        }
        file.flush().unwrap();
        file.rewind().unwrap();
        file
    }

    #[test]
    fn references() {
        assert_eq!(full_reference("busybox:local"), "docker.io/library/busybox:local");
        assert_eq!(full_reference("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full_reference("foo/bar:1"), "docker.io/foo/bar:1");
        assert_eq!(full_reference("localhost/pause:local"), "localhost/pause:local");
        assert_eq!(full_reference("reg.io:5000/x"), "reg.io:5000/x:latest");
    }

    #[test]
    fn docker_save_gets_a_manifest() {
        let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let layer = b"not really a tar but bytes";
        let manifest = br#"[{"Config":"abc.json","RepoTags":["demo:1"],"Layers":["l1/layer.tar"]}]"#;
        let file = archive(&[("abc.json", config), ("l1/layer.tar", layer), ("manifest.json", manifest)]);
        let entries = scan(&file).unwrap();
        let plan = plan(&file, &entries).unwrap();
        assert_eq!(plan.images.len(), 1);
        assert_eq!(plan.images[0].name, "docker.io/library/demo:1");
        assert_eq!(plan.images[0].media_type, DOCKER_MANIFEST);
        assert_eq!(plan.blobs.len(), 3);
        let config_digest = format!("sha256:{}", hex(&Sha256::digest(config)));
        assert_eq!(plan.blobs[0].digest, config_digest);
        let BlobSource::Memory(m) = &plan.blobs[2].source else { panic!("manifest is built in memory") };
        let labels = gc_labels(m);
        assert_eq!(labels["containerd.io/gc.ref.content.config"], config_digest);
        assert_eq!(labels["containerd.io/gc.ref.content.l.0"], format!("sha256:{}", hex(&Sha256::digest(layer))));
        assert_eq!(plan.images[0].digest, plan.blobs[2].digest);
        // a region of the archive reads back as the original bytes
        let BlobSource::Archive { offset, size } = plan.blobs[1].source else { panic!() };
        assert_eq!(read(&file, (offset, size)).unwrap(), layer);
    }

    #[test]
    fn oci_layout_is_used_as_is() {
        let index = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":3,"annotations":{"io.containerd.image.name":"docker.io/library/x:1","org.opencontainers.image.ref.name":"1"}}]}"#;
        let file = archive(&[
            ("oci-layout", b"{}"),
            ("index.json", index),
            ("blobs/sha256/aa", b"abc"),
            ("manifest.json", b"[]"),
        ]);
        let plan = plan(&file, &scan(&file).unwrap()).unwrap();
        assert_eq!(
            plan.images,
            vec![ImageRef {
                name: "docker.io/library/x:1".into(),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                digest: "sha256:aa".into(),
                size: 3
            }]
        );
        assert_eq!(plan.blobs.len(), 1);
        assert!(super::plan(&archive(&[("x", b"y")]), &BTreeMap::new()).is_err());
    }
}
