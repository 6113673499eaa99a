//! `inspect.*`, `lookup.*` and `pods.*`: what list and inspect report about the fixture, checked
//! against what the setup stated about it ([`super::Expectations`]).

use std::path::Path;

use super::{Fixture, Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::ErrorKind;
use anyctr_core::engine::ListOptions;
use anyctr_core::model::{ContainerDetail, ExecRequest, PodRole, PodSpec, short_id};

pub(super) fn trials() -> Vec<Trial> {
    vec![
        Trial { name: "inspect.list_running", requires: &["inspect"], run: |c| Box::pin(list_running(c)) },
        Trial { name: "inspect.list_label_filter", requires: &["inspect"], run: |c| Box::pin(list_label_filter(c)) },
        Trial { name: "inspect.labels_env", requires: &["inspect"], run: |c| Box::pin(labels_env(c)) },
        Trial { name: "inspect.state", requires: &["inspect"], run: |c| Box::pin(state(c)) },
        Trial {
            name: "inspect.proc_root",
            requires: &["inspect", "proc_root", "exec"],
            run: |c| Box::pin(proc_root(c)),
        },
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
        ensure!(
            !me.labels.contains_key(super::fixture::RUN_LABEL),
            "the setup says labels are hidden here, but the list shows {:?}",
            me.labels
        );
        return Ok(format!("{} running containers listed (labels hidden, as stated)", running.len()));
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
    let filter = format!("{}={}", super::fixture::RUN_LABEL, ctx.run_id);
    let hits = ctx.engine.list(&ListOptions::all().label(&filter)).await.map_err(fail("list with a label filter"))?;
    let ids: Vec<&str> = hits.iter().map(|c| c.short_id()).collect();
    if ctx.fixture.expect.labels_hidden {
        // The label is not visible, so the filter must not find the fixture by it.
        ensure!(hits.is_empty(), "the setup says labels are hidden here, but filter {filter} matched {ids:?}");
        return Ok(format!("filter {filter} matched nothing (labels hidden, as stated)"));
    }
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
    for (k, v) in &ctx.fixture.spec.labels {
        if ctx.fixture.expect.labels_hidden {
            ensure!(!d.labels.contains_key(k), "the setup says labels are hidden here, but inspect shows {k}");
        } else {
            ensure!(d.labels.get(k) == Some(v), "label {k}={v} missing: {:?}", d.labels);
        }
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
    Ok(format!("pid {:?}", d.state.pid))
}

async fn proc_root(ctx: &TrialContext) -> TrialResult {
    let d = detail(ctx).await?;
    let pid = d.proc_root_pid().ok_or("proc_root is claimed, but the detail offers no proc root pid")?;
    // The host's /proc/<pid>/root must show the container's own files: one written inside now.
    let marker = format!("/tmp/anyctr-procroot-{}", ctx.run_id);
    let r = ctx
        .engine
        .exec(&ctx.fixture.id, ExecRequest::shell(format!("echo {} > {marker}", ctx.run_id)))
        .await
        .map_err(fail("exec"))?;
    ensure!(r.exit_code == 0, "writing the marker failed: {}", r.stderr_lossy());
    let seen = format!("/proc/{pid}/root{marker}");
    let got = std::fs::read_to_string(&seen).map_err(|e| format!("reading {seen} on the host: {e}"))?;
    ensure!(got.trim() == ctx.run_id, "{seen} holds {got:?}");
    Ok(format!("pid {pid}"))
}

async fn runtime_class(ctx: &TrialContext) -> TrialResult {
    let d = detail(ctx).await?;
    let want = &ctx.fixture.expect.runtime;
    ensure!(&d.runtime == want, "runtime class {:?} (engine said {:?}), want {want:?}", d.runtime, d.runtime_name);
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
    let Some(want) = &ctx.fixture.expect.log else {
        ensure!(d.log_path.is_none(), "the setup says there is no log file, but inspect reports {:?}", d.log_path);
        return Ok("no log file, as stated".into());
    };
    let path = d.log_path.as_ref().ok_or("no log path reported")?;
    ensure!(path.is_absolute(), "log path {path:?} is not absolute");
    let expected = want.path_for(&ctx.fixture);
    ensure!(path.ends_with(&expected), "log path {path:?}, want one ending in {expected:?}");
    ensure!(d.log_format.as_ref() == Some(&want.format), "log format {:?}, want {:?}", d.log_format, want.format);
    Ok(format!("{} ({:?})", path.display(), want.format))
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

/// The fixture's pod: a setup whose fixture is not in one must declare the pod trials not applicable.
pub(super) fn fixture_pod(ctx: &TrialContext) -> Result<(&PodSpec, &String), String> {
    let (pod, sandbox) = ctx.fixture.pod.as_ref().ok_or(
        "pods are claimed, but the fixture is not in a pod: the setup must make one or declare pods.* not applicable",
    )?;
    Ok((pod, sandbox))
}

async fn pod_identity(ctx: &TrialContext) -> TrialResult {
    let (pod, sandbox) = fixture_pod(ctx)?;
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
    let (pod, sandbox) = fixture_pod(ctx)?;
    let s = ctx.engine.inspect(sandbox).await.map_err(fail("inspect of the sandbox"))?;
    ensure!(s.is_sandbox(), "the sandbox is not marked as one: role {:?}", s.pod.role);
    ensure!(s.pod.pod_uid.as_deref() == Some(&pod.uid), "sandbox pod uid {:?}", s.pod.pod_uid);
    let members = ctx.engine.list(&ListOptions::all()).await.map_err(fail("list"))?;
    ensure!(members.iter().any(|c| c.id == s.id), "the sandbox is not listed");
    Ok(s.short_id().to_owned())
}
