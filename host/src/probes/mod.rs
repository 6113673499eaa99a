//! Container probes: what an agent keeps per container — time zone, C library, hostname, pid 1
//! (name, whether it reaps zombies, the zombie count) — each answer saying how it was found
//! ([`Probed`]). The facade's `ProbeCache` computes them lazily and caches the static ones.
//!
//! Routes, cheapest first:
//! - the engine's inspect answer: `TZ` in the environment, the configured hostname;
//! - runc-class (the container claims `host_rootfs` and `proc_root`): the rootfs through
//!   `/proc/<init>/root` by descriptor ([`crate::hostfs`]), pid 1's executable through its
//!   `/proc/<init>` directory, the processes from the host's `/proc` ([`crate::top`]);
//! - sandboxed: one exec inside, its answer hex-encoded.
//!
//! - **Time zone**: `TZ` (inspect); else `/etc/localtime`'s link target under `zoneinfo/`; else
//!   `/etc/timezone`; else a copied zone file's POSIX rule (its TZif footer), naming no zone; no
//!   `/etc/localtime` at all is the C library's default, UTC.
//! - **libc**: a dynamic loader in the rootfs (`ld-musl-*` → musl, `ld-linux*` → glibc, in
//!   `/lib`, `/usr/lib`, `/lib64`, `/usr/lib64` and their `*-linux-gnu*` directories); else pid 1's
//!   executable (by exec: `/proc/1/exe`, or its `argv[0]` in `PATH` where gVisor refuses that read):
//!   its ELF interpreter, or, statically linked, glibc's `GLIBC_` symbol tags
//!   (Debian's busybox-static has them; a static musl binary carries no such marker and is
//!   `Unknown`).
//! - **Hostname**: the engine's configured hostname (inspect); else `/etc/hostname` in the
//!   rootfs; else (sandbox) the UTS hostname inside (`uname -n`; an empty one is answered empty).
//! - **Pid 1**: from [`crate::top`]; see there how reaping is decided.

mod evidence;
mod read;

use std::path::Path;

use anyctr_core::model::{ContainerDetail, Libc, Pid1, ProbeVia, Probed, TimeZone, TopSource};
use anyctr_core::registry::under_host_root;
use anyctr_core::{ContainerEngine, Error, ErrorKind, Result};

use crate::hostfs::{ProcRoot, proc_root};
use crate::top::{claimed_and_running, io_error};

/// How a probe reaches a container that inspect alone does not answer for.
enum Route {
    Host(ProcRoot),
    Exec,
}

fn route(engine: &dyn ContainerEngine, detail: &ContainerDetail, host_root: Option<&Path>) -> Result<Route> {
    let caps = engine.container_capabilities(detail);
    claimed_and_running(engine, detail, caps.probes, "probes")?;
    match detail.proc_root_pid() {
        Some(pid) if caps.proc_root.is_supported() && caps.host_rootfs.is_supported() => {
            let proc = under_host_root(host_root, Path::new("/proc"));
            proc_root(&proc, pid).map(Route::Host).map_err(|e| io_error(e, pid, "the container"))
        }
        _ if caps.exec.is_supported() => Ok(Route::Exec),
        _ => Err(Error::unsupported(engine.name(), "probes")),
    }
}

fn context(engine: &dyn ContainerEngine, detail: &ContainerDetail) -> impl Fn(Error) -> Error {
    let (name, id) = (engine.name().to_owned(), detail.id.clone());
    move |e| e.in_context(&name, "probes").with_container(&id)
}

/// The container's time zone.
pub async fn timezone(
    engine: &dyn ContainerEngine,
    detail: &ContainerDetail,
    host_root: Option<&Path>,
) -> Result<Probed<TimeZone>> {
    let ctx = context(engine, detail);
    if let Some(tz) = detail.env_var("TZ").filter(|v| !v.is_empty()) {
        // Checked like every probe: an engine that does not claim probes answers Unsupported.
        if !engine.container_capabilities(detail).probes.is_supported() {
            return Err(ctx(Error::unsupported(engine.name(), "probes")));
        }
        let name = tz.strip_prefix(':').unwrap_or(tz);
        return Ok(Probed::new(TimeZone::named(name), ProbeVia::Inspect, "TZ in the container's environment"));
    }
    let (facts, via) = match route(engine, detail, host_root).map_err(&ctx)? {
        Route::Host(init) => (read::zone_facts(&init.root), ProbeVia::Host),
        Route::Exec => (read::exec_facts(engine, &detail.id).await.map_err(&ctx)?.zone, ProbeVia::Exec),
    };
    let (tz, found_by) = evidence::zone(&facts);
    Ok(Probed::new(tz, via, found_by))
}

/// The container's C library.
pub async fn libc(
    engine: &dyn ContainerEngine,
    detail: &ContainerDetail,
    host_root: Option<&Path>,
) -> Result<Probed<Libc>> {
    let ctx = context(engine, detail);
    let (facts, via) = match route(engine, detail, host_root).map_err(&ctx)? {
        Route::Host(init) => {
            let proc = under_host_root(host_root, Path::new("/proc"));
            let facts = tokio::task::spawn_blocking(move || read::libc_facts(&proc, &init))
                .await
                .map_err(|e| ctx(Error::unexpected(format!("the libc probe panicked: {e}"))))?;
            (facts.map_err(|e| ctx(io_error(e, detail.state.pid.unwrap_or(0), "the libc")))?, ProbeVia::Host)
        }
        Route::Exec => (read::exec_facts(engine, &detail.id).await.map_err(&ctx)?.libc, ProbeVia::Exec),
    };
    let (libc, found_by) = evidence::libc(&facts);
    Ok(Probed::new(libc, via, found_by))
}

/// The container's hostname.
pub async fn hostname(
    engine: &dyn ContainerEngine,
    detail: &ContainerDetail,
    host_root: Option<&Path>,
) -> Result<Probed<String>> {
    let ctx = context(engine, detail);
    let configured = detail.hostname.as_deref().filter(|h| !h.is_empty());
    if let Some(name) = configured {
        if !engine.container_capabilities(detail).probes.is_supported() {
            return Err(ctx(Error::unsupported(engine.name(), "probes")));
        }
        return Ok(Probed::new(name.to_owned(), ProbeVia::Inspect, "the hostname the engine configured"));
    }
    let (name, via, found_by) = match route(engine, detail, host_root).map_err(&ctx)? {
        Route::Host(init) => (read::hostname_file(&init.root), ProbeVia::Host, "/etc/hostname in the rootfs"),
        Route::Exec => (
            read::exec_facts(engine, &detail.id).await.map_err(&ctx)?.hostname,
            ProbeVia::Exec,
            "the UTS hostname inside (uname -n)",
        ),
    };
    let name = name.ok_or_else(|| ctx(Error::new(ErrorKind::NotFound, format!("no hostname: {found_by} is empty"))))?;
    Ok(Probed::new(name, via, found_by))
}

/// Pid 1's name, whether it reaps zombies and the zombie count, from [`crate::top::top_of`].
pub async fn pid1(
    engine: &dyn ContainerEngine,
    detail: &ContainerDetail,
    host_root: Option<&Path>,
) -> Result<Probed<Pid1>> {
    let ctx = context(engine, detail);
    if !engine.container_capabilities(detail).probes.is_supported() {
        return Err(ctx(Error::unsupported(engine.name(), "probes")));
    }
    let top = crate::top::top_of(engine, detail, host_root).await.map_err(&ctx)?;
    let (via, from) = match top.source {
        TopSource::HostProc => (ProbeVia::Host, "the host's /proc"),
        _ => (ProbeVia::Exec, "/proc inside, by exec"),
    };
    let found_by = format!("processes read from {from}; reaping: {:?}", top.pid1_reaping);
    Ok(Probed::new(Pid1::from_top(&top), via, found_by))
}
