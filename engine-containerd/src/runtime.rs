//! The runtime class of a container, from its record's runtime (`io.containerd.rund.v2`, …) and,
//! for the runc shim, the `BinaryName` option that points it at another OCI runtime (docker's
//! `--runtime runsc`, a CRI handler with `BinaryName`). For a CRI container the sandbox's runtime
//! handler decides when the container record alone says plain runc.

use anyctr_core::model::RuntimeClass;
use containerd_client::services::v1::container::Runtime;
use prost::Message;

/// The fields of the runc shim's options (`containerd.runc.v1.Options`) that matter here. prost
/// skips the other fields when decoding.
#[derive(Clone, PartialEq, Message)]
struct RuncOptions {
    #[prost(string, tag = "6")]
    binary_name: String,
    #[prost(string, tag = "7")]
    root: String,
}

/// A record's runtime, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// The shim name verbatim (`io.containerd.runc.v2`).
    pub name: String,
    /// The runc shim's `BinaryName` option, if set.
    pub binary_name: Option<String>,
    /// The class from the shim name, refined by the binary name.
    pub class: RuntimeClass,
}

impl RuntimeInfo {
    /// Classifies a container record's runtime.
    pub fn from_record(runtime: Option<&Runtime>) -> Self {
        let name = runtime.map(|r| r.name.clone()).unwrap_or_default();
        let binary_name = runtime
            .and_then(|r| r.options.as_ref())
            .filter(|any| any.type_url.ends_with("Options"))
            .and_then(|any| RuncOptions::decode(any.value.as_slice()).ok())
            .map(|o| o.binary_name)
            .filter(|b| !b.is_empty());
        let mut class = RuntimeClass::from_name(&name);
        if class == RuntimeClass::Runc
            && let Some(binary) = &binary_name
        {
            class = RuntimeClass::from_name(binary);
        }
        RuntimeInfo { name, binary_name, class }
    }

    /// The class of a CRI container, given its sandbox's runtime and runtime handler: a
    /// container record that says plain runc takes the sandbox's class when that one is known
    /// better (a handler named `rund`, or a sandbox record pointing at a sandboxed runtime).
    pub fn with_sandbox(&self, sandbox: Option<&RuntimeInfo>, handler: Option<&str>) -> RuntimeClass {
        if self.class != RuntimeClass::Runc {
            return self.class.clone();
        }
        if let Some(sb) = sandbox
            && sb.class != RuntimeClass::Runc
        {
            return sb.class.clone();
        }
        match handler.map(RuntimeClass::from_name) {
            Some(RuntimeClass::Other(_)) | None => self.class.clone(),
            Some(class) => class,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::Any;

    fn runtime(name: &str, binary: Option<&str>) -> Runtime {
        let options = binary.map(|b| Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: RuncOptions { binary_name: b.into(), root: "/run/x".into() }.encode_to_vec(),
        });
        Runtime { name: name.into(), options }
    }

    #[test]
    fn classify_records() {
        let cases = [
            (runtime("io.containerd.runc.v2", None), RuntimeClass::Runc),
            (runtime("io.containerd.rund.v2", None), RuntimeClass::Rund),
            (runtime("io.containerd.kata.v2", None), RuntimeClass::Kata),
            (runtime("io.containerd.runsc.v1", None), RuntimeClass::Runsc),
            (runtime("io.containerd.runc.v2", Some("runc")), RuntimeClass::Runc),
            (runtime("io.containerd.runc.v2", Some("/var/lib/anyctr-engines/bin/runsc-cri")), RuntimeClass::Runsc),
            (runtime("io.containerd.runc.v2", Some("/usr/local/bin/rund-bin")), RuntimeClass::Rund),
            (runtime("io.containerd.runc.v2", Some("/usr/bin/crun")), RuntimeClass::Crun),
            // Fail closed: what is not known to be runc-class is treated as sandboxed.
            (runtime("io.containerd.runc.v2", Some("/opt/bin/my-oci")), RuntimeClass::Other("/opt/bin/my-oci".into())),
            (runtime("aws.firecracker", None), RuntimeClass::Other("aws.firecracker".into())),
            (runtime("io.containerd.firecracker.v1", None), RuntimeClass::Other("io.containerd.firecracker.v1".into())),
        ];
        for (rt, want) in cases {
            let class = RuntimeInfo::from_record(Some(&rt)).class;
            assert_eq!(class.is_sandboxed(), !matches!(want, RuntimeClass::Runc | RuntimeClass::Crun), "{rt:?}");
            assert_eq!(class, want, "{rt:?}");
        }
        let info = RuntimeInfo::from_record(Some(&runtime("io.containerd.runc.v2", Some("/usr/bin/runsc"))));
        assert_eq!(info.binary_name.as_deref(), Some("/usr/bin/runsc"));
        assert_eq!(info.name, "io.containerd.runc.v2");
        assert_eq!(RuntimeInfo::from_record(None).class, RuntimeClass::Runc);
    }

    #[test]
    fn docker_options_decode() {
        // Seen on this machine for a `docker run` container in namespace moby.
        let value = b"2\x04runc:,/run/anyctr-engines/docker/exec/runtime-runc".to_vec();
        let rt = Runtime {
            name: "io.containerd.runc.v2".into(),
            options: Some(Any { type_url: "containerd.runc.v1.Options".into(), value }),
        };
        let info = RuntimeInfo::from_record(Some(&rt));
        assert_eq!(info.binary_name.as_deref(), Some("runc"));
        assert_eq!(info.class, RuntimeClass::Runc);
    }

    #[test]
    fn sandbox_decides_for_plain_runc_containers() {
        let plain = RuntimeInfo::from_record(Some(&runtime("io.containerd.runc.v2", None)));
        let rund = RuntimeInfo::from_record(Some(&runtime("io.containerd.rund.v2", None)));
        assert_eq!(plain.with_sandbox(Some(&rund), Some("rund")), RuntimeClass::Rund);
        assert_eq!(plain.with_sandbox(Some(&plain), Some("kata-qemu")), RuntimeClass::Kata);
        assert_eq!(plain.with_sandbox(Some(&plain), Some("my-handler")), RuntimeClass::Runc);
        assert_eq!(plain.with_sandbox(None, None), RuntimeClass::Runc);
        assert_eq!(rund.with_sandbox(Some(&plain), Some("runc")), RuntimeClass::Rund);
        // A pod whose sandbox runs under an unknown runtime: its containers are not host-visible.
        let firecracker = RuntimeInfo::from_record(Some(&runtime("aws.firecracker", None)));
        assert!(plain.with_sandbox(Some(&firecracker), Some("firecracker")).is_sandboxed());
    }
}
