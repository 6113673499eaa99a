//! Driving the harness's dockerd through the docker CLI for host's integration tests, and a
//! ContainerDetail built by hand from `docker inspect`.
#![allow(dead_code, unused_imports)]

use std::fs;
use std::path::Path;

use anyctr_core::model::{ContainerDetail, Mount, MountKind, RootfsView, RuntimeClass};
use serde_json::Value;

pub use anyctr_testkit::docker_cli::{RemoveOnDrop as Guard, docker, require_docker as require_engine};
pub use anyctr_testkit::{docker_socket as socket, image};

pub fn unique(tag: &str) -> String {
    anyctr_testkit::unique(&format!("anyctr-host-{tag}"))
}

pub fn run(name: &str, extra: &[&str]) -> Guard {
    let label = format!("anyctr.test={name}");
    let image = image();
    let mut args = vec!["run", "-d", "--name", name, "--label", &label];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[&image, "sleep", "600"]);
    docker(&args).unwrap_or_else(|e| panic!("{e}"));
    Guard(name.to_owned())
}

pub fn exec(name: &str, script: &str) -> String {
    docker(&["exec", name, "sh", "-c", script]).unwrap_or_else(|e| panic!("{e}"))
}

/// What a docker engine crate would build from `docker inspect`, including the files docker
/// bind-mounts without listing them in `Mounts` (resolv.conf, hosts, hostname).
pub fn detail_from_inspect(name: &str) -> ContainerDetail {
    let raw: Value = serde_json::from_str(&docker(&["inspect", name]).unwrap()).unwrap();
    let c = &raw[0];
    let runtime_name = c["HostConfig"]["Runtime"].as_str().unwrap_or("runc").to_owned();
    let runtime = RuntimeClass::from_name(&runtime_name);
    let rootfs = match c["GraphDriver"]["Data"]["MergedDir"].as_str() {
        Some(dir) => RootfsView::Merged(dir.into()),
        None => RootfsView::NotReported,
    };
    let mut d = super::detail(runtime, rootfs, c["State"]["Pid"].as_u64().map(|p| p as u32));
    d.id = c["Id"].as_str().unwrap().to_owned();
    d.runtime_name = runtime_name;
    for m in c["Mounts"].as_array().unwrap() {
        let kind = if m["Type"] == "volume" { MountKind::Volume } else { MountKind::Bind };
        let mut mount = Mount::new(m["Source"].as_str().unwrap(), m["Destination"].as_str().unwrap(), kind);
        mount.read_only = !m["RW"].as_bool().unwrap_or(true);
        mount.name = m["Name"].as_str().map(str::to_owned);
        d.mounts.push(mount);
    }
    for (key, dest) in
        [("ResolvConfPath", "/etc/resolv.conf"), ("HostsPath", "/etc/hosts"), ("HostnamePath", "/etc/hostname")]
    {
        if let Some(src) = c[key].as_str().filter(|s| !s.is_empty()) {
            d.mounts.push(super::bind(src, dest, false));
        }
    }
    d.raw = raw;
    d
}

pub fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
