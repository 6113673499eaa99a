//! Conformance *setups* and their run, in one place (feature `conformance`): what the
//! `conformance` example (`cargo xtask conformance`, the harness's plans) and `anyctr conformance`
//! (the plans of the engines this node runs) share.
//!
//! A [`Plan`] says where a setup's engine lives, what its fixture is expected to be (runtime class,
//! log file, pod, hidden labels), how fixtures are made (by the engine itself, or by dockerd and
//! observed through containerd's `moby` namespace), and which trials do not apply, with the
//! reason — the only way a trial is skipped. [`certify`] connects each plan, runs the suite on it
//! and gives a [`Certification`]: the reports, the engine × trial matrix, the capability coverage
//! and whether anything failed. [`node_plans`] turns the engines of an [`anyctr::Node`](crate::Node)
//! into plans, one per engine × runtime it offers.

#[cfg(feature = "cri")]
mod kubelet;
mod node;
mod observed;
#[cfg(feature = "oci")]
mod oci;
mod plan;
mod run;

#[cfg(feature = "cri")]
pub use kubelet::KubeletRotation;
pub use node::{CONTAINERD_1_6_EXEC_SYNC, NodePlans, node_plans};
pub use observed::ObservedFixtures;
#[cfg(feature = "oci")]
pub use oci::prepare_oci_image;
pub use plan::{CRI_ROTATION, PODMAN_ROTATION, Plan, cri_address, expected_log, moby_not_applicable};
pub use run::{Certification, CertifyOptions, Progress, certify, print_progress};
