//! `probe.timezone`, `probe.libc`, `probe.hostname`, `probe.pid1`: the container probes of
//! [`anyctr_host::probes`], each checked against what the container itself shows through an
//! exec, and reached the way the runtime allows (the host for runc-class, an exec in a sandbox).

use super::trials_top::expected_source;
use super::{Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::model::{ContainerDetail, ExecRequest, LibcKind, Linkage, ProbeVia, TopSource};
use anyctr_host::probes;

pub(super) fn trials() -> Vec<Trial> {
    const REQUIRES: &[&str] = &["inspect", "exec", "probes"];
    vec![
        Trial {
            name: "probe.timezone",
            requires: &["inspect", "exec", "probes", "lifecycle"],
            run: |c| Box::pin(timezone(c)),
        },
        Trial { name: "probe.libc", requires: REQUIRES, run: |c| Box::pin(libc(c)) },
        Trial { name: "probe.hostname", requires: REQUIRES, run: |c| Box::pin(hostname(c)) },
        Trial { name: "probe.pid1", requires: REQUIRES, run: |c| Box::pin(pid1(c)) },
    ]
}

fn expected_via(ctx: &TrialContext) -> ProbeVia {
    if expected_source(ctx) == TopSource::HostProc { ProbeVia::Host } else { ProbeVia::Exec }
}

async fn detail(ctx: &TrialContext, id: &str) -> Result<ContainerDetail, String> {
    ctx.engine.inspect(id).await.map_err(fail("inspect"))
}

/// Runs `script` in the fixture; its stdout, trimmed.
async fn sh(ctx: &TrialContext, script: &str) -> Result<String, String> {
    let r = ctx.engine.exec(&ctx.fixture.id, ExecRequest::shell(script)).await.map_err(fail("exec"))?;
    ensure!(r.exit_code == 0, "`{script}` exited {}: {}", r.exit_code, r.stderr_lossy());
    Ok(r.stdout_lossy().trim().to_owned())
}

async fn timezone(ctx: &TrialContext) -> TrialResult {
    let fixture = detail(ctx, &ctx.fixture.id).await?;
    ensure!(fixture.env_var("TZ").is_none(), "the fixture has TZ set: {:?}", fixture.env);
    let had_localtime = sh(ctx, "[ -e /etc/localtime ] || [ -L /etc/localtime ] && echo yes || true").await? == "yes";
    let mut seen = Vec::new();
    if !had_localtime {
        let tz = probes::timezone(&*ctx.engine, &fixture, None).await.map_err(fail("timezone"))?;
        ensure!(tz.via == expected_via(ctx), "via {:?}", tz.via);
        ensure!(tz.value.defaulted && tz.value.name.as_deref() == Some("UTC"), "no /etc/localtime: {tz:?}");
        seen.push(format!("default UTC via {:?}", tz.via));
        // A link the way distributions make it (its target need not exist: the name is the link's).
        sh(ctx, "ln -s /usr/share/zoneinfo/Asia/Tokyo /etc/localtime").await?;
        let linked = probes::timezone(&*ctx.engine, &fixture, None).await;
        let _ = sh(ctx, "rm -f /etc/localtime").await;
        let linked = linked.map_err(fail("timezone with a link"))?;
        ensure!(linked.value.name.as_deref() == Some("Asia/Tokyo") && !linked.value.defaulted, "{linked:?}");
        ensure!(linked.via == expected_via(ctx) && linked.found_by.contains("/etc/localtime"), "{linked:?}");
        seen.push(format!("/etc/localtime link via {:?}", linked.via));
    }
    // TZ in the environment wins, from the engine's answer alone.
    let mut spec = super::trials_lifecycle::extra_spec(ctx, "tz", &["sleep", "600"]);
    spec.env.push("TZ=Europe/Berlin".into());
    let id = ctx.create_extra(spec).await?;
    ctx.engine.start(&id).await.map_err(fail("start"))?;
    let tz = probes::timezone(&*ctx.engine, &detail(ctx, &id).await?, None).await.map_err(fail("timezone (TZ)"))?;
    ensure!(tz.value.name.as_deref() == Some("Europe/Berlin") && tz.via == ProbeVia::Inspect, "{tz:?}");
    seen.push("TZ=Europe/Berlin via inspect".into());
    Ok(seen.join("; "))
}

async fn libc(ctx: &TrialContext) -> TrialResult {
    let got = probes::libc(&*ctx.engine, &detail(ctx, &ctx.fixture.id).await?, None).await.map_err(fail("libc"))?;
    ensure!(got.via == expected_via(ctx), "via {:?}", got.via);
    // What the image really holds, asked with the shell's own globbing and grep.
    let loaders = sh(ctx, "ls -d /lib/ld-musl-* /usr/lib/ld-musl-* 2>/dev/null | head -1; echo /; ls -d /lib/ld-linux* /lib64/ld-linux* /usr/lib/ld-linux* /usr/lib64/ld-linux* /lib/*-linux-gnu*/ld-linux* /usr/lib/*-linux-gnu*/ld-linux* 2>/dev/null | head -1").await?;
    let (musl, glibc) = loaders.split_once('/').map(|(m, g)| (m.trim(), g.trim())).unwrap_or_default();
    let want = if !musl.is_empty() {
        (LibcKind::Musl, Linkage::Dynamic)
    } else if !glibc.is_empty() {
        (LibcKind::Glibc, Linkage::Dynamic)
    } else {
        // No loader: pid 1 must be static; glibc's symbol tags tell glibc.
        // (gVisor refuses reads of /proc/1/exe: pid 1's argv[0] in PATH there.)
        let script = "e=/proc/1/exe; head -c 1 $e >/dev/null 2>&1 || for d in /bin /usr/bin /sbin /usr/sbin; do \
                      [ -f $d/$(cat /proc/1/comm) ] && e=$d/$(cat /proc/1/comm) && break; done; \
                      grep -q GLIBC_ \"$e\" && echo glibc || echo none";
        let marker = sh(ctx, script).await?;
        (if marker == "glibc" { LibcKind::Glibc } else { LibcKind::Unknown }, Linkage::Static)
    };
    ensure!(
        (got.value.kind, got.value.linkage) == want,
        "probe says {:?}, the image holds {want:?}: {got:?}",
        got.value
    );
    Ok(format!("{:?} {:?} via {:?}: {}", got.value.kind, got.value.linkage, got.via, got.found_by))
}

async fn hostname(ctx: &TrialContext) -> TrialResult {
    let got =
        probes::hostname(&*ctx.engine, &detail(ctx, &ctx.fixture.id).await?, None).await.map_err(fail("hostname"))?;
    let inside = sh(ctx, "uname -n").await?;
    ensure!(got.value == inside, "probe says {:?}, the container's UTS hostname is {inside:?}: {got:?}", got.value);
    Ok(format!("{} via {:?} ({})", got.value, got.via, got.found_by))
}

async fn pid1(ctx: &TrialContext) -> TrialResult {
    let fixture = detail(ctx, &ctx.fixture.id).await?;
    let got = probes::pid1(&*ctx.engine, &fixture, None).await.map_err(fail("pid1"))?;
    ensure!(got.via == expected_via(ctx), "via {:?}", got.via);
    let name = sh(ctx, "cat /proc/1/comm").await?;
    ensure!(
        got.value.name.as_deref() == Some(name.as_str()),
        "pid 1 is {name:?} inside, probe says {:?}",
        got.value.name
    );
    // Other trials may have left zombies under the fixture's `sleep` (it never reaps): the
    // count must be what /proc inside shows, and a zombie child of pid 1 means `false`.
    let inside =
        sh(ctx, "echo $$; cd /proc; for p in [0-9]*; do cut -d')' -f2 $p/stat 2>/dev/null | cut -d' ' -f2,3; done")
            .await?;
    let (me, listing) = inside.split_once('\n').unwrap_or_default();
    // The listing's own finished pipeline stages are its shell's zombies, not the container's.
    let zombies: Vec<&str> =
        listing.lines().filter(|l| l.starts_with("Z ") && l.trim_end() != format!("Z {me}")).collect();
    ensure!(
        got.value.zombies == zombies.len(),
        "probe counts {} zombies, /proc inside shows {zombies:?}",
        got.value.zombies
    );
    let pid1_zombie = zombies.iter().any(|l| l.trim_end() == "Z 1");
    if pid1_zombie {
        ensure!(got.value.reaps_zombies == Some(false), "pid 1 has zombie children, verdict {:?}", got.value.evidence);
    } else {
        ensure!(
            got.value.reaps_zombies.is_none(),
            "a plain sleep as pid 1 gives no evidence, got {:?}",
            got.value.evidence
        );
    }
    Ok(format!(
        "{name}: {} zombie(s), reaps {:?} ({:?}) via {:?}",
        got.value.zombies, got.value.reaps_zombies, got.value.evidence, got.via
    ))
}
