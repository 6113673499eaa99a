//! Runs the conformance suite against every setup this node offers and prints the engine × trial
//! matrix (and a JSON report). `cargo xtask conformance` starts the engines and runs this.
//!
//! Sockets come from the environment, defaulting to the harness's:
//! `ANYCTR_DOCKER_SOCKET`, `ANYCTR_CONTAINERD_SOCKET`, `ANYCTR_CONTAINERD_STATE_DIR`,
//! `ANYCTR_PODMAN_SOCKET`, `POUCH_SOCKET` (else `/var/run/pouchd.sock`), `ANYCTR_TEST_IMAGE`. To certify your own node, point
//! them at its sockets (add `ANYCTR_HOST_ROOT` when running inside a container).

use std::process::ExitCode;
use std::sync::Arc;

use anyctr::model::{CreateSpec, LogFormat, RuntimeClass};
use anyctr::prelude::*;
use anyctr::{DynEngine, EngineAddress, Result};
use anyctr_conformance::{
    EngineFixtures, Expectations, ExpectedLog, Fixture, FixtureFactory, FixtureSetup, SetupReport, render_coverage,
    render_matrix, run_setup,
};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Run the anyctr conformance suite against real engines")]
struct Args {
    /// Only setups whose name contains this (`docker`, `containerd-cri/rund`, `pouch`, …).
    #[arg(long)]
    engine: Option<String>,
    /// Only trials whose name contains this (`exec.`, `lookup.name`, …).
    #[arg(long)]
    trial: Option<String>,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

/// Where a setup's engine lives and how its fixtures are made.
struct Plan {
    name: &'static str,
    address: String,
    runtime: Option<&'static str>,
    expect: Expectations,
    /// Fixtures are made through docker and observed through this engine (containerd/moby).
    made_by_docker: bool,
    /// A setup that may legitimately be absent (pouch): "not reachable", not a failure.
    optional: bool,
    /// Trials (by name prefix) that do not apply here, and why: the only way a trial is skipped.
    not_applicable: Vec<(&'static str, String)>,
}

fn plans() -> Vec<Plan> {
    let docker = env_or("ANYCTR_DOCKER_SOCKET", "/run/anyctr-engines/docker.sock");
    let containerd = env_or("ANYCTR_CONTAINERD_SOCKET", "/run/anyctr-engines/containerd/containerd.sock");
    let state = env_or("ANYCTR_CONTAINERD_STATE_DIR", "/run/anyctr-engines/containerd");
    let pouch = env_or("POUCH_SOCKET", "/var/run/pouchd.sock");
    let podman = env_or("ANYCTR_PODMAN_SOCKET", "/run/anyctr-engines/podman.sock");
    let oci_base = env_or("ANYCTR_OCI_BASE", "/run/anyctr-oci");
    let cri = format!("containerd://{containerd}?namespace=k8s.io&state_dir={state}");
    let expect = |runtime: RuntimeClass, log: Option<ExpectedLog>, pod: bool| Expectations {
        runtime,
        log,
        pod,
        labels_hidden: false,
    };
    // dockerd: `<data root>/containers/<id>/<id>-json.log`.
    let docker_log = || Some(ExpectedLog::new(LogFormat::JsonFile, "containers/{id}/{id}-json.log"));
    // kubelet's layout, which the CRI plugin writes to: `<pod log dir>/<container name>/<attempt>.log`.
    let cri_log = || {
        let path = "/var/log/pods/{pod_namespace}_{pod_name}_{pod_uid}/{name}/0.log";
        Some(ExpectedLog::new(LogFormat::Cri, path))
    };
    // Rotation is the engine's doing: the trial asks dockerd for it with the container's log
    // options; the CRI plugin never rotates (kubelet does, by rename and ReopenContainerLog, which
    // anyctr does not call). The reader's rotation handling is also tested on real files
    // (anyctr-host logs::tests::follow_through_*, tests/logs_docker_rotation.rs).
    let no_rotation = |why: &str| vec![("logs.rotation", why.to_owned())];
    let cri_rotation = "the CRI plugin does not rotate its logs (kubelet does, by rename and ReopenContainerLog)";
    // Seen on the harness: with max-size, conmon renames a fresh file over the log and keeps no
    // copy, so a follower one rotation behind cannot read what was in between (anyctr's reader
    // counts the replacements and announces the loss; host logs::tests::replacements_*).
    let podman_rotation = "conmon's log_size_max rotation renames a fresh file over the log and keeps no copy: lines of a file replaced before the follower reads it are gone (anyctr announces them as a gap), so every line once cannot be promised";
    let moby_why = "dockerd creates these containers; containerd has no record of one until it starts".to_owned();
    // The sandbox trial needs a sandboxed runtime; the rund setups of the same engines run it.
    let runc_class =
        || ("stats.sandboxed_nonzero", "the setup's runtime is runc-class; the rund setups run it".to_owned());
    let with_runc_class = |mut v: Vec<(&'static str, String)>| {
        v.push(runc_class());
        v
    };
    vec![
        Plan {
            name: "docker/runc",
            address: format!("docker://{docker}"),
            runtime: Some("runc"),
            expect: expect(RuntimeClass::Runc, docker_log(), true),
            made_by_docker: false,
            optional: false,
            not_applicable: vec![runc_class()],
        },
        // The harness dockerd's runtime `crun`.
        Plan {
            name: "docker/crun",
            address: format!("docker://{docker}"),
            runtime: Some("crun"),
            expect: expect(RuntimeClass::Crun, docker_log(), true),
            made_by_docker: false,
            optional: false,
            not_applicable: vec![runc_class()],
        },
        Plan {
            name: "docker/rund",
            address: format!("docker://{docker}"),
            runtime: Some("rund"),
            expect: expect(RuntimeClass::Rund, docker_log(), true),
            made_by_docker: false,
            optional: false,
            not_applicable: Vec::new(),
        },
        Plan {
            name: "containerd-cri/runc",
            address: cri.clone(),
            runtime: Some("runc"),
            expect: expect(RuntimeClass::Runc, cri_log(), true),
            made_by_docker: false,
            optional: false,
            not_applicable: with_runc_class(no_rotation(cri_rotation)),
        },
        // crun is runc-class (host paths, fast path apply): the harness's CRI handler `crun`.
        Plan {
            name: "containerd-cri/crun",
            address: cri.clone(),
            runtime: Some("crun"),
            expect: expect(RuntimeClass::Crun, cri_log(), true),
            made_by_docker: false,
            optional: false,
            not_applicable: with_runc_class(no_rotation(cri_rotation)),
        },
        Plan {
            name: "containerd-cri/rund",
            address: cri,
            runtime: Some("rund"),
            expect: expect(RuntimeClass::Rund, cri_log(), true),
            made_by_docker: false,
            optional: false,
            not_applicable: no_rotation(cri_rotation),
        },
        // The harness containerd reached through CRI alone (runtime handler runc).
        Plan {
            name: "cri/containerd",
            address: format!("cri://{containerd}"),
            runtime: Some("runc"),
            expect: expect(RuntimeClass::Runc, cri_log(), true),
            made_by_docker: false,
            optional: false,
            not_applicable: with_runc_class(vec![
                ("logs.rotation", cri_rotation.to_owned()),
                (
                    "exec.background_child",
                    "CRI's ExecSync answers only once the exec's output closes, and containerd 1.6 does not bound \
                 that wait (1.7's drain_exec_sync_io_timeout does): a background child holding stdout holds the \
                 answer"
                        .into(),
                ),
            ]),
        },
        Plan {
            name: "containerd/moby",
            address: format!("containerd://{containerd}?namespace=moby&state_dir={state}"),
            runtime: Some("runc"),
            // dockerd passes no labels on to containerd and keeps the log file itself.
            expect: Expectations { labels_hidden: true, ..expect(RuntimeClass::Runc, None, false) },
            made_by_docker: true,
            optional: false,
            not_applicable: with_runc_class(vec![
                ("lifecycle.", moby_why.clone()),
                ("events.", moby_why.clone()),
                ("index.", moby_why.clone()),
                ("stats.", moby_why.clone()),
                // These two make a container of their own (a zombie maker, a TZ-set one) through the
                // engine under test, which cannot create here.
                ("top.pid1_and_zombies", moby_why.clone()),
                ("probe.timezone", moby_why),
                ("pods.", "dockerd makes the fixture without a pod; docker has no pods of its own".into()),
                (
                    "images.list",
                    "dockerd 20.10 keeps images in its own store (overlay2), none in namespace moby".into(),
                ),
            ]),
        },
        Plan {
            name: "podman/runc",
            address: format!("podman://{podman}"),
            // runc, not crun: Debian's crun 1.8 refuses this host's hybrid cgroups (an empty cgroup2
            // tree beside v1). Logs: conmon's k8s-file driver writes CRI lines to `userdata/ctr.log`.
            runtime: Some("runc"),
            expect: expect(
                RuntimeClass::Runc,
                Some(ExpectedLog::new(LogFormat::Cri, "overlay-containers/{id}/userdata/ctr.log")),
                true,
            ),
            made_by_docker: false,
            optional: false,
            not_applicable: with_runc_class(no_rotation(podman_rotation)),
        },
        // Bare OCI runtimes in roots anyctr owns (full lifecycle from a `docker export` rootfs).
        oci_plan(
            "oci/runc",
            &oci_base,
            "runc",
            RuntimeClass::Runc,
            vec![(
                "exec.background_child",
                "runc exec in the foreground copies the process's stdio through pipes of its own and exits, with the \
             exit status, only once they close (runc 1.1 setupProcessPipes; crun hands its stdio over and returns at \
             the exit): a background child holding stdout holds the exit status"
                    .into(),
            )],
        ),
        oci_plan("oci/crun", &oci_base, "crun", RuntimeClass::Crun, Vec::new()),
        Plan {
            name: "pouch",
            address: format!("pouch://{pouch}"),
            // pouchd's default runtime, runc (recorded: `HostConfig.Runtime = "runc"`), with json-file
            // logs under its home `/var/lib/pouch`; pouch makes no pods through its API.
            runtime: None,
            expect: expect(
                RuntimeClass::Runc,
                Some(ExpectedLog::new(LogFormat::JsonFile, "/var/lib/pouch/containers/{id}/json.log")),
                false,
            ),
            made_by_docker: false,
            optional: true,
            not_applicable: with_runc_class(Vec::new()),
        },
    ]
}

/// A bare runtime `runtime` in the anyctr-owned root `<base>/<runtime>`, images from `<base>/images`.
fn oci_plan(
    name: &'static str,
    base: &str,
    runtime: &'static str,
    class: RuntimeClass,
    not_applicable: Vec<(&'static str, String)>,
) -> Plan {
    // crun 1.8 refuses this host's hybrid cgroups when the cgroup2 tree has controllers; the
    // harness's wrapper (the one its dockerd and containerd run crun through) hides that tree.
    let wrapper = env_or("ANYCTR_OCI_CRUN", "/var/lib/anyctr-engines/bin/crun");
    let binary = if runtime == "crun" && std::path::Path::new(&wrapper).exists() {
        format!("&crun={wrapper}")
    } else {
        String::new()
    };
    Plan {
        name,
        address: format!("oci://{base}/{runtime}?runtime={runtime}&own=true&images={base}/images{binary}"),
        runtime: None,
        expect: Expectations { runtime: class, log: None, pod: false, labels_hidden: false },
        made_by_docker: false,
        optional: false,
        not_applicable,
    }
}

/// The OCI setups' image store: the test image's rootfs, exported from the harness dockerd
/// (`docker create` + `docker export`), as `<images>/<reference>.tar` (once).
fn prepare_oci_image(address: &str, image: &str, docker_address: &str) -> Result<()> {
    let parsed = EngineAddress::parse(address)?;
    let Some(images) = parsed.param("images") else { return Ok(()) };
    let tar = anyctr::oci::lifecycle::image_tar(std::path::Path::new(images), image);
    if tar.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(images)?;
    let host = docker_address.replacen("docker://", "unix://", 1);
    let docker = |args: &[&str]| -> Result<String> {
        let out = std::process::Command::new("timeout").args(["120", "docker", "-H", &host]).args(args).output()?;
        if !out.status.success() {
            return Err(anyctr::Error::unexpected(format!(
                "docker {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let id = docker(&["create", image, "true"])?;
    let partial = tar.with_extension("tar.part");
    let exported = docker(&["export", "-o", &partial.display().to_string(), &id]);
    let _ = docker(&["rm", "-f", &id]);
    exported?;
    std::fs::rename(&partial, &tar)?;
    Ok(())
}

/// Fixtures made by one engine (docker) and observed through another (containerd in namespace
/// `moby`): the suite checks what the observer reports about containers it did not create.
struct ObservedFixtures {
    maker: EngineFixtures,
    observer: DynEngine,
}

#[async_trait::async_trait]
impl FixtureFactory for ObservedFixtures {
    async fn create_main(&self, run_id: &str) -> Result<Fixture> {
        let mut fixture = self.maker.create_main(run_id).await?;
        fixture.name = self.observer.inspect(&fixture.id).await?.name;
        Ok(fixture)
    }
    async fn create_extra(&self, spec: CreateSpec) -> Result<String> {
        self.maker.create_extra(spec).await
    }
    async fn remove_extra(&self, id: &str) -> Result<()> {
        self.maker.remove_extra(id).await
    }
    async fn remove(&self, fixture: &Fixture) -> Result<()> {
        self.maker.remove(fixture).await
    }
    async fn leftovers(&self, run_id: &str) -> Result<Vec<String>> {
        self.maker.leftovers(run_id).await
    }
}

async fn connect(address: &str) -> Result<DynEngine> {
    let engine = anyctr::connect(address).await?;
    Ok(engine.into_dyn())
}

async fn setup_for(plan: &Plan, image: &str, docker_address: &str) -> Result<FixtureSetup> {
    if plan.address.starts_with("oci://") {
        prepare_oci_image(&plan.address, image, docker_address)?;
    }
    let engine = connect(&plan.address).await?;
    let factory: Arc<dyn FixtureFactory> = if plan.made_by_docker {
        let docker = connect(docker_address).await?;
        let maker = EngineFixtures {
            engine: docker,
            image: image.into(),
            runtime: plan.runtime.map(Into::into),
            expect: plan.expect.clone(),
        };
        Arc::new(ObservedFixtures { maker, observer: engine.clone() })
    } else {
        Arc::new(EngineFixtures {
            engine: engine.clone(),
            image: image.into(),
            runtime: plan.runtime.map(Into::into),
            expect: plan.expect.clone(),
        })
    };
    let mut not_applicable = plan.not_applicable.clone();
    // Honestly not applicable only when there is no registry: `cargo xtask engines up` starts one.
    if std::env::var_os(anyctr_conformance::REGISTRY_ENV).is_none() {
        let why = format!(
            "{} is not set: no registry to pull from (`cargo xtask engines up` starts one on loopback)",
            anyctr_conformance::REGISTRY_ENV
        );
        not_applicable.push(("images.pull_remove", why));
    }
    Ok(FixtureSetup { name: plan.name.into(), engine, factory, not_applicable })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let image = env_or("ANYCTR_TEST_IMAGE", "busybox:local");
    let all = plans();
    let docker_address = all[0].address.clone();
    let mut reports: Vec<SetupReport> = Vec::new();
    let mut failed = false;
    for plan in all.iter().filter(|p| args.engine.as_deref().is_none_or(|e| p.name.contains(e))) {
        eprintln!("== {} ({})", plan.name, plan.address);
        let report = match setup_for(plan, &image, &docker_address).await {
            Ok(setup) => {
                let name = plan.name;
                run_setup(setup, args.trial.as_deref(), |t| {
                    eprintln!(
                        "[{name}] {:<40} {:<5} {:>6} ms  {}",
                        t.name,
                        t.outcome.symbol(),
                        t.millis,
                        t.detail.lines().next().unwrap_or("")
                    )
                })
                .await
            }
            Err(e) => {
                let mut r = SetupReport::new(plan.name, plan.address.split(':').next().unwrap_or("?"));
                r.detail = Some(format!("not reachable: {e}"));
                r
            }
        };
        if !report.reachable {
            // The detail already says "not reachable: <why>".
            eprintln!("[{}] {}", plan.name, report.detail.as_deref().unwrap_or("not reachable"));
            failed |= !plan.optional;
        }
        failed |= report.failed();
        reports.push(report);
    }
    println!("{}", render_matrix(&reports));
    println!("{}", render_coverage(&reports));
    for r in &reports {
        for problem in &r.problems {
            println!("[{}] PROBLEM: {problem}", r.setup);
        }
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({ "setups": reports });
        if let Err(e) = std::fs::write(path, serde_json::to_vec_pretty(&json).unwrap()) {
            eprintln!("writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("JSON report: {}", path.display());
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
