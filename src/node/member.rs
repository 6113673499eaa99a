//! The node's connections and the task that follows them.
//!
//! A *root* is one engine on one socket (an address the environment named or a known socket that
//! answered). A root whose engine keeps containers in namespaces (containerd) gets one *member* per
//! namespace that holds containers, each a connection of its own limited to that namespace with its
//! own live index; any other root is its own single member. Each member's index follows its
//! engine's events on its own (a broken stream is reopened and repaired by a resync, see
//! `anyctr-index`), so one engine's trouble never stalls another's view.
//!
//! The follower task, every [`NodeOptions::recheck_interval`](crate::NodeOptions), connects what
//! is down (a daemon that restarted, a socket that appeared later), lists the namespaces of
//! namespaced roots to add the ones that came to hold containers, replaces a member whose index
//! died, and probes the known sockets again for engines that were not there before.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use anyctr_core::{ContainerEngine, EngineAddress, EnvRole, ListOptions, Registry, Result};
use anyctr_index::{ContainerIndex, IndexChange, IndexHealth};
use tokio::sync::broadcast;

use super::discover::{self, Candidate, NodeReport};
use super::view::{RUNTIME_ENGINE, owner_rank};
use super::{EngineHealth, EngineStatus, NodeChange, NodeOptions};
use crate::ext::EngineExt;
use crate::handle::Engine;
use crate::select::Engines;

/// A connection the node keeps, with its index.
pub(crate) struct Member {
    pub engine_name: Arc<str>,
    /// `engine://socket[?namespace=…]`: what [`NodeContainer::member`](super::NodeContainer) names.
    pub label: Arc<str>,
    pub namespace: Option<String>,
    pub address: EngineAddress,
    /// Why the node has this engine (the variable or probe that named it).
    pub source: Arc<str>,
    pub state: Mutex<MemberState>,
}

pub(crate) enum MemberState {
    Up(Box<Connected>),
    Down { why: String, since: Instant },
}

#[derive(Clone)]
pub(crate) struct Connected {
    pub engine: Engine,
    pub index: Arc<ContainerIndex>,
    /// Forwards the index's changes to the node's subscribers; aborted with the connection.
    _forwarder: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One engine on one socket.
pub(crate) struct Root {
    pub candidate: Candidate,
    /// Whether its containers live in namespaces, each a member of its own.
    namespaced: bool,
    pub state: Mutex<RootState>,
}

pub(crate) enum RootState {
    Up(Box<Engine>),
    Down { why: String, since: Instant },
}

pub(crate) struct Inner {
    pub options: NodeOptions,
    pub roots: RwLock<Vec<Arc<Root>>>,
    pub members: RwLock<Vec<Arc<Member>>>,
    pub report: Mutex<NodeReport>,
    pub changes: broadcast::Sender<NodeChange>,
    /// Probe the known sockets again on each recheck (off when the node was given addresses).
    pub detect: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

impl Member {
    pub(crate) fn connected(&self) -> Option<Connected> {
        match &*lock(&self.state) {
            MemberState::Up(c) => Some((**c).clone()),
            MemberState::Down { .. } => None,
        }
    }

    fn status(&self) -> EngineStatus {
        let health = match &*lock(&self.state) {
            MemberState::Up(c) => match c.index.health() {
                IndexHealth::Live => EngineHealth::Healthy,
                IndexHealth::Degraded(why) => EngineHealth::Degraded(why),
                IndexHealth::Dead(why) => EngineHealth::Down { why, since: Instant::now() },
                other => EngineHealth::Degraded(format!("{other:?}")),
            },
            MemberState::Down { why, since } => EngineHealth::Down { why: why.clone(), since: *since },
        };
        EngineStatus {
            engine: self.engine_name.clone(),
            member: self.label.clone(),
            namespace: self.namespace.clone(),
            source: self.source.clone(),
            health,
        }
    }
}

/// The label of a connection: engine, socket and namespace.
fn label_of(address: &EngineAddress, engine: &str, namespace: Option<&str>) -> String {
    let socket = address.socket.as_ref().map(|s| s.display().to_string()).unwrap_or_default();
    match namespace {
        Some(ns) => format!("{engine}://{socket}?namespace={ns}"),
        None => format!("{engine}://{socket}"),
    }
}

/// Whether an engine keeps its containers in namespaces: its registration reads a `namespace`
/// parameter (containerd's `CONTAINERD_NAMESPACE`), or its list shows namespaces.
fn namespaced_engine(registry: &Registry, engine: &str) -> bool {
    registry.find(engine).is_some_and(|r| r.env_vars.iter().any(|v| matches!(v.role, EnvRole::Param("namespace"))))
}

impl Inner {
    pub(crate) fn statuses(&self) -> Vec<EngineStatus> {
        let mut out: Vec<EngineStatus> = read(&self.members).iter().map(|m| m.status()).collect();
        // A root with no member yet (down, or a namespaced engine holding no containers) is
        // reported too, so every engine the node knows is listed.
        for root in read(&self.roots).iter() {
            let socket = root.candidate.address.socket.clone();
            let has_member = read(&self.members).iter().any(|m| m.address.socket == socket);
            if has_member {
                continue;
            }
            let engine: Arc<str> = root.candidate.address.engine.clone().unwrap_or_else(|| "?".into()).into();
            let health = match &*lock(&root.state) {
                RootState::Up(_) => EngineHealth::Healthy,
                RootState::Down { why, since } => EngineHealth::Down { why: why.clone(), since: *since },
            };
            let member = label_of(&root.candidate.address, &engine, None).into();
            let source = root.candidate.source.as_str().into();
            out.push(EngineStatus { engine, member, namespace: None, source, health });
        }
        out
    }

    pub(crate) fn members(&self) -> Vec<Arc<Member>> {
        read(&self.members).clone()
    }

    /// Connects a new root and its members (bounded by the call timeout); a root that does not
    /// answer is kept, down, and retried on each recheck.
    pub(crate) async fn add_root(self: &Arc<Self>, candidate: Candidate) {
        let registry = Registry::global().ok();
        let engine_name = candidate.address.engine.clone();
        let namespaced = candidate.address.param("namespace").is_none()
            && match (registry, &engine_name) {
                (Some(r), Some(e)) => namespaced_engine(r, e),
                _ => false,
            };
        let root = Arc::new(Root {
            candidate,
            namespaced,
            state: Mutex::new(RootState::Down { why: "not connected yet".into(), since: Instant::now() }),
        });
        write(&self.roots).push(root.clone());
        self.bring_up_root(&root).await;
    }

    /// Connects a root that is down; then makes sure its members exist and are up.
    async fn bring_up_root(self: &Arc<Self>, root: &Arc<Root>) {
        let engine = match &*lock(&root.state) {
            RootState::Up(e) => Some((**e).clone()),
            RootState::Down { .. } => None,
        };
        let engine = match engine {
            Some(e) => e,
            None => match Engines::connect_with(root.candidate.address.clone(), &self.options.connect).await {
                Ok(e) => {
                    *lock(&root.state) = RootState::Up(Box::new(e.clone()));
                    e
                }
                Err(e) => {
                    let mut state = lock(&root.state);
                    if let RootState::Down { why, .. } = &mut *state {
                        *why = e.to_string();
                    }
                    return;
                }
            },
        };
        // A probe of a bare socket decided the engine: name it from the connected one.
        let name: Arc<str> = engine.name().into();
        let namespaced =
            root.namespaced || (root.candidate.address.engine.is_none() && self.lists_namespaces(&engine).await);
        let wanted: Vec<Option<String>> = if namespaced {
            match self.namespaces_with_containers(&engine).await {
                Ok(ns) => ns.into_iter().map(Some).collect(),
                Err(e) => {
                    *lock(&root.state) = RootState::Down { why: e.to_string(), since: Instant::now() };
                    return;
                }
            }
        } else {
            vec![None]
        };
        let mut address = root.candidate.address.clone();
        address.engine = Some(name.to_string());
        for namespace in wanted {
            let exists =
                read(&self.members).iter().any(|m| m.address.socket == address.socket && m.namespace == namespace);
            if exists {
                continue;
            }
            let member_address = match &namespace {
                Some(ns) => address.clone().with_param("namespace", ns),
                None => address.clone(),
            };
            let member = Arc::new(Member {
                engine_name: name.clone(),
                label: label_of(&address, &name, namespace.as_deref()).into(),
                namespace: namespace.clone(),
                address: member_address,
                source: root.candidate.source.as_str().into(),
                state: Mutex::new(MemberState::Down { why: "not connected yet".into(), since: Instant::now() }),
            });
            write(&self.members).push(member);
        }
        let members: Vec<Arc<Member>> =
            read(&self.members).iter().filter(|m| m.address.socket == address.socket).cloned().collect();
        // The root's own connection serves an un-namespaced member; namespaced ones connect each.
        let shared = (!namespaced).then_some(engine);
        futures_util::future::join_all(members.iter().map(|m| self.bring_up_member(m, shared.clone()))).await;
    }

    async fn lists_namespaces(&self, engine: &Engine) -> bool {
        match tokio::time::timeout(self.options.connect.call_timeout, engine.list(&ListOptions::all())).await {
            Ok(Ok(list)) => list.iter().any(|s| s.namespace.is_some()),
            _ => false,
        }
    }

    /// The namespaces that hold at least one container, from one list over all of them.
    async fn namespaces_with_containers(&self, engine: &Engine) -> Result<BTreeSet<String>> {
        let timeout = self.options.connect.call_timeout;
        let list = tokio::time::timeout(timeout, engine.list(&ListOptions::all()))
            .await
            .map_err(|_| anyctr_core::Error::timeout("list", timeout).with_engine(engine.name()))??;
        Ok(list.into_iter().filter_map(|s| s.namespace).collect())
    }

    /// Connects a member that is down (or whose index died) and starts its index.
    async fn bring_up_member(self: &Arc<Self>, member: &Arc<Member>, shared: Option<Engine>) {
        let dead = match &*lock(&member.state) {
            MemberState::Up(c) => matches!(c.index.health(), IndexHealth::Dead(_)),
            MemberState::Down { .. } => true,
        };
        if !dead {
            return;
        }
        match self.connect_member(member, shared).await {
            Ok(connected) => {
                *lock(&member.state) = MemberState::Up(Box::new(connected));
                let _ = self.changes.send(NodeChange::EngineUp { member: member.label.clone() });
            }
            Err(e) => {
                let mut state = lock(&member.state);
                match &mut *state {
                    MemberState::Down { why, .. } => *why = e.to_string(),
                    up => {
                        *up = MemberState::Down { why: e.to_string(), since: Instant::now() };
                        let _ = self
                            .changes
                            .send(NodeChange::EngineDown { member: member.label.clone(), why: e.to_string() });
                    }
                }
            }
        }
    }

    async fn connect_member(self: &Arc<Self>, member: &Arc<Member>, shared: Option<Engine>) -> Result<Connected> {
        let engine = match shared {
            Some(e) => e,
            None => Engines::connect_with(member.address.clone(), &self.options.connect).await?,
        };
        let index = Arc::new(engine.index(self.options.index.clone()).await?);
        let mut rx = index.subscribe();
        let (node, member) = (Arc::downgrade(self), member.clone());
        let forwarder = tokio::spawn(async move {
            loop {
                let received = rx.recv().await;
                let Some(node) = node.upgrade() else { break };
                let change = match received {
                    Ok(change) => match node.node_change(&member, change) {
                        Some(change) => NodeChange::Container { member: member.label.clone(), change },
                        None => continue,
                    },
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        NodeChange::Lagged { member: member.label.clone(), missed: n }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let _ = node.changes.send(change);
            }
        });
        Ok(Connected { engine, index, _forwarder: Arc::new(AbortOnDrop(forwarder)) })
    }

    /// What the node reports for a change of `from`'s index: the change when `from` owns the
    /// container's merged entry, nothing when another connection does (see
    /// [`NodeChange::Container`]).
    fn node_change(self: &Arc<Self>, from: &Member, change: IndexChange) -> Option<IndexChange> {
        let id = match &change {
            IndexChange::ContainerAdded(id) | IndexChange::ContainerUpdated(id) | IndexChange::ContainerRemoved(id) => {
                id.clone()
            }
            _ => return Some(change),
        };
        let holders: Vec<Arc<Member>> = self
            .members()
            .into_iter()
            .filter(|m| m.label != from.label && m.connected().is_some_and(|c| c.index.container(&id).is_some()))
            .collect();
        let rank = |m: &Member| (owner_rank(&m.engine_name), m.label.clone());
        let ours = rank(from);
        let best_other = holders.iter().map(|m| rank(m)).min();
        if matches!(change, IndexChange::ContainerRemoved(_)) && &*from.engine_name != RUNTIME_ENGINE {
            // The daemon removed it: the runtime's record of it is gone too; read the roots
            // again now rather than list it as runtime-only until the next resync.
            for m in holders.iter().filter(|m| &*m.engine_name == RUNTIME_ENGINE) {
                if let Some(c) = m.connected() {
                    tokio::spawn(async move { c.index.resync().await });
                }
            }
        }
        match best_other {
            // Only ours holds it: the entry appeared, changed or went, as the index says.
            None => Some(change),
            // Another connection holds it too: the entry changed (owner, detail) if ours ranks
            // first, else the owner's own changes report it.
            Some(other) if ours < other => Some(IndexChange::ContainerUpdated(id)),
            Some(_) => None,
        }
    }

    /// The OCI runtimes' view is read again whenever a daemon connection is not healthy, so a
    /// container whose daemon went away is listed from its runtime's current state.
    async fn refresh_runtime_fallback(&self) {
        let members = self.members();
        let daemon_unhealthy = members.iter().any(|m| &*m.engine_name != RUNTIME_ENGINE && !m.status().is_healthy());
        if !daemon_unhealthy {
            return;
        }
        for m in members.iter().filter(|m| &*m.engine_name == RUNTIME_ENGINE) {
            if let Some(c) = m.connected() {
                let _ = c.index.resync().await;
            }
        }
    }

    /// One round of following: everything down is retried, namespaces re-listed, sockets re-probed.
    pub(crate) async fn recheck(self: &Arc<Self>) {
        let roots: Vec<Arc<Root>> = read(&self.roots).clone();
        for root in &roots {
            self.bring_up_root(root).await;
        }
        self.refresh_runtime_fallback().await;
        if self.detect {
            let taken: Vec<_> = roots.iter().filter_map(|r| r.candidate.address.socket.clone()).collect();
            let registry = match Registry::global() {
                Ok(r) => r,
                Err(_) => return,
            };
            let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
            let (found, _) = discover::probed(registry, &self.options.connect, &get, &taken).await;
            for candidate in found {
                self.add_root(candidate).await;
            }
        }
    }
}

/// Runs [`Inner::recheck`] every `interval` while the node lives.
pub(crate) fn spawn_follower(inner: Weak<Inner>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(inner) = inner.upgrade() else { break };
            inner.recheck().await;
        }
    })
}
