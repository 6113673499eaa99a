//! `inspect.*`, `lookup.*` and `pods.*`: what list and inspect report about the fixture.

use std::path::Path;

use super::{Fixture, Trial, TrialContext, TrialResult, ensure, fail};
use crate::ErrorKind;
use crate::engine::ListOptions;
use crate::model::{ContainerDetail, PodRole, short_id};

pub(super) fn trials() -> Vec<Trial> {
    vec![
        Trial { name: "inspect.list_running", requires: &["inspect"], run: |c| Box::pin(list_running(c)) },
        Trial { name: "inspect.list_label_filter", requires: &["inspect"], run: |c| Box::pin(list_label_filter(c)) },
        Trial { name: "inspect.labels_env", requires: &["inspect"], run: |c| Box::pin(labels_env(c)) },
        Trial { name: "inspect.state", requires: &["inspect"], run: |c| Box::pin(state(c)) },
        Trial { name: "inspect.runtime_class", requires: &["inspect"], run: |c| Box::pin(runtime_class(c)) },
        Trial { name: "inspect.mounts", requires: &["inspect"], run: |c| Box::pin(mounts(c)) },
        Trial { name: "inspect.log_path", requires: &["inspect"], run: |c| Box::pin(log_path(c)) },
        Trial { name: "lookup.full_id", requires: &["inspect"], run: |c| Box::pin(lookup_full_id(c)) },
        Trial { name: "lookup.short_prefix", requires: &["inspect"], run: |c| Box::pin(lookup_prefix(c)) },
        Trial { name: "lookup.name", requires: &["inspect"], run: |c| Box::pin(lookup_name(c)) },
        Trial { name: "lookup.unknown", requires: &["inspect"], run: |c| Box::pin(lookup_unknown(c)) },
        Trial { name: "pods.identity", requires: &["inspect", "pods"], run: |c| Box::pin(pod_identity(c)) },
        Trial { name: "pods.sandbox", requires: &["inspect", "pods"], run: |c| Box::pin(pod_sandbox(c)) },
    ]
}

async fn detail(ctx: &TrialContext) -> Result<ContainerDetail, String> {
    ctx.engine.inspect(&ctx.fixture.id).await.map_err(fail("inspect of the fixture"))
}

async fn list_running(ctx: &TrialContext) -> TrialResult {
    let running = ctx.engine.list(&ListOptions::running()).await.map_err(fail("list"))?;
    let me = running.iter().find(|c| c.id == ctx.fixture.id);
    ensure!(me.is_some(), "the running fixture {} is not in the list of running containers", ctx.fixture.id);
    let me = me.unwrap();
    ensure!(me.status.is_running(), "listed with status {:?}", me.status);
    if ctx.fixture.expect.labels_hidden {
        return Ok(format!("{} running containers listed (labels not visible here)", running.len()));
    }
    ensure!(
        me.labels.get(super::fixture::RUN_LABEL) == Some(&ctx.run_id),
        "listed labels lack {}={}: {:?}",
        super::fixture::RUN_LABEL,
        ctx.run_id,
        me.labels
    );
    Ok(format!("{} running containers listed", running.len()))
}

async fn list_label_filter(ctx: &TrialContext) -> TrialResult {
    if ctx.fixture.expect.labels_hidden {
        return Ok("skipped: labels set at creation are not visible through this engine".into());
    }
    let filter = format!("{}={}", super::fixture::RUN_LABEL, ctx.run_id);
    let hits = ctx.engine.list(&ListOptions::all().label(&filter)).await.map_err(fail("list with a label filter"))?;
    let ids: Vec<&str> = hits.iter().map(|c| c.short_id()).collect();
    ensure!(hits.iter().any(|c| c.id == ctx.fixture.id), "filter {filter} missed the fixture: {ids:?}");
    ensure!(
        hits.iter().all(|c| c.labels.get(super::fixture::RUN_LABEL) == Some(&ctx.run_id)),
        "filter {filter} let through containers without the label: {ids:?}"
    );
    let none = ctx.engine.list(&ListOptions::all().label("anyctr.no-such-label=x")).await.map_err(fail("list"))?;
    ensure!(none.is_empty(), "a filter on a label nobody has matched {} containers", none.len());
    Ok(format!("filter matched {}", ids.len()))
}

async fn labels_env(ctx: &TrialContext) -> TrialResult {
    let d = detail(ctx).await?;
    let labels = if ctx.fixture.expect.labels_hidden { &Default::default() } else { &ctx.fixture.spec.labels };
    for (k, v) in labels {
        ensure!(d.labels.get(k) == Some(v), "label {k}={v} missing: {:?}", d.labels);
    }
    ensure!(d.env.iter().any(|e| e == Fixture::ENV), "env lacks {}: {:?}", Fixture::ENV, d.env);
    ensure!(d.env_var("ANYCTR_CONFORMANCE") == Some("yes"), "env_var lookup failed");
    ensure!(ctx.fixture.expect.labels_hidden || !d.image.is_empty(), "image is empty");
    Ok(format!("{} labels, {} env entries", d.labels.len(), d.env.len()))
}

async fn state(ctx: &TrialContext) -> TrialResult {
    let d = detail(ctx).await?;
    ensure!(d.state.status.is_running(), "status {:?}", d.state.status);
    ensure!(d.state.pid.is_some_and(|p| p > 0), "a running container reports pid {:?}", d.state.pid);
    ensure!(d.state.exit_code.is_none_or(|c| c == 0), "running container with exit code {:?}", d.state.exit_code);
    ensure!(!d.state.oom_killed, "running container marked OOM-killed");
    if ctx.capabilities.proc_root.is_supported() {
        let pid = d.proc_root_pid().ok_or("proc_root claimed but no proc root pid")?;
        ensure!(Path::new(&format!("/proc/{pid}/root")).exists(), "/proc/{pid}/root does not exist on this host");
    } else {
        ensure!(d.proc_root_pid().is_none(), "proc_root not claimed, yet proc_root_pid says {:?}", d.proc_root_pid());
    }
    Ok(format!("pid {:?}", d.state.pid))
}

async fn runtime_class(ctx: &TrialContext) -> TrialResult {
    let d = detail(ctx).await?;
    if let Some(want) = &ctx.fixture.expect.runtime {
        ensure!(&d.runtime == want, "runtime class {:?} (engine said {:?}), want {want:?}", d.runtime, d.runtime_name);
    }
    if d.runtime.is_sandboxed() {
        ensure!(!ctx.capabilities.host_rootfs.is_supported(), "a sandboxed container claims a host-visible rootfs");
        ensure!(
            d.merged_dir().is_none(),
            "a sandboxed container must not report a host merged dir, got {:?}",
            d.merged_dir()
        );
    }
    Ok(format!("{} ({})", d.runtime.as_str(), d.runtime_name))
}

async fn mounts(ctx: &TrialContext) -> TrialResult {
    let d = detail(ctx).await?;
    let find = |dest: &str| d.mounts.iter().find(|m| m.destination == Path::new(dest));
    let rw = find(Fixture::BIND_DEST).ok_or_else(|| format!("no mount at {}: {:?}", Fixture::BIND_DEST, d.mounts))?;
    ensure!(rw.source == ctx.fixture.bind_dir, "bind source {:?}, want {:?}", rw.source, ctx.fixture.bind_dir);
    ensure!(!rw.read_only, "the read-write bind is reported read-only");
    let ro = find(Fixture::RO_DEST).ok_or_else(|| format!("no mount at {}: {:?}", Fixture::RO_DEST, d.mounts))?;
    ensure!(ro.read_only, "the read-only bind is reported writable");
    ensure!(ro.source == ctx.fixture.ro_dir, "ro source {:?}, want {:?}", ro.source, ctx.fixture.ro_dir);
    Ok(format!("{} mounts", d.mounts.len()))
}

async fn log_path(ctx: &TrialContext) -> TrialResult {
    let d = detail(ctx).await?;
    let Some(want) = &ctx.fixture.expect.log_format else {
        return Ok("skipped: this setup keeps no container log file".into());
    };
    let path = d.log_path.as_ref().ok_or("no log path reported")?;
    ensure!(path.is_absolute(), "log path {path:?} is not absolute");
    ensure!(d.log_format.as_ref() == Some(want), "log format {:?}, want {want:?}", d.log_format);
    Ok(format!("{} ({want:?})", path.display()))
}

async fn lookup_full_id(ctx: &TrialContext) -> TrialResult {
    let d = detail(ctx).await?;
    ensure!(d.id == ctx.fixture.id, "inspect by id returned {}", d.id);
    Ok(d.short_id().to_owned())
}

async fn lookup_prefix(ctx: &TrialContext) -> TrialResult {
    let prefix = short_id(&ctx.fixture.id);
    let d = ctx.engine.inspect(prefix).await.map_err(fail("inspect by 12-char prefix"))?;
    ensure!(d.id == ctx.fixture.id, "prefix {prefix} resolved to {}", d.id);
    Ok(prefix.to_owned())
}

async fn lookup_name(ctx: &TrialContext) -> TrialResult {
    let d = ctx.engine.inspect(&ctx.fixture.name).await.map_err(fail("inspect by name"))?;
    ensure!(d.id == ctx.fixture.id, "name {} resolved to {}", ctx.fixture.name, d.id);
    Ok(ctx.fixture.name.clone())
}

async fn lookup_unknown(ctx: &TrialContext) -> TrialResult {
    match ctx.engine.inspect("anyctr-no-such-container-ffffffff").await {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            ensure!(e.engine().is_some(), "the NotFound error does not name the engine: {e}");
            Ok(e.to_string())
        }
        Err(e) => Err(format!("an unknown container gave {:?}, want NotFound: {e}", e.kind())),
        Ok(d) => Err(format!("an unknown container resolved to {}", d.id)),
    }
}

async fn pod_identity(ctx: &TrialContext) -> TrialResult {
    let Some((pod, sandbox)) = &ctx.fixture.pod else {
        return Ok("skipped: the fixture was not created in a pod".into());
    };
    let d = detail(ctx).await?;
    ensure!(d.pod.pod_name.as_deref() == Some(&pod.name), "pod name {:?}, want {}", d.pod.pod_name, pod.name);
    ensure!(d.pod.namespace.as_deref() == Some(&pod.namespace), "namespace {:?}", d.pod.namespace);
    ensure!(d.pod.pod_uid.as_deref() == Some(&pod.uid), "pod uid {:?}", d.pod.pod_uid);
    ensure!(d.pod.sandbox_id.as_deref() == Some(sandbox.as_str()), "sandbox id {:?}, want {sandbox}", d.pod.sandbox_id);
    ensure!(d.pod.role != Some(PodRole::Sandbox), "the main container is marked as sandbox");
    ensure!(d.pod.container_name.is_some(), "no Kubernetes container name");
    Ok(format!("{}/{}", pod.namespace, pod.name))
}

async fn pod_sandbox(ctx: &TrialContext) -> TrialResult {
    let Some((pod, sandbox)) = &ctx.fixture.pod else {
        return Ok("skipped: the fixture was not created in a pod".into());
    };
    let s = ctx.engine.inspect(sandbox).await.map_err(fail("inspect of the sandbox"))?;
    ensure!(s.is_sandbox(), "the sandbox is not marked as one: role {:?}", s.pod.role);
    ensure!(s.pod.pod_uid.as_deref() == Some(&pod.uid), "sandbox pod uid {:?}", s.pod.pod_uid);
    let members = ctx.engine.list(&ListOptions::all()).await.map_err(fail("list"))?;
    ensure!(members.iter().any(|c| c.id == s.id), "the sandbox is not listed");
    Ok(s.short_id().to_owned())
}
