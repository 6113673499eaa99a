//! Property test: whatever tree of (hostile) symlinks the container holds and whatever path is
//! asked for, the resolver's answer stays inside the container's view: under the rootfs or a
//! mount source, after canonicalization, with no link left unresolved in its existing prefix.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use anyctr_core::ErrorKind;
use anyctr_host::host_path::{HostPathResolver, host_path};
use anyctr_host::hostfs::Resolution;
use proptest::prelude::*;
use support::{bind, runc_merged};

const NAMES: &[&str] = &["a", "b", "l0", "l1", "data", "ro"];

/// Link targets a hostile container might plant; `@OUT` is replaced by a real host directory
/// outside the view.
const TARGETS: &[&str] = &[
    "/",
    "..",
    "../..",
    "../../../../..",
    "/data",
    "/data/..",
    "/ro/../..",
    "a",
    "../a/b",
    "/etc",
    "@OUT",
    "@OUT/x",
    "l0",
    "l1",
    "/l0",
    "./l1/..",
    "b/../../..",
];

#[derive(Debug, Clone)]
enum Op {
    Dir { base: usize, path: Vec<usize> },
    Link { base: usize, path: Vec<usize>, target: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let path = prop::collection::vec(0..NAMES.len(), 1..4);
    prop_oneof![
        (0..3usize, path.clone()).prop_map(|(base, path)| Op::Dir { base, path }),
        (0..3usize, path, 0..TARGETS.len()).prop_map(|(base, path, target)| Op::Link { base, path, target }),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let comp = prop_oneof![(0..NAMES.len()).prop_map(|i| NAMES[i].to_owned()), Just("..".into()), Just(".".into())];
    prop::collection::vec(comp, 0..9).prop_map(|c| format!("/{}", c.join("/")))
}

fn rel(path: &[usize]) -> PathBuf {
    path.iter().map(|i| NAMES[*i]).collect()
}

/// The deepest ancestor of `p` (itself included) that exists.
fn existing_prefix(p: &Path) -> &Path {
    p.ancestors().find(|a| fs::symlink_metadata(a).is_ok()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn answers_never_leave_the_view(ops in prop::collection::vec(op(), 0..14), queries in prop::collection::vec(query(), 1..6)) {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let bases = [base.join("rootfs"), base.join("vol"), base.join("ro")];
        let outside = base.join("outside");
        for b in bases.iter().chain([&outside]) {
            fs::create_dir_all(b).unwrap();
        }
        fs::create_dir_all(outside.join("x")).unwrap();
        for op in &ops {
            // Failures (a parent that is a link or a file, a name already taken) just shape the tree.
            let _ = match op {
                Op::Dir { base, path } => fs::create_dir_all(bases[*base].join(rel(path))),
                Op::Link { base, path, target } => {
                    let text = TARGETS[*target].replace("@OUT", outside.to_str().unwrap());
                    symlink(text, bases[*base].join(rel(path)))
                }
            };
        }
        let mut c = runc_merged(&bases[0]);
        c.mounts.push(bind(&bases[1], "/data", false));
        c.mounts.push(bind(&bases[2], "/ro", true));
        let emulated = HostPathResolver::new(&c, None).with_resolution(Resolution::Emulated);
        for q in &queries {
            // The openat2 fast path and the emulated walk give the same answer.
            let slow = emulated.resolve(q);
            match (host_path(&c, q, None), &slow) {
                (Ok(a), Ok(b)) => prop_assert_eq!(&a, b, "{}", q),
                (Err(a), Err(b)) => prop_assert_eq!(a.kind(), b.kind(), "{}", q),
                (a, b) => prop_assert!(false, "{q}: fast path {a:?} vs emulated {b:?}"),
            }
            match host_path(&c, q, None) {
                Ok(hp) => {
                    let inside = bases.iter().find(|b| hp.path.starts_with(b));
                    prop_assert!(inside.is_some(), "{q}: {} outside every base", hp.path.display());
                    prop_assert!(!hp.path.components().any(|c| c == std::path::Component::ParentDir), "{q}: {hp:?}");
                    let existing = existing_prefix(&hp.path);
                    let canonical = existing.canonicalize().unwrap();
                    prop_assert!(bases.iter().any(|b| canonical.starts_with(b)), "{q}: {} escapes to {}", hp.path.display(), canonical.display());
                    prop_assert_eq!(&canonical, existing, "{}: a link was left in the answer", q);
                    prop_assert!(!canonical.starts_with(&outside));
                    prop_assert_eq!(hp.writable, !hp.path.starts_with(&bases[2]));
                }
                Err(e) => prop_assert!(
                    matches!(e.kind(), ErrorKind::InvalidArgument | ErrorKind::NotFound),
                    "{q}: unexpected error {e}"
                ),
            }
        }
    }
}
