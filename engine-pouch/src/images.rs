//! Images: `GET /images/json` and `POST /images/load`.
//!
//! pouchd answers a load with an empty 200, not with the loaded references, so the tarball is
//! read on its way through: the references come from its `manifest.json` (`docker save`) or
//! `index.json` (OCI layout) — the tar headers are followed without buffering the layers.

use std::sync::{Arc, Mutex};

use anyctr_core::model::{ImageSummary, normalize_image_ref};
use anyctr_core::{ByteStream, Result};
use futures_util::StreamExt;
use http::Method;

use crate::client::{self, Client};
use crate::models;

/// Small JSON members kept from a tarball (manifest.json, index.json); larger ones are skipped.
const KEEP_LIMIT: u64 = 4 << 20;

pub async fn list(client: &Client) -> Result<Vec<ImageSummary>> {
    let items: Vec<serde_json::Value> = client.get_json("/images/json").await?;
    Ok(items
        .into_iter()
        .filter_map(|v| serde_json::from_value::<models::ImageItem>(v).ok())
        .map(|i| {
            let tags = i.repo_tags.iter().filter(|t| !t.contains("<none>")).map(|t| normalize_image_ref(t)).collect();
            let mut image = ImageSummary::new(i.id, tags);
            image.size = i.size.and_then(|s| u64::try_from(s).ok());
            image
        })
        .collect())
}

pub async fn load(client: &Client, tar: ByteStream) -> Result<Vec<String>> {
    let scanner = Arc::new(Mutex::new(TarScanner::default()));
    let seen = scanner.clone();
    let tee = tar
        .map(move |chunk| {
            if let Ok(bytes) = &chunk {
                seen.lock().unwrap_or_else(|p| p.into_inner()).push(bytes);
            }
            chunk
        })
        .boxed();
    let headers = [("content-type", "application/x-tar")];
    // Not bounded by the call timeout: loading takes as long as the tarball is large.
    let response = client.send(Method::POST, "/images/load", &headers, client::stream_body(tee)).await?;
    if !response.status().is_success() {
        return Err(client.error_from(response).await);
    }
    let _ = client::read_body(response.into_body(), client.call_timeout()).await?;
    let scanner = scanner.lock().unwrap_or_else(|p| p.into_inner());
    Ok(scanner.references())
}

/// Follows tar headers across arbitrary chunk boundaries and keeps small JSON members.
#[derive(Default)]
struct TarScanner {
    /// Bytes of the current 512-byte header.
    header: Vec<u8>,
    /// Payload bytes (incl. padding) of the current member still to come.
    skip: u64,
    /// The member being kept: name, expected size, data.
    keeping: Option<(String, u64, Vec<u8>)>,
    kept: Vec<(String, Vec<u8>)>,
    done: bool,
}

impl TarScanner {
    fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.done {
            if self.skip > 0 {
                let take = (self.skip.min(data.len() as u64)) as usize;
                if let Some((_, size, buf)) = self.keeping.as_mut() {
                    let room = (*size as usize).saturating_sub(buf.len());
                    buf.extend_from_slice(&data[..take.min(room)]);
                }
                self.skip -= take as u64;
                data = &data[take..];
                if self.skip == 0
                    && let Some((name, _, buf)) = self.keeping.take()
                {
                    self.kept.push((name, buf));
                }
                continue;
            }
            let take = (512 - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.header.len() == 512 {
                let header = std::mem::take(&mut self.header);
                self.start_member(&header);
            }
        }
    }

    fn start_member(&mut self, h: &[u8]) {
        if h.iter().all(|b| *b == 0) {
            self.done = true;
            return;
        }
        let field = |range: std::ops::Range<usize>| {
            let raw = &h[range];
            let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
            String::from_utf8_lossy(&raw[..end]).trim().to_owned()
        };
        let size = u64::from_str_radix(&field(124..136), 8).unwrap_or(0);
        let name = field(0..100).trim_start_matches("./").to_owned();
        let padded = size.div_ceil(512) * 512;
        self.skip = padded;
        if matches!(name.as_str(), "manifest.json" | "index.json") && size <= KEEP_LIMIT {
            self.keeping = Some((name, size, Vec::with_capacity(size as usize)));
            if padded == 0 {
                let (name, _, buf) = self.keeping.take().unwrap_or_default();
                self.kept.push((name, buf));
            }
        }
    }

    /// `RepoTags` of manifest.json, else the ref-name annotations of index.json.
    fn references(&self) -> Vec<String> {
        let json = |want: &str| {
            self.kept
                .iter()
                .find(|(n, _)| n == want)
                .and_then(|(_, b)| serde_json::from_slice::<serde_json::Value>(b).ok())
        };
        let mut refs = Vec::new();
        if let Some(serde_json::Value::Array(manifests)) = json("manifest.json") {
            for m in manifests {
                for tag in m.get("RepoTags").and_then(|t| t.as_array()).into_iter().flatten() {
                    refs.extend(tag.as_str().map(normalize_image_ref));
                }
            }
        }
        if refs.is_empty()
            && let Some(index) = json("index.json")
        {
            for m in index.get("manifests").and_then(|m| m.as_array()).into_iter().flatten() {
                let ann = m.get("annotations");
                let name = ann
                    .and_then(|a| a.get("io.containerd.image.name"))
                    .or_else(|| ann.and_then(|a| a.get("org.opencontainers.image.ref.name")));
                refs.extend(name.and_then(|n| n.as_str()).map(normalize_image_ref));
            }
        }
        refs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn references_from_manifest_across_any_chunking() {
        let manifest = br#"[{"Config":"c.json","RepoTags":["docker.io/library/busybox:local"],"Layers":["l.tar"]}]"#;
        let tar = tarball(&[("l.tar", &[7u8; 1500]), ("manifest.json", manifest)]);
        for chunk in [1, 7, 511, 512, 513, 4096] {
            let mut s = TarScanner::default();
            for part in tar.chunks(chunk) {
                s.push(part);
            }
            assert_eq!(s.references(), ["busybox:local"], "chunk {chunk}");
        }
    }

    #[test]
    fn references_from_oci_index() {
        let index =
            br#"{"manifests":[{"annotations":{"io.containerd.image.name":"docker.io/library/busybox:local"}}]}"#;
        let mut s = TarScanner::default();
        s.push(&tarball(&[("index.json", index)]));
        assert_eq!(s.references(), ["busybox:local"]);
    }
}
