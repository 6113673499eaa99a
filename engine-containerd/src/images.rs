//! Images: list from the Images service; load through the Content and Images services.
//!
//! containerd 1.6 has no Transfer service (it came in 1.7), so an import is done as `ctr import`
//! does it: the tarball is spooled to a temporary file, every blob is written to the content
//! store under a lease (so the garbage collector leaves half-imported content alone), manifests
//! get the `containerd.io/gc.ref.*` labels that keep their children alive, and an image record
//! names the manifest. Layers are not unpacked here: CRI unpacks an image on first use.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use anyctr_core::model::{ImageSummary, normalize_image_ref};
use anyctr_core::{ByteStream, Error, ErrorKind, Result};
use containerd_client::services::v1::{
    CreateImageRequest, CreateRequest as CreateLeaseRequest, DeleteRequest as DeleteLeaseRequest, Image, InfoRequest,
    ListImagesRequest, ReadContentRequest, UpdateImageRequest, UpdateRequest as UpdateContentRequest, WriteAction,
    WriteContentRequest,
};
use containerd_client::types::Descriptor;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tonic::Request;

use crate::ContainerdEngine;
use crate::client::Client;
use crate::image_archive::{self, Blob, BlobSource, ImageRef};

const LEASE_HEADER: &str = "containerd-lease";
const CHUNK: u64 = 1 << 20;
/// Blobs up to this size are read whole to find their gc references (manifests, indexes).
const SMALL_BLOB: u64 = 4 << 20;

/// Every image of the configured namespaces, one entry per namespace and target digest.
pub async fn list(engine: &ContainerdEngine) -> Result<Vec<ImageSummary>> {
    let c = engine.client();
    let mut out = Vec::new();
    for ns in engine.namespaces().await? {
        let resp = c.call("list_images", c.images().list(c.request(Some(&ns), ListImagesRequest::default()))).await?;
        let mut by_target: BTreeMap<String, (Vec<String>, Option<Descriptor>)> = BTreeMap::new();
        for image in resp.images {
            let digest = image.target.as_ref().map(|t| t.digest.clone()).unwrap_or_default();
            let slot = by_target.entry(digest).or_insert_with(|| (Vec::new(), image.target.clone()));
            // CRI adds a record named after the config digest: an id, not a tag.
            if !image.name.starts_with("sha256:") {
                slot.0.push(normalize_image_ref(&image.name));
            }
        }
        for (digest, (mut tags, target)) in by_target {
            tags.sort();
            let size = match &target {
                Some(t) => manifest_size(c, &ns, t).await,
                None => None,
            };
            let mut image = ImageSummary::new(digest, tags);
            image.size = size;
            image.namespace = Some(ns.clone());
            out.push(image);
        }
    }
    Ok(out)
}

/// The size of an image as its manifest states it (config + layers); `None` for an index.
async fn manifest_size(c: &Client, ns: &str, target: &Descriptor) -> Option<u64> {
    if !target.media_type.contains("manifest") || target.size > SMALL_BLOB as i64 {
        return None;
    }
    let req = ReadContentRequest { digest: target.digest.clone(), offset: 0, size: 0 };
    let mut stream = c.call("list_images", c.content().read(c.request(Some(ns), req))).await.ok()?;
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = stream.message().await {
        bytes.extend(chunk.data);
    }
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let size = |d: &serde_json::Value| d.get("size").and_then(serde_json::Value::as_u64).unwrap_or(0);
    let layers: u64 = v.get("layers")?.as_array()?.iter().map(size).sum();
    Some(layers + v.get("config").map(size).unwrap_or(0))
}

/// The namespace images are loaded into: the configured one, else `k8s.io` (CRI's) when it is
/// among the engine's namespaces, else the first of them.
async fn target_namespace(engine: &ContainerdEngine) -> Result<String> {
    if let Some(ns) = &engine.options().image_namespace {
        return Ok(ns.clone());
    }
    let namespaces = engine.namespaces().await?;
    if namespaces.is_empty() || namespaces.iter().any(|n| n == crate::CRI_NAMESPACE) {
        return Ok(crate::CRI_NAMESPACE.to_owned());
    }
    Ok(namespaces[0].clone())
}

/// Imports a `docker save` / OCI tarball; returns the image names, normalized.
pub async fn load(engine: &ContainerdEngine, mut tar: ByteStream) -> Result<Vec<String>> {
    let ns = target_namespace(engine).await?;
    let spool = tempfile::tempfile()?;
    let mut writer = tokio::fs::File::from_std(spool.try_clone()?);
    while let Some(chunk) = tar.next().await {
        writer.write_all(&chunk?).await?;
    }
    writer.flush().await?;
    drop(writer);
    let (file, plan) = tokio::task::spawn_blocking(move || {
        // The clone shares the write offset: read from the start.
        std::io::Seek::rewind(&mut &spool).map_err(Error::from)?;
        let entries = image_archive::scan(&spool)?;
        let plan = image_archive::plan(&spool, &entries)?;
        Ok::<_, Error>((spool, plan))
    })
    .await
    .map_err(|e| Error::unexpected(format!("image archive reader failed: {e}")))??;
    if plan.images.is_empty() {
        return Err(Error::invalid_argument("the archive names no image"));
    }
    let file = Arc::new(file);
    let c = engine.client();
    let lease = crate::exec::new_exec_id().replacen("anyctr-", "anyctr-load-", 1);
    let expire = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let create = CreateLeaseRequest {
        id: lease.clone(),
        labels: HashMap::from([("containerd.io/gc.expire".to_owned(), expire)]),
    };
    c.call("load_image", c.leases().create(c.request(Some(&ns), create))).await?;
    let result = import(c, &ns, &lease, &file, &plan.blobs, &plan.images).await;
    let delete = DeleteLeaseRequest { id: lease, sync: false };
    let _ = c.call("load_image", c.leases().delete(c.request(Some(&ns), delete))).await;
    result?;
    Ok(plan.images.iter().map(|i| normalize_image_ref(&i.name)).collect())
}

async fn import(
    c: &Client,
    ns: &str,
    lease: &str,
    file: &Arc<File>,
    blobs: &[Blob],
    images: &[ImageRef],
) -> Result<()> {
    for blob in blobs {
        write_blob(c, ns, lease, file, blob).await?;
    }
    for image in images {
        let record = Image {
            name: image.name.clone(),
            target: Some(Descriptor {
                media_type: image.media_type.clone(),
                digest: image.digest.clone(),
                size: image.size as i64,
                annotations: HashMap::new(),
            }),
            ..Default::default()
        };
        let req = with_lease(
            c.request(Some(ns), CreateImageRequest { image: Some(record.clone()), source_date_epoch: None }),
            lease,
        );
        match c.call("load_image", c.images().create(req)).await {
            Err(e) if e.kind() == ErrorKind::Conflict => {
                let update = UpdateImageRequest { image: Some(record), update_mask: None, source_date_epoch: None };
                c.call("load_image", c.images().update(with_lease(c.request(Some(ns), update), lease))).await?;
            }
            other => {
                other?;
            }
        }
    }
    Ok(())
}

fn bytes_of(file: &File, blob: &Blob, offset: u64, len: u64) -> Result<Vec<u8>> {
    match &blob.source {
        BlobSource::Memory(b) => Ok(b[offset as usize..(offset + len) as usize].to_vec()),
        BlobSource::Archive { offset: base, .. } => {
            let mut buf = vec![0u8; len as usize];
            file.read_exact_at(&mut buf, base + offset)?;
            Ok(buf)
        }
    }
}

/// Content.Write of one blob (skipped when the store has it; its labels are set either way).
async fn write_blob(c: &Client, ns: &str, lease: &str, file: &Arc<File>, blob: &Blob) -> Result<()> {
    let labels: HashMap<String, String> = if blob.size <= SMALL_BLOB {
        image_archive::gc_labels(&bytes_of(file, blob, 0, blob.size)?).into_iter().collect()
    } else {
        HashMap::new()
    };
    let info =
        c.call("load_image", c.content().info(c.request(Some(ns), InfoRequest { digest: blob.digest.clone() }))).await;
    if info.is_ok() {
        if !labels.is_empty() {
            let mut update = UpdateContentRequest::default();
            let mut content = info?.info.unwrap_or_default();
            content.labels.extend(labels);
            update.info = Some(content);
            c.call("load_image", c.content().update(with_lease(c.request(Some(ns), update), lease))).await?;
        }
        return Ok(());
    }
    let reference = format!("anyctr-{}", crate::exec::new_exec_id());
    let (file, blob_owned) = (file.clone(), blob.clone());
    let total = blob.size;
    let mut offset = 0;
    // The blob goes out in chunks read lazily, so a large layer is never held in memory.
    let chunks = futures_util::stream::unfold(0u64, move |pos| {
        let (file, blob) = (file.clone(), blob_owned.clone());
        async move {
            if pos >= total {
                return None;
            }
            let len = CHUNK.min(total - pos);
            let data = bytes_of(&file, &blob, pos, len).unwrap_or_default();
            Some((data, pos + len))
        }
    });
    let first = WriteContentRequest {
        action: WriteAction::Write as i32,
        r#ref: reference.clone(),
        total: total as i64,
        expected: blob.digest.clone(),
        ..Default::default()
    };
    let r2 = reference.clone();
    let writes = chunks.map(move |data| {
        let req = WriteContentRequest {
            action: WriteAction::Write as i32,
            r#ref: r2.clone(),
            total: total as i64,
            expected: String::new(),
            offset,
            data,
            labels: HashMap::new(),
        };
        offset += req.data.len() as i64;
        req
    });
    let commit = WriteContentRequest {
        action: WriteAction::Commit as i32,
        r#ref: reference,
        total: total as i64,
        expected: blob.digest.clone(),
        offset: total as i64,
        labels,
        ..Default::default()
    };
    let stream = futures_util::stream::once(async move { first })
        .chain(writes)
        .chain(futures_util::stream::once(async move { commit }));
    let req = with_lease(c.unbounded_request(Some(ns), stream), lease);
    let bound = c.call_timeout() * 4;
    let mut responses = match c.call_within("load_image", bound, c.content().write(req)).await {
        Ok(r) => r,
        // Written meanwhile by someone else: that is success.
        Err(e) if e.kind() == ErrorKind::Conflict => return Ok(()),
        Err(e) => return Err(e),
    };
    loop {
        match tokio::time::timeout(bound, responses.message()).await {
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(status)) => {
                let e = crate::client::status_error(status, c.engine(), "load_image");
                return if e.kind() == ErrorKind::Conflict { Ok(()) } else { Err(e) };
            }
            Err(_) => return Err(Error::timeout("load_image", bound).with_engine(c.engine())),
        }
    }
}

fn with_lease<T>(mut req: Request<T>, lease: &str) -> Request<T> {
    if let Ok(v) = lease.parse() {
        req.metadata_mut().insert(LEASE_HEADER, v);
    }
    req
}
