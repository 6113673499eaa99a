//! Property test: whatever archive arrives (hostile names, links, hard links, truncation), an
//! unpack writes nothing outside the destination, leaves no link that resolves outside it, and
//! on failure leaves the destination as it was.

mod support;

use std::fs;
use std::path::Path;

use anyctr_host::tar_safety::{UnpackOptions, unpack};
use proptest::prelude::*;
use support::tar::{Item, archive, listing};

const NAMES: &[&str] =
    &["a", "b", "a/b", "a/b/c", "b/a", "..", "../x", "a/../../x", "/abs", "./a", "a/./b", "l", "a/l"];
const TARGETS: &[&str] =
    &[".", "..", "../..", "a", "b/c", "/", "/etc", "../a", "a/../..", "l", "./a", "../../../x", ""];

#[derive(Debug, Clone)]
enum Spec {
    Dir(usize),
    File(usize, Vec<u8>),
    Symlink(usize, usize),
    Hardlink(usize, usize),
}

fn spec() -> impl Strategy<Value = Spec> {
    let n = 0..NAMES.len();
    prop_oneof![
        n.clone().prop_map(Spec::Dir),
        (n.clone(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(i, d)| Spec::File(i, d)),
        (n.clone(), 0..TARGETS.len()).prop_map(|(i, t)| Spec::Symlink(i, t)),
        (n.clone(), n).prop_map(|(i, t)| Spec::Hardlink(i, t)),
    ]
}

/// Where `p` (a path under `dest`, maybe a link) ends up once the kernel resolves it, if it does.
fn resolves_inside(p: &Path, dest: &Path) -> bool {
    match p.canonicalize() {
        Ok(c) => c.starts_with(dest),
        // Dangling: the link text itself must not climb out (checked lexically by unpack).
        Err(_) => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn unpack_never_escapes_and_failures_leave_nothing(specs in prop::collection::vec(spec(), 1..10)) {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let dest = base.join("dest");
        fs::create_dir(&dest).unwrap();
        let items: Vec<Item<'_>> = specs
            .iter()
            .map(|s| match s {
                Spec::Dir(i) => Item::Dir(NAMES[*i], 0o755),
                Spec::File(i, d) => Item::File(NAMES[*i], 0o644, d),
                Spec::Symlink(i, t) => Item::Symlink(NAMES[*i], TARGETS[*t]),
                Spec::Hardlink(i, t) => Item::Hardlink(NAMES[*i], NAMES[*t]),
            })
            .collect();
        let result = unpack(archive(&items).as_slice(), &dest, &UnpackOptions::default());
        prop_assert_eq!(listing(&base).iter().filter(|p| !p.starts_with("dest")).count(), 0, "wrote outside: {:?}", listing(&base));
        match result {
            Ok(_) => {
                for rel in listing(&dest) {
                    let p = dest.join(&rel);
                    prop_assert!(resolves_inside(&p, &dest), "{} resolves outside", rel);
                    if let Ok(target) = fs::read_link(&p) {
                        prop_assert!(!target.is_absolute(), "{} -> {}", rel, target.display());
                    }
                }
            }
            Err(e) => prop_assert!(listing(&dest).is_empty(), "{e}: left {:?}", listing(&dest)),
        }
    }
}
