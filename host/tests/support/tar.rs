//! Crafting tar archives by hand, including the hostile entries `tar::Builder` refuses to write.
#![allow(dead_code)]

use std::path::Path;

/// One entry of a hand-made archive.
pub enum Item<'a> {
    Dir(&'a str, u32),
    File(&'a str, u32, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    /// A file whose header claims more bytes than follow (the archive ends early).
    Truncated(&'a str, u64, &'a [u8]),
    Fifo(&'a str),
    CharDevice(&'a str),
}

fn header(name: &str, kind: tar::EntryType, size: u64, mode: u32, link: Option<&str>) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    // Raw bytes: the builder's setters refuse `..` and absolute names, which is what we test.
    let gnu = h.as_gnu_mut().unwrap();
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(l) = link {
        gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_cksum();
    h
}

/// Serializes `items` into an archive.
pub fn archive(items: &[Item<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        let (h, data): (tar::Header, &[u8]) = match item {
            Item::Dir(n, m) => (header(n, tar::EntryType::Directory, 0, *m, None), b""),
            Item::File(n, m, d) => (header(n, tar::EntryType::Regular, d.len() as u64, *m, None), d),
            Item::Symlink(n, t) => (header(n, tar::EntryType::Symlink, 0, 0o777, Some(t)), b""),
            Item::Hardlink(n, t) => (header(n, tar::EntryType::Link, 0, 0o644, Some(t)), b""),
            Item::Fifo(n) => (header(n, tar::EntryType::Fifo, 0, 0o644, None), b""),
            Item::CharDevice(n) => (header(n, tar::EntryType::Char, 0, 0o666, None), b""),
            Item::Truncated(n, size, d) => {
                out.extend_from_slice(header(n, tar::EntryType::Regular, *size, 0o644, None).as_bytes());
                out.extend_from_slice(d);
                return out;
            }
        };
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    out.extend(std::iter::repeat_n(0u8, 1024));
    out
}

/// Every path under `dir`, relative, sorted (links not followed).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}
