//! Pod grouping: sandboxes and their containers, from normalized details alone, so it works the
//! same on every engine.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{ContainerDetail, PodRole};

/// Annotation (or label) kubectl uses to name a pod's default container.
pub const DEFAULT_CONTAINER_KEY: &str = "kubectl.kubernetes.io/default-container";

/// How a pod's main container is chosen among its non-sandbox containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MainContainerRule {
    /// Label/annotation keys, looked up on the sandbox and then on every container, whose value
    /// names the main container. Checked in order.
    pub name_keys: Vec<String>,
}

impl Default for MainContainerRule {
    /// The single non-sandbox container; else the one `kubectl.kubernetes.io/default-container` names.
    fn default() -> Self {
        MainContainerRule { name_keys: vec![DEFAULT_CONTAINER_KEY.to_owned()] }
    }
}

/// A pod: its sandbox (when the engine shows one) and its other containers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Pod {
    /// The pod name.
    pub name: Option<String>,
    /// The Kubernetes namespace.
    pub namespace: Option<String>,
    /// The pod uid.
    pub uid: Option<String>,
    /// The sandbox (pause) container, when the engine shows one.
    pub sandbox: Option<Arc<ContainerDetail>>,
    /// Non-sandbox containers, one per Kubernetes container name: a restarted container's older,
    /// exited instances are dropped in favour of the running (else the newest) one.
    pub containers: Vec<Arc<ContainerDetail>>,
    /// The main container's id, or why there is none.
    main: std::result::Result<String, (ErrorKind, String)>,
}

impl Pod {
    /// `name_namespace`, as kubelet names pods.
    pub fn full_name(&self) -> Option<String> {
        Some(format!("{}_{}", self.name.as_deref()?, self.namespace.as_deref()?))
    }

    /// The sandbox id (the sandbox container's id, else what the containers point at).
    pub fn sandbox_id(&self) -> Option<&str> {
        self.sandbox
            .as_ref()
            .map(|s| s.id.as_str())
            .or_else(|| self.containers.iter().find_map(|c| c.pod.sandbox_id.as_deref()))
    }

    /// The main container, or `NotFound` (no non-sandbox container) / `InvalidArgument` (several
    /// and nothing names one) with the reason.
    pub fn main(&self) -> Result<&Arc<ContainerDetail>> {
        match &self.main {
            Ok(id) => Ok(self.containers.iter().find(|c| &c.id == id).expect("main is one of the containers")),
            Err((kind, why)) => Err(Error::new(*kind, why.clone())),
        }
    }

    /// The role of a member container.
    pub fn role_of(&self, container_id: &str) -> Option<PodRole> {
        if self.sandbox.as_ref().is_some_and(|s| s.id == container_id) {
            return Some(PodRole::Sandbox);
        }
        let member = self.containers.iter().any(|c| c.id == container_id);
        member
            .then(|| if self.main.as_ref().is_ok_and(|m| m == container_id) { PodRole::Main } else { PodRole::Sidecar })
    }

    /// Every member, sandbox first.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ContainerDetail>> {
        self.sandbox.iter().chain(self.containers.iter())
    }

    /// The member whose Kubernetes container name is `name`.
    pub fn container(&self, name: &str) -> Option<&Arc<ContainerDetail>> {
        self.containers.iter().find(|c| c.pod.container_name.as_deref() == Some(name))
    }
}

/// The key that groups containers into pods: the pod uid, else the sandbox id.
pub fn pod_key(c: &ContainerDetail) -> Option<String> {
    if let Some(uid) = &c.pod.pod_uid {
        return Some(format!("uid:{uid}"));
    }
    if c.is_sandbox() {
        return Some(format!("sandbox:{}", c.id));
    }
    c.pod.sandbox_id.as_ref().map(|s| format!("sandbox:{s}"))
}

/// Groups containers into pods. Containers that belong to no pod are left out.
pub fn group_pods(details: &[Arc<ContainerDetail>], rule: &MainContainerRule) -> Vec<Pod> {
    let mut groups: BTreeMap<String, Vec<&Arc<ContainerDetail>>> = BTreeMap::new();
    for d in details {
        if let Some(key) = pod_key(d) {
            groups.entry(key).or_default().push(d);
        }
    }
    groups.into_values().map(|members| build_pod(&members, rule)).collect()
}

fn build_pod(members: &[&Arc<ContainerDetail>], rule: &MainContainerRule) -> Pod {
    // Several sandboxes happen while a pod is recreated: the running one (else the newest) counts.
    let sandbox = pick_current(members.iter().copied().filter(|c| c.is_sandbox())).cloned();
    let mut by_name: BTreeMap<String, Vec<&Arc<ContainerDetail>>> = BTreeMap::new();
    for c in members.iter().copied().filter(|c| !c.is_sandbox()) {
        let name = c.pod.container_name.clone().unwrap_or_else(|| c.name.clone());
        by_name.entry(name).or_default().push(c);
    }
    let containers: Vec<Arc<ContainerDetail>> =
        by_name.into_values().filter_map(|same| pick_current(same.into_iter()).cloned()).collect();
    let field = |f: fn(&ContainerDetail) -> Option<&String>| {
        sandbox.as_deref().and_then(f).or_else(|| containers.iter().find_map(|c| f(c))).cloned()
    };
    let main = choose_main(sandbox.as_deref(), &containers, rule);
    Pod {
        name: field(|c| c.pod.pod_name.as_ref()),
        namespace: field(|c| c.pod.namespace.as_ref()),
        uid: field(|c| c.pod.pod_uid.as_ref()),
        sandbox,
        containers,
        main,
    }
}

fn pick_current<'a>(candidates: impl Iterator<Item = &'a Arc<ContainerDetail>>) -> Option<&'a Arc<ContainerDetail>> {
    candidates.max_by_key(|c| (c.state.status.is_running(), c.created, c.state.started_at))
}

fn choose_main(
    sandbox: Option<&ContainerDetail>,
    containers: &[Arc<ContainerDetail>],
    rule: &MainContainerRule,
) -> std::result::Result<String, (ErrorKind, String)> {
    match containers {
        [] => return Err((ErrorKind::NotFound, "the pod has no container besides its sandbox".into())),
        [only] => return Ok(only.id.clone()),
        _ => {}
    }
    let sources = sandbox.into_iter().chain(containers.iter().map(|c| &**c));
    for key in &rule.name_keys {
        let named = sources.clone().find_map(|c| c.annotations.get(key).or_else(|| c.labels.get(key)));
        if let Some(name) = named {
            return containers
                .iter()
                .find(|c| c.pod.container_name.as_deref() == Some(name.as_str()))
                .map(|c| c.id.clone())
                .ok_or_else(|| (ErrorKind::NotFound, format!("{key}={name} names no container of the pod")));
        }
    }
    let names: Vec<&str> = containers.iter().map(|c| c.pod.container_name.as_deref().unwrap_or(&c.name)).collect();
    Err((
        ErrorKind::InvalidArgument,
        format!(
            "the main container is ambiguous: {} containers ({}) and none named by {}",
            names.len(),
            names.join(", "),
            rule.name_keys.join(" or ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ContainerState, ContainerStatus, PodIdentity, RuntimeClass};

    fn member(id: &str, k8s_name: &str, uid: &str, sandbox: &str, running: bool) -> Arc<ContainerDetail> {
        let is_sandbox = id == sandbox;
        let status = if running { ContainerStatus::Running } else { ContainerStatus::Exited };
        let state = ContainerState::with_status(status);
        let mut d = ContainerDetail::new(id, format!("k8s_{k8s_name}_{id}"), "busybox", state, RuntimeClass::Runc);
        d.pod.pod_name = Some("web".into());
        d.pod.namespace = Some("prod".into());
        d.pod.pod_uid = Some(uid.into());
        d.pod.container_name = Some(k8s_name.into());
        d.pod.sandbox_id = Some(sandbox.into());
        d.pod.role = Some(if is_sandbox { PodRole::Sandbox } else { PodRole::Main });
        Arc::new(d)
    }

    #[test]
    fn single_container_is_main() {
        let all = [member("s1", "POD", "u1", "s1", true), member("c1", "app", "u1", "s1", true)];
        let pods = group_pods(&all, &MainContainerRule::default());
        assert_eq!(pods.len(), 1);
        let p = &pods[0];
        assert_eq!(p.full_name().as_deref(), Some("web_prod"));
        assert_eq!(p.sandbox_id(), Some("s1"));
        assert_eq!(p.main().unwrap().id, "c1");
        assert_eq!(p.role_of("s1"), Some(PodRole::Sandbox));
        assert_eq!(p.role_of("c1"), Some(PodRole::Main));
        assert_eq!(p.role_of("zz"), None);
        assert_eq!(p.all().count(), 2);
    }

    #[test]
    fn ambiguous_and_absent_main_are_clear_errors() {
        let all = [
            member("s1", "POD", "u1", "s1", true),
            member("a", "app", "u1", "s1", true),
            member("b", "proxy", "u1", "s1", true),
        ];
        let pods = group_pods(&all, &MainContainerRule::default());
        let e = pods[0].main().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("app") && e.message().contains("proxy"), "{e}");
        assert_eq!(pods[0].role_of("a"), Some(PodRole::Sidecar));
        let lonely = group_pods(&[member("s2", "POD", "u2", "s2", true)], &MainContainerRule::default());
        assert_eq!(lonely[0].main().unwrap_err().kind(), ErrorKind::NotFound);
    }

    #[test]
    fn default_container_annotation_picks_main() {
        let mut sandbox = (*member("s1", "POD", "u1", "s1", true)).clone();
        sandbox.annotations.insert(DEFAULT_CONTAINER_KEY.into(), "proxy".into());
        let all = [Arc::new(sandbox), member("a", "app", "u1", "s1", true), member("b", "proxy", "u1", "s1", true)];
        let pods = group_pods(&all, &MainContainerRule::default());
        assert_eq!(pods[0].main().unwrap().id, "b");
        assert_eq!(pods[0].role_of("a"), Some(PodRole::Sidecar));
    }

    #[test]
    fn restarted_container_keeps_the_running_instance_and_pods_stay_apart() {
        let all = [
            member("s1", "POD", "u1", "s1", true),
            member("old", "app", "u1", "s1", false),
            member("new", "app", "u1", "s1", true),
            member("s2", "POD", "u2", "s2", true),
            member("x", "db", "u2", "s2", true),
        ];
        let pods = group_pods(&all, &MainContainerRule::default());
        assert_eq!(pods.len(), 2);
        let web = pods.iter().find(|p| p.uid.as_deref() == Some("u1")).unwrap();
        assert_eq!(web.containers.len(), 1);
        assert_eq!(web.main().unwrap().id, "new");
        let other = pods.iter().find(|p| p.uid.as_deref() == Some("u2")).unwrap();
        assert_eq!(other.main().unwrap().id, "x");
    }

    #[test]
    fn containers_outside_pods_are_left_out() {
        let mut plain = (*member("p", "x", "u", "s", true)).clone();
        plain.pod = PodIdentity::default();
        assert!(group_pods(&[Arc::new(plain)], &MainContainerRule::default()).is_empty());
    }
}
