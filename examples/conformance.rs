//! Runs the conformance suite against every setup this node offers and prints the engine × trial
//! matrix (and a JSON report). `cargo xtask conformance` starts the engines and runs this.
//!
//! Sockets come from the environment, defaulting to the harness's:
//! `ANYCTR_DOCKER_SOCKET`, `ANYCTR_CONTAINERD_SOCKET`, `ANYCTR_CONTAINERD_STATE_DIR`,
//! `ANYCTR_PODMAN_SOCKET`, `POUCH_SOCKET` (else `/var/run/pouchd.sock`), `ANYCTR_TEST_IMAGE`. To certify your own node, point
//! them at its sockets (add `ANYCTR_HOST_ROOT` when running inside a container).

use std::process::ExitCode;

use anyctr::certify::{
    CONTAINERD_1_6_EXEC_SYNC, CertifyOptions, Plan, certify, expected_log, moby_not_applicable, print_progress,
};
use anyctr::conformance::Expectations;
use anyctr::model::RuntimeClass;
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

/// A plan whose fixtures the engine makes itself, and what does not apply to it.
fn plan(
    name: &str,
    address: &str,
    runtime: Option<&str>,
    expect: Expectations,
    not_applicable: Vec<(&'static str, String)>,
) -> Plan {
    let mut plan = Plan::new(name, address, runtime, expect);
    plan.not_applicable = not_applicable;
    plan
}

/// The harness's setups (the sockets from the environment, defaulting to the harness's).
fn plans() -> Vec<Plan> {
    let docker = format!("docker://{}", env_or("ANYCTR_DOCKER_SOCKET", "/run/anyctr-engines/docker.sock"));
    let containerd = env_or("ANYCTR_CONTAINERD_SOCKET", "/run/anyctr-engines/containerd/containerd.sock");
    let state = env_or("ANYCTR_CONTAINERD_STATE_DIR", "/run/anyctr-engines/containerd");
    let pouch = env_or("POUCH_SOCKET", "/var/run/pouchd.sock");
    let podman = env_or("ANYCTR_PODMAN_SOCKET", "/run/anyctr-engines/podman.sock");
    let oci_base = env_or("ANYCTR_OCI_BASE", "/run/anyctr-oci");
    let cri = format!("containerd://{containerd}?namespace=k8s.io&state_dir={state}");
    let expect = |runtime: RuntimeClass, kind: &str, pod: bool| Expectations {
        runtime,
        log: expected_log(kind),
        pod,
        labels_hidden: false,
    };
    // Rotation: docker is asked for it with the container's log options; a CRI runtime rotates
    // only when told, and the CRI setups tell it as kubelet does (rename, ReopenContainerLog).
    // Podman's rotation keeps no copy (see PODMAN_ROTATION).
    let no_rotation = |why: &str| vec![("logs.rotation", why.to_owned())];
    let rotated_as_by_kubelet = |mut plan: Plan| {
        plan.rotate_logs_through = anyctr::certify::cri_address(&plan.address);
        plan
    };
    // The sandbox trial needs a sandboxed runtime; the rund setups of the same engines run it.
    let runc_class =
        || ("stats.sandboxed_nonzero", "the setup's runtime is runc-class; the rund setups run it".to_owned());
    let with_runc_class = |mut v: Vec<(&'static str, String)>| {
        v.push(runc_class());
        v
    };
    let mut moby = plan(
        "containerd/moby",
        &format!("containerd://{containerd}?namespace=moby&state_dir={state}"),
        Some("runc"),
        // dockerd passes no labels on to containerd and keeps the log file itself.
        Expectations { runtime: RuntimeClass::Runc, log: None, pod: false, labels_hidden: true },
        with_runc_class(moby_not_applicable()),
    );
    // Fixtures are made through docker and observed through containerd.
    moby.made_by = Some(docker.clone());
    let mut pouch = plan(
        "pouch",
        &format!("pouch://{pouch}"),
        // pouchd's default runtime, runc (recorded: `HostConfig.Runtime = "runc"`), with json-file
        // logs under its home `/var/lib/pouch`; pouch makes no pods through its API.
        None,
        expect(RuntimeClass::Runc, "pouch", false),
        with_runc_class(Vec::new()),
    );
    // Pouch may legitimately be absent: "not reachable", not a failure.
    pouch.optional = true;
    vec![
        plan("docker/runc", &docker, Some("runc"), expect(RuntimeClass::Runc, "docker", true), vec![runc_class()]),
        // The harness dockerd's runtime `crun`.
        plan("docker/crun", &docker, Some("crun"), expect(RuntimeClass::Crun, "docker", true), vec![runc_class()]),
        plan("docker/rund", &docker, Some("rund"), expect(RuntimeClass::Rund, "docker", true), Vec::new()),
        rotated_as_by_kubelet(plan(
            "containerd-cri/runc",
            &cri,
            Some("runc"),
            expect(RuntimeClass::Runc, "cri", true),
            with_runc_class(Vec::new()),
        )),
        // crun is runc-class (host paths, fast path apply): the harness's CRI handler `crun`.
        rotated_as_by_kubelet(plan(
            "containerd-cri/crun",
            &cri,
            Some("crun"),
            expect(RuntimeClass::Crun, "cri", true),
            with_runc_class(Vec::new()),
        )),
        rotated_as_by_kubelet(plan(
            "containerd-cri/rund",
            &cri,
            Some("rund"),
            expect(RuntimeClass::Rund, "cri", true),
            Vec::new(),
        )),
        // The harness containerd reached through CRI alone (runtime handler runc).
        rotated_as_by_kubelet(plan(
            "cri/containerd",
            &format!("cri://{containerd}"),
            Some("runc"),
            expect(RuntimeClass::Runc, "cri", true),
            with_runc_class(vec![("exec.background_child", CONTAINERD_1_6_EXEC_SYNC.into())]),
        )),
        moby,
        // runc, not crun: Debian's crun 1.8 refuses this host's hybrid cgroups (an empty cgroup2
        // tree beside v1). Logs: conmon's k8s-file driver writes CRI lines to `userdata/ctr.log`.
        plan(
            "podman/runc",
            &format!("podman://{podman}"),
            Some("runc"),
            expect(RuntimeClass::Runc, "podman", true),
            with_runc_class(no_rotation(anyctr::certify::PODMAN_ROTATION)),
        ),
        // Bare OCI runtimes in roots anyctr owns (full lifecycle from a `docker export` rootfs).
        oci_plan(
            "oci/runc",
            &oci_base,
            "runc",
            RuntimeClass::Runc,
            &docker,
            with_runc_class(vec![(
                "exec.background_child",
                "runc exec in the foreground copies the process's stdio through pipes of its own and exits, with the \
             exit status, only once they close (runc 1.1 setupProcessPipes; crun hands its stdio over and returns at \
             the exit): a background child holding stdout holds the exit status"
                    .into(),
            )]),
        ),
        oci_plan("oci/crun", &oci_base, "crun", RuntimeClass::Crun, &docker, with_runc_class(Vec::new())),
        pouch,
    ]
}

/// A bare runtime `runtime` in the anyctr-owned root `<base>/<runtime>`, images from `<base>/images`
/// (the test image's rootfs, exported from the harness dockerd at `docker`).
fn oci_plan(
    name: &str,
    base: &str,
    runtime: &str,
    class: RuntimeClass,
    docker: &str,
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
    let address = format!("oci://{base}/{runtime}?runtime={runtime}&own=true&images={base}/images{binary}");
    let expect = Expectations { runtime: class, log: None, pod: false, labels_hidden: false };
    let mut plan = plan(name, &address, None, expect, not_applicable);
    plan.export_from = Some(docker.to_owned());
    plan
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut options = CertifyOptions::new(env_or("ANYCTR_TEST_IMAGE", "busybox:local"));
    options.engine = args.engine;
    options.trial = args.trial;
    let run = match certify(&plans(), &options, print_progress).await {
        Ok(run) => run,
        Err(e) => {
            eprintln!("conformance: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", run.render());
    if let Some(path) = &args.json {
        if let Err(e) = run.write_json(path) {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
        eprintln!("JSON report: {}", path.display());
    }
    if run.failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
