//! Every namespace (no `namespace` parameter), and container ids that repeat across namespaces.

mod common;

use anyctr_core::model::{ContainerStatus, ExecRequest, RootfsView};
use anyctr_core::{ContainerEngine, ErrorKind, ListOptions};

fn ctr(ns: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("timeout")
        .args(["60", "ctr", "-a", &common::socket(), "-n", ns])
        .args(args)
        .output()
        .expect("ctr")
}

struct CtrGuard {
    id: String,
    namespaces: Vec<&'static str>,
}

impl Drop for CtrGuard {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = ctr(ns, &["containers", "rm", &self.id]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_repeat_across_namespaces() {
    let fifo = common::fifo_dir("ns");
    let engine = common::engine("", &fifo).await;
    let namespaces = engine.namespaces().await.unwrap();
    for ns in ["k8s.io", "moby", "default"] {
        assert!(namespaces.iter().any(|n| n == ns), "{namespaces:?}");
    }

    let id = common::unique("dup");
    let _guard = CtrGuard { id: id.clone(), namespaces: vec!["default", "k8s.io"] };
    for ns in ["default", "k8s.io"] {
        let out = ctr(
            ns,
            &[
                "containers",
                "create",
                "--label",
                &format!("anyctr.test={id}"),
                "docker.io/library/busybox:local",
                &id,
                "sleep",
                "600",
            ],
        );
        assert!(out.status.success(), "ctr create in {ns}: {}", String::from_utf8_lossy(&out.stderr));
    }

    let e = engine.inspect(&id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.message().contains("default/") && e.message().contains("k8s.io/"), "{e}");

    let d = engine.inspect(&format!("default/{id}")).await.unwrap();
    assert_eq!(d.namespace.as_deref(), Some("default"));
    // no task: created, no rootfs to show
    assert_eq!(d.state.status, ContainerStatus::Created);
    assert_eq!(d.rootfs, RootfsView::NotReported);
    assert_eq!(engine.inspect(&format!("k8s.io/{id}")).await.unwrap().namespace.as_deref(), Some("k8s.io"));

    let listed = engine.list(&ListOptions::all().label(&format!("anyctr.test={id}"))).await.unwrap();
    let mut seen: Vec<_> = listed.iter().map(|s| (s.namespace.clone().unwrap(), s.id.clone())).collect();
    seen.sort();
    assert_eq!(seen, vec![("default".to_owned(), id.clone()), ("k8s.io".to_owned(), id.clone())]);
    assert!(engine.list(&ListOptions::running().label(&format!("anyctr.test={id}"))).await.unwrap().is_empty());

    let e = engine.exec(&format!("default/{id}"), ExecRequest::new(["true"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "exec without a task: {e}");

    // an engine limited to one namespace sees only that one
    let only_default = common::engine("default", &fifo).await;
    assert_eq!(only_default.inspect(&id).await.unwrap().namespace.as_deref(), Some("default"));
    let _ = std::fs::remove_dir_all(&fifo);
}
