//! [`Plan`]: one setup to certify, and the expectations and not-applicable reasons that hold for
//! an engine whatever node it runs on.

use anyctr_conformance::{Expectations, ExpectedLog};
use anyctr_core::model::{LogFormat, RuntimeClass};

/// Where a setup's engine lives and how its fixtures are made: [`Plan::new`], then set the
/// public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Plan {
    /// The setup's name (`docker/runc`, `containerd-cri/rund`, …): the matrix's column.
    pub name: String,
    /// The engine's address.
    pub address: String,
    /// The runtime fixtures are created with (docker runtime, CRI handler); `None`: the engine's default.
    pub runtime: Option<String>,
    /// What the setup states about its fixture; the trials check it.
    pub expect: Expectations,
    /// Fixtures are made through the engine at this address (dockerd) and observed through the
    /// one under test (containerd in namespace `moby`).
    pub made_by: Option<String>,
    /// An OCI runtime setup's image store is filled from the dockerd at this address (the test
    /// image's rootfs, `docker export`ed once), see [`prepare_oci_image`](super::prepare_oci_image).
    pub export_from: Option<String>,
    /// A CRI runtime's address (`cri://<socket>`): the runtime rotates the fixtures' logs only
    /// when told, and `logs.rotation` tells it as kubelet does (rename, then `ReopenContainerLog`
    /// on this runtime; [`KubeletRotation`](super::KubeletRotation)).
    pub rotate_logs_through: Option<String>,
    /// A setup that may legitimately be absent (pouch on a node without pouchd): not reachable is
    /// then not a failure.
    pub optional: bool,
    /// Trials (by name prefix) that do not apply here, and why: the only way a trial is skipped.
    pub not_applicable: Vec<(&'static str, String)>,
}

impl Plan {
    /// A setup named `name` of the engine at `address`, fixtures created with `runtime` by the
    /// engine itself, expected as `expect`; nothing declared not applicable.
    pub fn new(
        name: impl Into<String>,
        address: impl Into<String>,
        runtime: Option<&str>,
        expect: Expectations,
    ) -> Self {
        Plan {
            name: name.into(),
            address: address.into(),
            runtime: runtime.map(Into::into),
            expect,
            made_by: None,
            export_from: None,
            rotate_logs_through: None,
            optional: false,
            not_applicable: Vec::new(),
        }
    }
}

/// Why `logs.rotation` is not applicable on Podman (seen on the harness's podman 4.3): with
/// `max-size`, conmon renames a fresh file over the log and keeps no copy, so a follower one
/// rotation behind cannot read what was in between (anyctr's reader counts the replacements and
/// announces the loss: anyctr-host `logs::tests::replacements_*`).
pub const PODMAN_ROTATION: &str = "conmon's log_size_max rotation renames a fresh file over the log and keeps no copy: lines of a file replaced before the follower reads it are gone (anyctr announces them as a gap), so every line once cannot be promised";

/// Why `logs.rotation` is not applicable on a CRI runtime when this anyctr has no engine `cri`.
pub const CRI_ROTATION: &str = "the CRI runtime rotates container logs only when kubelet tells it (rename, then \
    ReopenContainerLog), which the setup does through engine `cri`, and this anyctr is built without it";

/// The CRI address of the runtime serving `address` (a `cri://` address, or containerd's socket,
/// whose CRI plugin answers there too): what kubelet would tell to reopen a rotated log.
pub fn cri_address(address: &str) -> Option<String> {
    let parsed = anyctr_core::EngineAddress::parse(address).ok()?;
    match parsed.engine.as_deref()? {
        "cri" => Some(address.to_owned()),
        "containerd" => Some(format!("cri://{}", parsed.socket?.display())),
        _ => None,
    }
}

/// Where each engine keeps a container's log, by the engine's kind: `docker` (dockerd's json-file
/// driver, its default: `<data root>/containers/<id>/<id>-json.log`), `cri` (kubelet's layout,
/// which the CRI plugin writes to: `<pod log dir>/<container name>/<attempt>.log`), `podman`
/// (conmon's k8s-file driver: CRI lines in `userdata/ctr.log`), `pouch` (json-file under pouchd's
/// home `/var/lib/pouch`). `None` for any other kind.
pub fn expected_log(kind: &str) -> Option<ExpectedLog> {
    match kind {
        "docker" => Some(ExpectedLog::new(LogFormat::JsonFile, "containers/{id}/{id}-json.log")),
        "cri" => {
            Some(ExpectedLog::new(LogFormat::Cri, "/var/log/pods/{pod_namespace}_{pod_name}_{pod_uid}/{name}/0.log"))
        }
        "podman" => Some(ExpectedLog::new(LogFormat::Cri, "overlay-containers/{id}/userdata/ctr.log")),
        "pouch" => Some(ExpectedLog::new(LogFormat::JsonFile, "/var/lib/pouch/containers/{id}/json.log")),
        _ => None,
    }
}

/// What does not apply to containerd's `moby` namespace, where dockerd makes the fixtures and
/// containerd only observes them (the runtime-class entry is the caller's).
pub fn moby_not_applicable() -> Vec<(&'static str, String)> {
    let why = "dockerd creates these containers; containerd has no record of one until it starts".to_owned();
    vec![
        ("lifecycle.", why.clone()),
        ("events.", why.clone()),
        ("index.", why.clone()),
        ("stats.", why.clone()),
        // These two make a container of their own (a zombie maker, a TZ-set one) through the
        // engine under test, which cannot create here.
        ("top.pid1_and_zombies", why.clone()),
        ("probe.timezone", why),
        ("pods.", "dockerd makes the fixture without a pod; docker has no pods of its own".into()),
        ("images.list", "dockerd 20.10 keeps images in its own store (overlay2), none in namespace moby".into()),
    ]
}

/// The expectations of a fixture of `class`, with `log`, in a pod or not; labels visible.
pub(crate) fn expect(class: RuntimeClass, log: Option<ExpectedLog>, pod: bool) -> Expectations {
    Expectations { runtime: class, log, pod, labels_hidden: false }
}
