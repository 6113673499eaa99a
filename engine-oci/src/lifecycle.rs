//! The OCI lifecycle in a root anyctr owns: bundles prepared from an image rootfs, run under a
//! monitor that records the exit code.
//!
//! Layout beside the root `R` (see [`crate::roots`]): `R.anyctr/owner` (the ownership mark),
//! `R.anyctr/bundles/<id>/{config.json,rootfs/,output.log,runtime.log,exit-code}`. Images are
//! rootfs tarballs (`docker export` format) in the image store, `<images>/<reference with every
//! character but [A-Za-z0-9._-] as _>.tar`, unpacked with the tar crate (which refuses `..` and
//! writes through no symlink out of the destination).
//!
//! Why not `runc create` + `runc start`: the init of a `runc create` is orphaned when `runc create`
//! returns, and without a shim or a subreaper nobody can collect its exit status. So `create`
//! prepares the bundle (OCI's "creating"; the container is `Created` while its bundle waits), and
//! `start` runs `<runtime> run` in the foreground under `sh`, detached in its own process group:
//! the runtime waits for its init and exits with its status, which `sh` writes to `exit-code`
//! (surviving the agent); `run` deletes the runtime's state when the init exits.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyctr_core::model::{CreateSpec, MountSpecKind};
use anyctr_core::{Error, ErrorKind, Result};
use serde_json::{Value, json};

use crate::convert::{IMAGE_ANNOTATION, NAME_ANNOTATION};

/// Where a container's bundle lives.
pub fn bundle_dir(sidecar: &Path, id: &str) -> PathBuf {
    sidecar.join("bundles").join(id)
}

/// The image store's file for a reference.
pub fn image_tar(images: &Path, reference: &str) -> PathBuf {
    let name: String = reference
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    images.join(format!("{name}.tar"))
}

/// A container name (or id) the runtimes accept (runc: `^[\w+-\.]+$`), not `.`/`..`.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_argument(format!("bad container id {id:?} (allowed: [A-Za-z0-9_+.-])")))
    }
}

/// A fresh container id: 64 lowercase hex digits from the kernel's random source, the shape
/// docker and containerd give theirs (and the one `anyctr_host::cgroup_path` accepts in the
/// `/<namespace>/<id>` layout of [`runtime_spec`]'s cgroup path).
pub fn fresh_id() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Refuses what this engine cannot create, before anything is written.
pub fn check_spec(spec: &CreateSpec) -> Result<()> {
    spec.validate()?;
    spec.refuse_log_options(crate::NAME, "a bare runtime keeps no log of its containers")?;
    if spec.pod_sandbox.is_some() {
        return Err(Error::new(ErrorKind::Unsupported, "the OCI runtime engine has no pods"));
    }
    if let Some(m) = spec.mounts.iter().find(|m| m.kind == MountSpecKind::Volume) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("no named volumes under a bare runtime ({:?})", m.source),
        ));
    }
    if let Some(mode) = spec.network_mode.as_deref().filter(|m| !matches!(*m, "none" | "host")) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("network mode {mode:?}: a bare runtime has only none and host"),
        ));
    }
    if spec.user.as_deref().is_some_and(|u| u.split(':').any(|p| p.parse::<u32>().is_err())) {
        return Err(Error::invalid_argument("a bare runtime's create takes a numeric uid[:gid] user"));
    }
    Ok(())
}

/// Unpacks the image's rootfs tarball into `rootfs`.
pub fn unpack_rootfs(tar_path: &Path, rootfs: &Path) -> Result<()> {
    let file = std::fs::File::open(tar_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::not_found(format!(
            "image rootfs {} is not in the image store (a `docker export` tarball goes there)",
            tar_path.display()
        )),
        _ => e.into(),
    })?;
    std::fs::create_dir_all(rootfs)?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    archive.set_preserve_permissions(true);
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(true);
    archive
        .unpack(rootfs)
        .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("unpacking the image rootfs: {e}")))
}

/// The OCI runtime spec for a container of `spec` (runc's `runc spec` defaults, with the spec's
/// command, env, user, cwd, hostname, mounts and labels as annotations).
pub fn runtime_spec(spec: &CreateSpec, id: &str, created: &str) -> Value {
    let mut env = vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned()];
    env.extend(spec.env.iter().cloned());
    let (uid, gid) = spec
        .user
        .as_deref()
        .map(|u| {
            let mut parts = u.split(':').map(|p| p.parse::<u32>().unwrap_or(0));
            (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
        })
        .unwrap_or((0, 0));
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE"
    ]);
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        // The container's own cgroup, read-only, as `runc spec` and the daemons give it: what
        // programs read their limits from.
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ];
    for m in &spec.mounts {
        let ro = if m.read_only { "ro" } else { "rw" };
        mounts.push(match m.kind {
            MountSpecKind::Bind => json!({"destination": m.destination, "type": "bind", "source": m.source, "options": ["rbind", "rprivate", ro]}),
            MountSpecKind::Tmpfs => json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", ro]}),
            // Refused by check_spec.
            MountSpecKind::Volume => continue,
        });
    }
    let mut namespaces =
        vec![json!({"type": "pid"}), json!({"type": "ipc"}), json!({"type": "uts"}), json!({"type": "mount"})];
    if spec.network_mode.as_deref() != Some("host") {
        namespaces.push(json!({"type": "network"}));
    }
    let mut annotations: serde_json::Map<String, Value> =
        spec.labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    annotations.insert(IMAGE_ANNOTATION.into(), Value::String(spec.image.clone()));
    if let Some(name) = &spec.name {
        annotations.insert(NAME_ANNOTATION.into(), Value::String(name.clone()));
    }
    annotations.insert("io.anyctr.created".into(), Value::String(created.to_owned()));
    // The memory limit (validated by the spec) is the cgroup's, as the daemons set it.
    let resources = match spec.memory_limit {
        Some(limit) => json!({"memory": {"limit": limit}}),
        None => json!({}),
    };
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": uid, "gid": gid},
            "args": if spec.argv.is_empty() { vec!["sh".to_owned()] } else { spec.argv.clone() },
            "env": env,
            "cwd": spec.working_dir.clone().unwrap_or_else(|| "/".to_owned()),
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": spec.hostname.clone().unwrap_or_else(|| id.chars().take(12).collect()),
        "mounts": mounts,
        "annotations": annotations,
        "linux": {
            "cgroupsPath": format!("/anyctr-oci/{id}"),
            "namespaces": namespaces,
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            "resources": resources
        }
    })
}

/// The file in a bundle that says anyctr started its container.
pub const STARTED_FILE: &str = "started";

/// The exit code the monitor wrote, if the container has exited.
pub fn recorded_exit(bundle: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(bundle.join("exit-code")).ok()?;
    text.trim().parse().ok()
}

/// The monitor: `sh` runs the runtime in the foreground and records its exit status. Arguments
/// are passed positionally, never interpolated into the script.
const MONITOR: &str = r#"b="$1"; shift
"$@" </dev/null >"$b/output.log" 2>&1
echo $? >"$b/exit-code.tmp" && mv "$b/exit-code.tmp" "$b/exit-code""#;

/// Starts `binary --root root run --bundle bundle id` under the monitor and waits (bounded) until
/// the container runs or has run. A runtime failure is reported from the runtime's log.
pub async fn start(binary: &Path, root: &Path, bundle: &Path, id: &str, proc: &Path, bound: Duration) -> Result<()> {
    let _ = std::fs::remove_file(bundle.join("exit-code"));
    std::fs::write(bundle.join(STARTED_FILE), b"")?;
    let log = bundle.join("runtime.log");
    let _ = std::fs::remove_file(&log);
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(MONITOR).arg("anyctr-oci-monitor").arg(bundle).arg(binary);
    cmd.arg("--root").arg(root).arg("--log").arg(&log).arg("--log-format").arg("json");
    cmd.arg("run").arg("--bundle").arg(bundle).arg(id);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
    // Dropped without waiting: tokio reaps it when it exits; if the agent goes first, the monitor
    // lives on (reparented) and still records the exit code.
    let _monitor = cmd.spawn().map_err(|e| crate::exec::spawn_error(Path::new("sh"), e))?;
    let deadline = Instant::now() + bound;
    loop {
        if let Some(code) = recorded_exit(bundle) {
            if let Some(message) = runtime_errors(&log) {
                return Err(Error::new(
                    kind_of(&message),
                    format!("the runtime could not start the container: {message}"),
                ));
            }
            tracing::debug!(id, code, "container ran to its end before start returned");
            return Ok(());
        }
        if let Ok(Some(state)) = crate::state::read_one(root, id)
            && !state.awaiting_start
            && state.pid.is_some_and(|p| crate::state::init_alive(proc, p, state.pid_start))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::new(ErrorKind::Timeout, format!("container {id} did not start within {bound:?}")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Error-level messages of a runtime's JSON log.
pub fn runtime_errors(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let messages: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| matches!(v.get("level").and_then(Value::as_str), Some("error" | "fatal")))
        .filter_map(|v| v.get("msg").and_then(Value::as_str).map(str::to_owned))
        .collect();
    (!messages.is_empty()).then(|| messages.join("; "))
}

/// The kind of a runtime's complaint about a start.
fn kind_of(message: &str) -> ErrorKind {
    anyctr_core::exec_failure::runtime_message_kind(&format!("exec failed: {message}")).unwrap_or(ErrorKind::Unexpected)
}

/// Runs a runtime command to its end (bounded); `Ok(())` on exit 0, else an error with its words.
pub async fn runtime_call(binary: &Path, root: &Path, args: &[&str], bound: Duration) -> Result<()> {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.arg("--root").arg(root).args(args).stdin(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(bound, cmd.output())
        .await
        .map_err(|_| {
            Error::new(ErrorKind::Timeout, format!("{} {} took over {bound:?}", binary.display(), args.join(" ")))
        })?
        .map_err(|e| crate::exec::spawn_error(binary, e))?;
    if out.status.success() {
        return Ok(());
    }
    let words = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let lower = words.to_ascii_lowercase();
    let kind = if lower.contains("does not exist") || lower.contains("not found") {
        ErrorKind::NotFound
    } else if lower.contains("not running") || lower.contains("stopped") {
        ErrorKind::Conflict
    } else {
        ErrorKind::Unexpected
    };
    Err(Error::new(kind, format!("{} {}: {words}", binary.display(), args.join(" "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_specs_and_image_names() {
        assert!(check_id("anyctr-main-1.2+x_y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "../x"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert_eq!(image_tar(Path::new("/i"), "docker.io/busybox:local"), Path::new("/i/docker.io_busybox_local.tar"));
        let spec = CreateSpec::new("busybox:local").argv(["sleep", "1"]).label("a", "b").env("X=1");
        let oci = runtime_spec(&spec.clone().name("web"), "c1", "2026-01-01T00:00:00Z");
        assert_eq!(oci["annotations"][NAME_ANNOTATION], "web");
        let id = fresh_id().unwrap();
        assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) && check_id(&id).is_ok());
        assert_eq!(oci["process"]["args"], json!(["sleep", "1"]));
        assert_eq!(oci["annotations"]["a"], "b");
        assert_eq!(oci["annotations"][IMAGE_ANNOTATION], "busybox:local");
        assert!(check_spec(&CreateSpec::new("x").pod_sandbox("p")).is_err());
        assert!(check_spec(&CreateSpec::new("x").user("nobody")).is_err());
        assert_eq!(oci["linux"]["resources"], json!({}));
        let mut limited = spec.clone();
        limited.memory_limit = Some(64 << 20);
        let oci = runtime_spec(&limited, "c2", "2026-01-01T00:00:00Z");
        assert_eq!(oci["linux"]["resources"]["memory"]["limit"], 64 << 20);
        let cgroup = oci["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/sys/fs/cgroup");
        assert_eq!(cgroup.map(|m| &m["type"]), Some(&json!("cgroup")));
    }
}
