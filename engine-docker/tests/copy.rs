//! Copy into and out of containers on the real dockerd: the archive API for runc, tar over exec for
//! rund (whose rootfs writes the archive API cannot see).

mod common;

use std::collections::BTreeMap;

use anyctr_core::{ByteStream, ContainerEngine, ErrorKind};
use bytes::Bytes;
use common::*;
use futures_util::{StreamExt, TryStreamExt};

per_runtime!(copy_round_trip_keeps_modes_and_creates_parents, copy_bad_inputs);

fn entry(builder: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: Option<&[u8]>) {
    let mut h = tar::Header::new_ustar();
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    match data {
        Some(d) => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(d.len() as u64);
            builder.append_data(&mut h, path, d).unwrap();
        }
        None => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            builder.append_data(&mut h, path, std::io::empty()).unwrap();
        }
    }
}

fn stream_of(bytes: Vec<u8>) -> ByteStream {
    // Several chunks, as a real producer would send them.
    let chunks: Vec<anyctr_core::Result<Bytes>> = bytes.chunks(1000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures_util::stream::iter(chunks).boxed()
}

/// path → (mode, content or None for a directory)
async fn read_tar(stream: ByteStream) -> BTreeMap<String, (u32, Option<Vec<u8>>)> {
    let chunks: Vec<Bytes> = bounded("copy_from stream", stream.try_collect()).await.unwrap();
    let bytes: Vec<u8> = chunks.concat();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut out = BTreeMap::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().trim_end_matches('/').to_owned();
        let mode = e.header().mode().unwrap() & 0o7777;
        let data = if e.header().entry_type().is_dir() {
            None
        } else {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            Some(v)
        };
        out.insert(path, (mode, data));
    }
    out
}

async fn copy_round_trip_keeps_modes_and_creates_parents(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "copy");
    let id = guard.sleeper(runtime).await;
    let before_tmp = sh(&engine, &id, "stat -c %a /tmp").await;
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut b = tar::Builder::new(Vec::new());
    entry(&mut b, "d", 0o750, None);
    entry(&mut b, "d/f", 0o640, Some(b"hello\n"));
    entry(&mut b, "d/run.sh", 0o755, Some(b"#!/bin/sh\necho ran\n"));
    entry(&mut b, "d/big.bin", 0o600, Some(&big));
    entry(&mut b, "top", 0o604, Some(b"top\n"));
    let tar = b.into_inner().unwrap();

    let dest = "/tmp/anyctr-copy/new/deep";
    bounded("copy_to", engine.put_archive(&id, dest, stream_of(tar))).await.unwrap();
    let stats =
        sh(&engine, &id, &format!("cd {dest} && stat -c '%n %a' d d/f d/run.sh d/big.bin top && ./d/run.sh")).await;
    assert_eq!(stats, "d 750\nd/f 640\nd/run.sh 755\nd/big.bin 600\ntop 604\nran\n");
    assert_eq!(sh(&engine, &id, &format!("cat {dest}/d/f")).await, "hello\n");
    assert_eq!(sh(&engine, &id, "stat -c %a /tmp").await, before_tmp, "an existing parent keeps its mode");
    assert_eq!(sh(&engine, &id, "stat -c %a /tmp/anyctr-copy/new").await, "755\n", "missing parents are created");

    // Out again: the directory, then a single file.
    let dir = read_tar(bounded("copy_from", engine.get_archive(&id, &format!("{dest}/d"))).await.unwrap()).await;
    assert_eq!(dir.get("d"), Some(&(0o750, None)));
    assert_eq!(dir.get("d/f"), Some(&(0o640, Some(b"hello\n".to_vec()))));
    assert_eq!(dir.get("d/big.bin").map(|(m, d)| (*m, d.as_ref().map(Vec::len))), Some((0o600, Some(big.len()))));
    assert_eq!(dir.get("d/big.bin").and_then(|(_, d)| d.clone()), Some(big));
    assert!(dir.keys().all(|k| k == "d" || k.starts_with("d/")), "single top-level entry: {:?}", dir.keys());
    let file = read_tar(bounded("copy_from", engine.get_archive(&id, &format!("{dest}/top"))).await.unwrap()).await;
    assert_eq!(file.into_iter().collect::<Vec<_>>(), [("top".to_owned(), (0o604, Some(b"top\n".to_vec())))]);
}

async fn copy_bad_inputs(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "copy-bad");
    let id = guard.sleeper(runtime).await;
    let e = bounded("copy_from", engine.get_archive(&id, "/no/such/path")).await.err().expect("missing source");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = bounded("copy_from", engine.get_archive(&id, "relative")).await.err().unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let empty = || futures_util::stream::empty().boxed();
    let e = bounded("copy_to", engine.put_archive(&id, "relative/dir", empty())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = bounded("copy_to", engine.put_archive(&unique("anyctr-nobody"), "/tmp", empty())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = bounded("copy_from", engine.get_archive(&unique("anyctr-nobody"), "/etc")).await.err().unwrap();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}
