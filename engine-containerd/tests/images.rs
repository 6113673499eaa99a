//! Image import through the content and image stores (containerd 1.6 has no Transfer service),
//! in both archive formats, proven by running a CRI container from each imported image.

mod common;

use std::io::Read;

use anyctr_core::model::{CreateSpec, ExecRequest};
use anyctr_core::{ContainerEngine, ErrorKind};
use anyctr_engine_containerd::ContainerdEngine;
use bytes::Bytes;
use containerd_client::services::v1::DeleteImageRequest;
use futures_util::StreamExt;
use serde_json::{Value, json};

fn busybox_tar() -> Vec<u8> {
    let path = anyctr_testkit::image_tar();
    std::fs::read(&path).unwrap_or_else(|e| anyctr_testkit::engines_not_up("the image archive", &path, e))
}

fn entries(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut d = Vec::new();
            e.read_to_end(&mut d).unwrap();
            (e.path().unwrap().to_string_lossy().into_owned(), d)
        })
        .collect()
}

fn build(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// The busybox OCI layout under a new name.
fn oci_archive(name: &str) -> Vec<u8> {
    let mut files = entries(&busybox_tar());
    files.retain(|(n, _)| n != "manifest.json");
    for (n, d) in files.iter_mut() {
        if n == "index.json" {
            let mut index: Value = serde_json::from_slice(d).unwrap();
            index["manifests"][0]["annotations"] = json!({ "io.containerd.image.name": name });
            *d = serde_json::to_vec(&index).unwrap();
        }
    }
    build(&files)
}

/// The busybox blobs as `docker save` lays them out (no OCI index), under a new tag.
fn docker_save_archive(tag: &str) -> Vec<u8> {
    let files = entries(&busybox_tar());
    let blob = |path: &str| files.iter().find(|(n, _)| n == path).map(|(_, d)| d.clone()).unwrap();
    let manifest: Value = serde_json::from_slice(&blob("manifest.json")).unwrap();
    let config = blob(manifest[0]["Config"].as_str().unwrap());
    let layer = blob(manifest[0]["Layers"][0].as_str().unwrap());
    let list = json!([{ "Config": "cfg.json", "RepoTags": [tag], "Layers": ["abc/layer.tar"] }]);
    build(&[
        ("cfg.json".into(), config),
        ("abc/layer.tar".into(), layer),
        ("manifest.json".into(), serde_json::to_vec(&list).unwrap()),
    ])
}

struct ImageGuard {
    names: Vec<String>,
}

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let names = self.names.clone();
        common::cleanup_blocking(move || {
            Box::pin(async move {
                let engine = common::engine("k8s.io", &common::fifo_dir("img")).await;
                let c = engine.client();
                for name in names {
                    let req = DeleteImageRequest { name, sync: false, target: None };
                    let _ = c.call("test", c.images().delete(c.request(Some("k8s.io"), req))).await;
                }
            })
        });
    }
}

async fn load_and_run(engine: &ContainerdEngine, archive: Vec<u8>, want: &str) {
    let stream =
        futures_util::stream::iter(archive.chunks(300_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect::<Vec<_>>())
            .boxed();
    let loaded = tokio::time::timeout(common::BOUND, engine.load_image(stream)).await.unwrap().unwrap();
    assert_eq!(loaded, vec![want.to_owned()]);
    let images = engine.list_images().await.unwrap();
    let img = images.iter().find(|i| i.tags.iter().any(|t| t == want)).unwrap_or_else(|| panic!("{want} not listed"));
    assert_eq!(img.namespace.as_deref(), Some("k8s.io"));
    assert!(img.id.starts_with("sha256:"));
    assert!(img.size.unwrap_or(0) > 1_000_000, "{img:?}");

    // CRI can run it (it unpacks the layers on first use).
    let name = common::unique("img");
    let mut spec = CreateSpec::new(want);
    spec.name = Some(name.clone());
    spec.argv = vec!["sleep".into(), "600".into()];
    spec.labels.insert("anyctr.test".into(), name);
    let id = tokio::time::timeout(common::BOUND, engine.create(&spec)).await.unwrap().unwrap();
    let pod = engine.inspect(&id).await.unwrap().pod.sandbox_id.unwrap();
    let _pod = common::PodGuard { id: pod, fifo: common::fifo_dir("img") };
    engine.start(&id).await.unwrap();
    let r = engine.exec(&id, ExecRequest::new(["echo", "imported"])).await.unwrap();
    assert_eq!(r.stdout_lossy(), "imported\n");
    engine.remove(&id, true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_oci_and_docker_save_archives() {
    let fifo = common::fifo_dir("images");
    let engine = common::engine("k8s.io", &fifo).await;
    let tag = common::unique("t");
    let oci = format!("anyctr-test/oci:{tag}");
    let docker = format!("anyctr-test/docker:{tag}");
    let _guard = ImageGuard { names: vec![format!("docker.io/{oci}"), format!("docker.io/{docker}")] };

    load_and_run(&engine, oci_archive(&format!("docker.io/{oci}")), &oci).await;
    load_and_run(&engine, docker_save_archive(&docker), &docker).await;
    // loading the same archive again is fine
    let again = futures_util::stream::once(async move { Ok(Bytes::from(docker_save_archive(&docker))) }).boxed();
    assert_eq!(engine.load_image(again).await.unwrap().len(), 1);

    let junk = futures_util::stream::once(async { Ok(Bytes::from_static(b"not a tar at all, not at all")) }).boxed();
    let e = engine.load_image(junk).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let _ = std::fs::remove_dir_all(&fifo);
}
