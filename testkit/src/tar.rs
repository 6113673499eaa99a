//! Tar archives for copy tests: one file in, every entry out.

use std::io::Read;

/// A tar archive holding one regular file (mode 0644).
pub fn tar_with(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, data).expect("append to an in-memory archive");
    b.into_inner().expect("finish an in-memory archive")
}

/// The entries (name, contents) of a tar archive.
pub fn untar(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .expect("a tar archive")
        .map(|e| {
            let mut e = e.expect("a tar entry");
            let name = e.path().expect("an entry path").to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("an entry's contents");
            (name, data)
        })
        .collect()
}
