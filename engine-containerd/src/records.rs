//! Reading containers from containerd: namespaces, records, tasks, CRI state, and the lookup of
//! one container by id, `namespace/id`, name or unique id prefix across the configured namespaces.

use std::collections::HashMap;

use anyctr_core::model::ContainerSummary;
use anyctr_core::{Error, ListOptions, Result, resolve_container};
use containerd_client::services::v1::{
    Container, GetContainerRequest, GetRequest, ListContainersRequest, ListNamespacesRequest, ListTasksRequest,
};
use containerd_client::types::v1::Process;
use futures_util::StreamExt;
use futures_util::future::join_all;
use k8s_cri::v1::{
    ContainerStatusRequest, ListContainersRequest as CriListContainers, ListPodSandboxRequest, PodSandboxStatusRequest,
};

use crate::ContainerdEngine;
use crate::client::is_not_found;
use crate::convert::{self, ContainerFacts, SandboxFacts};
use crate::cri::{self, CriState};
use crate::runtime::RuntimeInfo;

/// Per-container work (CRI status calls, rootfs checks) run at once by a bulk inspect.
pub(crate) const BULK_CONCURRENCY: usize = 16;

/// A container found by a lookup.
#[derive(Debug, Clone)]
pub struct Located {
    /// The containerd namespace it was found in.
    pub namespace: String,
    /// containerd's record of the container.
    pub record: Container,
}

impl ContainerdEngine {
    /// The namespaces this engine looks at: the configured ones, or every namespace containerd has.
    pub async fn namespaces(&self) -> Result<Vec<String>> {
        if !self.options.namespaces.is_empty() {
            return Ok(self.options.namespaces.clone());
        }
        let c = &self.client;
        let resp =
            c.call("list_namespaces", c.namespaces().list(c.request(None, ListNamespacesRequest::default()))).await?;
        let mut names: Vec<String> = resp.namespaces.into_iter().map(|n| n.name).collect();
        names.sort();
        Ok(names)
    }

    /// Every container record of a namespace (streamed: a page of specs can exceed a message).
    pub async fn records(&self, namespace: &str) -> Result<Vec<Container>> {
        let c = &self.client;
        let mut stream = c
            .call("list", c.containers().list_stream(c.request(Some(namespace), ListContainersRequest::default())))
            .await?;
        let mut out = Vec::new();
        loop {
            let next = tokio::time::timeout(c.call_timeout(), stream.message()).await;
            match next {
                Ok(Ok(Some(msg))) => out.extend(msg.container),
                Ok(Ok(None)) => break,
                Ok(Err(status)) => return Err(crate::client::status_error(status, c.engine(), "list")),
                Err(_) => return Err(Error::timeout("list", c.call_timeout()).with_engine(c.engine())),
            }
        }
        Ok(out)
    }

    /// The init tasks of a namespace, by container id.
    pub async fn tasks_in(&self, namespace: &str) -> Result<HashMap<String, Process>> {
        let c = &self.client;
        let resp = c.call("list", c.tasks().list(c.request(Some(namespace), ListTasksRequest::default()))).await?;
        Ok(resp.tasks.into_iter().map(|t| (t.id.clone(), t)).collect())
    }

    /// The init task of a container; `None` when it has none.
    pub async fn task(&self, namespace: &str, id: &str) -> Result<Option<Process>> {
        let c = &self.client;
        let req = GetRequest { container_id: id.to_owned(), exec_id: String::new() };
        match c.call("inspect", c.tasks().get(c.request(Some(namespace), req))).await {
            Ok(resp) => Ok(resp.process),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One record by exact id; `None` when the namespace has no such container.
    pub async fn record(&self, namespace: &str, id: &str) -> Result<Option<Container>> {
        let c = &self.client;
        let req = GetContainerRequest { id: id.to_owned() };
        match c.call("inspect", c.containers().get(c.request(Some(namespace), req))).await {
            Ok(resp) => Ok(resp.container),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// CRI's states of every container and sandbox it knows (best effort: empty without CRI).
    async fn cri_states(&self) -> HashMap<String, CriState> {
        let c = &self.client;
        let mut out = HashMap::new();
        if let Ok(resp) = c.call("list", c.cri().list_containers(c.request(None, CriListContainers::default()))).await {
            for ctr in resp.containers {
                out.insert(ctr.id, CriState { state: cri::container_state_word(ctr.state), ..Default::default() });
            }
        }
        if let Ok(resp) =
            c.call("list", c.cri().list_pod_sandbox(c.request(None, ListPodSandboxRequest::default()))).await
        {
            for pod in resp.items {
                out.insert(pod.id, CriState { state: cri::sandbox_state_word(pod.state), ..Default::default() });
            }
        }
        out
    }

    /// CRI's full state of one container or sandbox (exit code, times), if CRI knows it.
    async fn cri_state(&self, facts: &ContainerFacts) -> Option<CriState> {
        let c = &self.client;
        let id = facts.record.id.clone();
        if facts.is_sandbox() {
            let req = PodSandboxStatusRequest { pod_sandbox_id: id, verbose: false };
            let status = c.call("inspect", c.cri().pod_sandbox_status(c.request(None, req))).await.ok()?.status?;
            return Some(CriState { state: cri::sandbox_state_word(status.state), ..Default::default() });
        }
        let req = ContainerStatusRequest { container_id: id, verbose: false };
        let s = c.call("inspect", c.cri().container_status(c.request(None, req))).await.ok()?.status?;
        let state = cri::container_state_word(s.state);
        Some(CriState {
            state,
            exit_code: (state == "exited").then_some(i64::from(s.exit_code)),
            started_at_ns: s.started_at,
            finished_at_ns: s.finished_at,
            reason: s.reason,
        })
    }

    /// Facts for every container of the configured namespaces that passes `options`.
    pub async fn list_facts(&self, options: &ListOptions) -> Result<Vec<ContainerFacts>> {
        let namespaces = self.namespaces().await?;
        let per_ns = join_all(namespaces.iter().map(|ns| self.facts_in(ns))).await;
        let mut all = Vec::new();
        for facts in per_ns {
            all.extend(facts?);
        }
        all.retain(|f| {
            let labels = f.record.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            options.matches_labels(&labels) && (options.all || f.state().status.is_running())
        });
        Ok(all)
    }

    /// Facts for every container `options` selects, as complete as [`facts`](Self::facts) makes
    /// them for one container: the list's records, tasks and sandboxes, and for a CRI container
    /// without a task CRI's full state (exit code, times; the list carries only its word), asked
    /// as `facts` asks it.
    pub async fn all_facts(&self, options: &ListOptions) -> Result<Vec<ContainerFacts>> {
        let listed = self.list_facts(options).await?;
        let all = futures_util::stream::iter(listed)
            .map(|mut f| async move {
                if f.task.is_none() && f.is_cri() {
                    f.cri_state = self.cri_state(&f).await;
                }
                f
            })
            .buffered(BULK_CONCURRENCY)
            .collect()
            .await;
        Ok(all)
    }

    async fn facts_in(&self, namespace: &str) -> Result<Vec<ContainerFacts>> {
        let (records, tasks) = tokio::try_join!(self.records(namespace), self.tasks_in(namespace))?;
        let mut tasks = tasks;
        let needs_cri = records.iter().any(|r| !tasks.contains_key(&r.id) && is_cri_record(r));
        let cri_states = if needs_cri { self.cri_states().await } else { HashMap::new() };
        let sandboxes: HashMap<String, SandboxFacts> = records
            .iter()
            .filter(|r| r.extensions.contains_key(cri::SANDBOX_METADATA))
            .map(|r| (r.id.clone(), sandbox_facts(r)))
            .collect();
        Ok(records
            .into_iter()
            .map(|record| {
                let mut f = ContainerFacts {
                    namespace: namespace.to_owned(),
                    task: tasks.remove(&record.id),
                    cri_state: None,
                    sandbox: None,
                    record,
                };
                if f.task.is_none() {
                    f.cri_state = cri_states.get(&f.record.id).cloned();
                }
                if !f.is_sandbox() {
                    f.sandbox = f.cri_sandbox_id().and_then(|id| sandboxes.get(&id).cloned());
                }
                f
            })
            .collect())
    }

    /// Everything about one located container: task, sandbox, CRI state.
    pub async fn facts(&self, located: Located) -> Result<ContainerFacts> {
        let Located { namespace, record } = located;
        let task = self.task(&namespace, &record.id).await?;
        let mut f = ContainerFacts { namespace, record, task, cri_state: None, sandbox: None };
        if !f.is_sandbox()
            && let Some(sandbox_id) = f.cri_sandbox_id()
            && let Some(sb) = self.record(&f.namespace, &sandbox_id).await?
        {
            f.sandbox = Some(sandbox_facts(&sb));
        }
        if f.task.is_none() && f.is_cri() {
            f.cri_state = self.cri_state(&f).await;
        }
        Ok(f)
    }

    /// Finds a container by `namespace/id`, exact id, name or unique id prefix. An id present
    /// in several namespaces is ambiguous (`InvalidArgument`): qualify it as `namespace/id`.
    pub async fn locate(&self, query: &str) -> Result<Located> {
        let q = query.trim();
        if q.is_empty() {
            return Err(Error::invalid_argument("empty container id or name"));
        }
        let namespaces = self.namespaces().await?;
        if let Some((ns, id)) = q.split_once('/')
            && namespaces.iter().any(|n| n == ns)
        {
            return match self.record(ns, id).await? {
                Some(record) => Ok(Located { namespace: ns.to_owned(), record }),
                None => Err(not_found(q)),
            };
        }
        let exact = join_all(namespaces.iter().map(|ns| self.record(ns, q))).await;
        let mut found = Vec::new();
        for (ns, r) in namespaces.iter().zip(exact) {
            if let Some(record) = r? {
                found.push(Located { namespace: ns.clone(), record });
            }
        }
        match found.len() {
            1 => return Ok(found.remove(0)),
            0 => {}
            _ => {
                let list: Vec<String> = found.iter().map(|l| format!("{}/{}", l.namespace, l.record.id)).collect();
                return Err(Error::invalid_argument(format!(
                    "container id {q:?} exists in several namespaces ({}); name it as namespace/id",
                    list.join(", ")
                ))
                .with_container(q));
            }
        }
        // Names and prefixes: resolve against every record's summary.
        let mut candidates: Vec<(Located, ContainerSummary)> = Vec::new();
        for ns in &namespaces {
            for record in self.records(ns).await? {
                let f = ContainerFacts { namespace: ns.clone(), record, task: None, cri_state: None, sandbox: None };
                let s = convert::summary(&f);
                candidates.push((Located { namespace: f.namespace, record: f.record }, s));
            }
        }
        let summaries: Vec<ContainerSummary> = candidates.iter().map(|(_, s)| s.clone()).collect();
        let hit = resolve_container(q, &summaries)?;
        let index = summaries.iter().position(|s| std::ptr::eq(s, hit)).unwrap_or_default();
        Ok(candidates.swap_remove(index).0)
    }
}

fn is_cri_record(r: &Container) -> bool {
    r.extensions.contains_key(cri::CONTAINER_METADATA) || r.extensions.contains_key(cri::SANDBOX_METADATA)
}

fn sandbox_facts(record: &Container) -> SandboxFacts {
    SandboxFacts {
        runtime: RuntimeInfo::from_record(record.runtime.as_ref()),
        metadata: cri::sandbox_metadata(&record.extensions),
    }
}

/// `NotFound` for a container query.
pub fn not_found(query: &str) -> Error {
    Error::not_found(format!("no container with id, id prefix or name {query:?}")).with_container(query)
}
