//! The resolver fuzz check: arbitrary bytes become a container tree full of (hostile) symlinks
//! and a few container paths; every answer must stay inside the container's view.
#![forbid(unsafe_code)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Component, PathBuf};

use anyctr_core::ErrorKind;
use anyctr_host::host_path::host_path;
use anyctr_core::model::{ContainerDetail, RootfsView, RuntimeClass};
use anyctr_testkit::detail;

const NAMES: &[&str] = &["a", "b", "l", "data", "ro", ".."];
/// Characters link targets and queries are made of: enough for `/`, `..`, names and links.
const ALPHABET: &[u8] = b"ab/./l..dataro/";

/// Reads the input a byte at a time; zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        let Some((first, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        *first
    }

    fn text(&mut self, max: u8) -> String {
        let len = self.next() % max;
        (0..len).map(|_| ALPHABET[self.next() as usize % ALPHABET.len()] as char).collect()
    }
}

/// Builds the tree `data` describes and resolves the paths it names; panics when an answer leaves
/// the view or an error of an unexpected kind comes back.
pub fn check(data: &[u8]) {
    let mut input = Bytes(data);
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().canonicalize().expect("canonical tempdir");
    let bases = [base.join("rootfs"), base.join("vol"), base.join("ro")];
    let outside = base.join("outside");
    for b in bases.iter().chain([&outside]) {
        fs::create_dir_all(b).expect("base dir");
    }
    for _ in 0..input.next() % 16 {
        let kind = input.next() % 3;
        let root = &bases[input.next() as usize % bases.len()];
        let rel: PathBuf = (0..1 + input.next() % 3).map(|_| NAMES[input.next() as usize % NAMES.len()]).collect();
        let path = root.join(rel);
        // Failures only shape the tree.
        let _ = match kind {
            0 => fs::create_dir_all(&path),
            1 => symlink(input.text(24), &path),
            _ => symlink(&outside, &path),
        };
    }
    let container = container(&bases);
    for _ in 0..1 + input.next() % 4 {
        let query = format!("/{}", input.text(40));
        match host_path(&container, &query, None) {
            Ok(hp) => {
                assert!(
                    bases.iter().any(|b| hp.path.starts_with(b)),
                    "{query}: {} outside the view",
                    hp.path.display()
                );
                assert!(!hp.path.components().any(|c| c == Component::ParentDir), "{query}: {hp:?}");
                let existing = hp.path.ancestors().find(|a| fs::symlink_metadata(a).is_ok()).expect("a base exists");
                let canonical = existing.canonicalize().expect("canonicalize");
                assert!(bases.iter().any(|b| canonical.starts_with(b)), "{query}: escapes to {}", canonical.display());
                assert_eq!(canonical, existing, "{query}: a link was left in the answer");
            }
            Err(e) => assert!(matches!(e.kind(), ErrorKind::InvalidArgument | ErrorKind::NotFound), "{query}: {e}"),
        }
    }
}

fn container(bases: &[PathBuf; 3]) -> ContainerDetail {
    let mut d = detail::running(RuntimeClass::Runc, RootfsView::Merged(bases[0].clone()), None);
    d.mounts = vec![detail::bind(&bases[1], "/data", false), detail::bind(&bases[2], "/ro", true)];
    d
}
