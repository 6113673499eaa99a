use super::*;

fn info(engine: &str, product: &str, version: &str, runtimes: &[&str]) -> EngineInfo {
    let mut info = EngineInfo::new(engine, product, version);
    info.runtimes = runtimes.iter().map(|r| r.to_string()).collect();
    info
}

fn connection<'a>(engine: &'a str, address: &str, namespace: Option<&'a str>, info: &'a EngineInfo) -> Connection<'a> {
    Connection { engine, namespace, address: EngineAddress::parse(address).unwrap(), info, host_root: None }
}

fn names(plans: &NodePlans) -> Vec<&str> {
    plans.plans.iter().map(|p| p.name.as_str()).collect()
}

fn reason<'a>(plan: &'a Plan, prefix: &str) -> Option<&'a str> {
    plan.not_applicable.iter().find(|(p, _)| *p == prefix).map(|(_, why)| why.as_str())
}

#[test]
fn one_setup_per_docker_runtime_and_cri_handler() {
    let docker = info("docker", "Docker Engine", "20.10.24", &["crun", "io.containerd.runc.v2", "runc", "rund"]);
    let containerd = info("containerd", "containerd", "1.6.20", &["crun", "runc", "rund"]);
    let socket = "containerd:///run/c.sock?namespace=moby&state_dir=/run/c";
    let plans = plans_of(&[
        connection("docker", "docker:///run/d.sock", None, &docker),
        connection("containerd", socket, Some("moby"), &containerd),
        connection(
            "containerd",
            "containerd:///run/c.sock?namespace=k8s.io&state_dir=/run/c",
            Some("k8s.io"),
            &containerd,
        ),
    ]);
    assert_eq!(
        names(&plans),
        [
            "docker/crun",
            "docker/runc",
            "docker/rund",
            "containerd-cri/crun",
            "containerd-cri/runc",
            "containerd-cri/rund",
            "containerd/moby"
        ]
    );
    // runc's containerd-shim name is not a second runc setup, and says so.
    assert!(
        plans.notes.iter().any(|n| n.contains("io.containerd.runc.v2") && n.contains("docker/runc")),
        "{:?}",
        plans.notes
    );
    let by_name = |n: &str| plans.plans.iter().find(|p| p.name == n).unwrap();
    let rund = by_name("docker/rund");
    assert_eq!((rund.expect.runtime.clone(), rund.runtime.as_deref()), (RuntimeClass::Rund, Some("rund")));
    assert!(reason(rund, "stats.sandboxed_nonzero").is_none(), "a sandbox runs the sandbox trial");
    assert!(reason(by_name("docker/crun"), "stats.sandboxed_nonzero").is_some());
    let cri = by_name("containerd-cri/rund");
    assert_eq!(cri.address, "containerd:///run/c.sock?state_dir=/run/c&namespace=k8s.io");
    assert!(cri.expect.pod && cri.expect.log.is_some());
    let moby = by_name("containerd/moby");
    assert_eq!(moby.made_by.as_deref(), Some("docker:///run/d.sock"));
    assert!(moby.expect.labels_hidden && moby.expect.log.is_none() && !moby.expect.pod);
    assert!(reason(moby, "lifecycle.").is_some() && reason(moby, "pods.").is_some());
    // logs.rotation runs where the daemon rotates by the container's log options (docker) and on
    // CRI, rotated as kubelet does through the CRI plugin on containerd's socket (moby's logs
    // trials are gated off by its capabilities).
    assert!(reason(by_name("docker/runc"), "logs.rotation").is_none());
    assert!(by_name("docker/runc").rotate_logs_through.is_none());
    assert!(reason(cri, "logs.rotation").is_none());
    assert_eq!(cri.rotate_logs_through.as_deref(), Some("cri:///run/c.sock"));
}

#[test]
fn what_cannot_be_certified_is_a_note() {
    let containerd = info("containerd", "containerd", "1.7.2", &[]);
    let oci = info("oci", "OCI runtimes", "1", &[]);
    let plans = plans_of(&[
        connection("containerd", "containerd:///run/c.sock?namespace=moby", Some("moby"), &containerd),
        connection("containerd", "containerd:///run/c.sock?namespace=default", Some("default"), &containerd),
        connection("oci", "oci://", None, &oci),
    ]);
    assert!(plans.plans.is_empty(), "{:?}", names(&plans));
    let notes = plans.notes.join("\n");
    for what in ["no runtime handler", "no dockerd is connected", "namespace default", "read-only"] {
        assert!(notes.contains(what), "{what}: {notes}");
    }
}

#[test]
fn containerd_1_6_through_cri_alone_skips_the_background_child_with_its_reason() {
    let old = info("cri", "containerd", "v1.6.20", &["runc"]);
    let new = info("cri", "containerd", "v1.7.2", &["runc"]);
    let crio = info("cri", "cri-o", "1.6.0", &["runc"]);
    for (info, skipped) in [(&old, true), (&new, false), (&crio, false)] {
        let plans = plans_of(&[connection("cri", "cri:///run/c.sock", None, info)]);
        assert_eq!(names(&plans), ["cri/runc"]);
        assert_eq!(reason(&plans.plans[0], "exec.background_child").is_some(), skipped, "{info:?}");
    }
}

#[test]
fn podman_runtimes_without_a_binary_are_a_note() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("usr/bin")).unwrap();
    std::fs::write(root.path().join("usr/bin/runc"), b"").unwrap();
    let podman = info("podman", "Podman Engine", "4.3.1", &["kata", "runc"]);
    let mut c = connection("podman", "podman:///run/p.sock", None, &podman);
    c.host_root = Some(root.path().to_owned());
    let plans = plans_of(&[c]);
    assert_eq!(names(&plans), ["podman/runc"]);
    assert!(plans.notes.iter().any(|n| n.contains("runtime kata") && n.contains("/usr/bin")), "{:?}", plans.notes);
}
