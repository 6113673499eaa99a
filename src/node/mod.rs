//! [`Node`]: every engine of this node in one view — detected and connected, containerd
//! namespace by namespace, one live index per connection merged into one entry per container,
//! per-container calls routed to the engine that owns the container, engines followed as they go
//! away and come back.
//!
//! **Why one index per connection, merged when read, rather than one merged index.** Each
//! engine's events, gaps, resyncs and failures are its own: a per-connection
//! [`ContainerIndex`] already follows them (a broken stream is reopened and repaired), and its
//! health is that engine's health. A daemon that restarts degrades only its own index; the others
//! keep answering. Merging at read time costs one hash lookup per connection for a key
//! ([`Node::container`]) and one pass over the entries for the whole view ([`Node::containers`]),
//! and needs no second copy of any detail (the entries are the indexes' `Arc`s).

mod discover;
mod member;
mod route;
mod view;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyctr_core::{EngineAddress, Error, ErrorKind, Registry, Result};
use anyctr_index::{IndexChange, IndexOptions};
use tokio::sync::broadcast;

pub use discover::{CandidateReport, NodeReport};
pub use view::{NodeContainer, OtherView};

use discover::Candidate;
use member::{Inner, Member};
use view::{Seen, merge_all, merge_one};

use crate::handle::Engine;
use crate::select::ConnectOptions;

/// How a [`Node`] connects and follows its engines: [`NodeOptions::default`] and the setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeOptions {
    /// How each engine is connected (host root, call and probe timeouts).
    pub connect: ConnectOptions,
    /// How each connection's index works (by default every container, stopped ones included).
    pub index: IndexOptions,
    /// How often engines that are down are retried, containerd namespaces re-listed and the
    /// known sockets probed again (default 2 s).
    pub recheck_interval: Duration,
    /// Whether [`Node::connect`] also reads the OCI runtimes' roots (engine `oci`, when compiled
    /// in; default on), so a container whose daemon is down or unknown is still listed, marked
    /// [`NodeContainer::runtime_only`]. [`Node::connect_to`] reads them when given `oci://…`.
    pub runtime_fallback: bool,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            connect: ConnectOptions::default(),
            index: IndexOptions::default(),
            recheck_interval: Duration::from_secs(2),
            runtime_fallback: true,
        }
    }
}

impl NodeOptions {
    /// How each engine is connected.
    pub fn connect(mut self, connect: ConnectOptions) -> Self {
        self.connect = connect;
        self
    }

    /// How each connection's index works.
    pub fn index(mut self, index: IndexOptions) -> Self {
        self.index = index;
        self
    }

    /// How often what is down is retried and what is new looked for.
    pub fn recheck_interval(mut self, interval: Duration) -> Self {
        self.recheck_interval = interval;
        self
    }

    /// Whether [`Node::connect`] reads the OCI runtimes' roots as a fallback source.
    pub fn runtime_fallback(mut self, on: bool) -> Self {
        self.runtime_fallback = on;
        self
    }
}

/// Whether a connection is usable and kept current.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineHealth {
    /// Connected; its index follows its events.
    Healthy,
    /// Connected, but its index is behind until it recovers (the event stream is reconnecting —
    /// the daemon is away —, a repair resync is pending): the reason.
    Degraded(String),
    /// Not connected (the daemon does not answer, or the socket is not there yet): retried every
    /// [`NodeOptions::recheck_interval`].
    Down {
        /// The last error.
        why: String,
        /// Since when.
        since: Instant,
    },
}

/// One connection of the node and its health.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineStatus {
    /// The engine's registered name.
    pub engine: Arc<str>,
    /// The connection: `engine://socket`, with `?namespace=…` for a containerd namespace.
    pub member: Arc<str>,
    /// The containerd namespace it is limited to.
    pub namespace: Option<String>,
    /// Why the node has it: the variable that named it (`DOCKER_HOST=…`), the probe that found
    /// it, or `given`.
    pub source: Arc<str>,
    /// Its health.
    pub health: EngineHealth,
}

impl EngineStatus {
    /// Whether it is [`EngineHealth::Healthy`].
    pub fn is_healthy(&self) -> bool {
        self.health == EngineHealth::Healthy
    }
}

/// What changed in the node view.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeChange {
    /// A container's entry in the node view appeared, changed or went away: reported once, by
    /// the connection that owns the entry (a docker container's `moby` and runtime records add
    /// no second report). When the owner changes (its daemon went down and the runtime's record
    /// takes over, or back), or the owner's view goes while another still holds the container,
    /// it is `ContainerUpdated`; `ContainerRemoved` once no connection holds it. Pod changes are
    /// reported by each connection that sees the pod. Look the container up with
    /// [`Node::container`].
    Container {
        /// The connection.
        member: Arc<str>,
        /// What changed.
        change: IndexChange,
    },
    /// A connection came up (at start, after a restart, a socket that appeared).
    EngineUp {
        /// The connection.
        member: Arc<str>,
    },
    /// A connection's index died or its engine could not be reached.
    EngineDown {
        /// The connection.
        member: Arc<str>,
        /// Why.
        why: String,
    },
    /// This subscriber missed changes of a connection: re-read [`Node::containers`].
    Lagged {
        /// The connection.
        member: Arc<str>,
        /// How many.
        missed: u64,
    },
}

/// Every engine of this node in one view (see the module docs of `anyctr::node`).
///
/// ```no_run
/// # async fn f() -> anyctr::Result<()> {
/// let node = anyctr::Node::connect(anyctr::NodeOptions::default()).await?;
/// for c in node.containers() {
///     println!("{} {} on {}", c.detail.short_id(), c.detail.name, c.engine);
/// }
/// # Ok(()) }
/// ```
/// Dropping the node stops following its engines and every index.
pub struct Node {
    inner: Arc<Inner>,
    follower: tokio::task::JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("engines", &self.engines()).finish()
    }
}

impl Node {
    /// Detects and connects every engine of this node: every address the environment names
    /// (`DOCKER_HOST`, `CONTAINERD_ADDRESS`, `CONTAINER_RUNTIME_ENDPOINT`, `CONTAINER_HOST`,
    /// `POUCH_SOCKET`, `ANYCTR_ADDRESS`, … — all of them, with `ANYCTR_HOST_ROOT`), and every
    /// known socket that answers. A containerd gets one connection per namespace that holds
    /// containers. Engines that do not answer now are retried (see [`NodeOptions::recheck_interval`]);
    /// [`report`](Self::report) explains each candidate. Fails with `EngineUnavailable` only when
    /// no engine at all was found.
    pub async fn connect(options: NodeOptions) -> Result<Node> {
        let registry = Registry::global()?;
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut options = options;
        let plan = crate::env::plan_from_env(get)?;
        if plan.host_root.is_some() {
            options.connect.host_root = plan.host_root.clone();
        }
        let mut report = NodeReport::default();
        let mut candidates = discover::from_env(registry, &get, &mut report);
        let taken: Vec<_> = candidates.iter().filter_map(|c| c.address.socket.clone()).collect();
        let (probed, detect) = discover::probed(registry, &options.connect, &get, &taken).await;
        report.detect = detect;
        candidates.extend(probed);
        if candidates.is_empty() {
            return Err(Error::new(ErrorKind::EngineUnavailable, format!("no container engine found\n{report}")));
        }
        if options.runtime_fallback {
            candidates.extend(discover::runtime_fallback(registry, &candidates, &mut report));
        }
        Ok(Node::start(candidates, options, report, true).await)
    }

    /// Connects the given addresses only (no probing): `docker:///run/docker.sock`,
    /// `containerd:///run/containerd/containerd.sock` (every namespace that holds containers, or
    /// the one `?namespace=` names), `unix:///…` (probed). An address that does not answer now is
    /// kept and retried.
    pub async fn connect_to(addresses: &[&str], options: NodeOptions) -> Result<Node> {
        let mut candidates = Vec::new();
        let mut report = NodeReport::default();
        for a in addresses {
            let address = EngineAddress::parse(a)?;
            report.candidates.push(CandidateReport {
                source: "given".into(),
                address: Some(address.to_string()),
                rejected: None,
            });
            candidates.push(Candidate { address, source: "given".into() });
        }
        Ok(Node::start(candidates, options, report, false).await)
    }

    async fn start(candidates: Vec<Candidate>, options: NodeOptions, report: NodeReport, detect: bool) -> Node {
        let (changes, _) = broadcast::channel(4096);
        let interval = options.recheck_interval;
        let inner = Arc::new(Inner {
            options,
            roots: Default::default(),
            members: Default::default(),
            report: std::sync::Mutex::new(report),
            changes,
            detect,
        });
        futures_util::future::join_all(candidates.into_iter().map(|c| inner.add_root(c))).await;
        let follower = member::spawn_follower(Arc::downgrade(&inner), interval);
        Node { inner, follower }
    }

    /// What was considered and why (addresses from the environment, each known socket probed).
    pub fn report(&self) -> NodeReport {
        self.inner.report.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every connection and its health.
    pub fn engines(&self) -> Vec<EngineStatus> {
        self.inner.statuses()
    }

    /// Whether every connection is healthy.
    pub fn all_healthy(&self) -> bool {
        self.engines().iter().all(EngineStatus::is_healthy)
    }

    /// The connected engine of a connection (by its [`EngineStatus::member`] label), if up.
    pub fn engine(&self, member: &str) -> Option<Engine> {
        self.inner.members().iter().find(|m| &*m.label == member).and_then(|m| m.connected()).map(|c| c.engine)
    }

    /// Every container of the node, once each, sorted by id.
    pub fn containers(&self) -> Vec<NodeContainer> {
        let mut seen = Vec::new();
        for m in self.inner.members() {
            if let Some(c) = m.connected() {
                let snapshot = c.index.snapshot();
                seen.extend(snapshot.containers().map(|d| Seen {
                    engine: m.engine_name.clone(),
                    member: m.label.clone(),
                    detail: d.clone(),
                }));
            }
        }
        merge_all(seen)
    }

    /// A container by full id, 12-character short id or name, from the indexes (no daemon call).
    /// `NotFound` when no connection's index holds it; `InvalidArgument` when the key names
    /// different containers on different engines (use the full id).
    pub fn container(&self, key: &str) -> Result<NodeContainer> {
        Ok(self.route(key)?.entry)
    }

    /// Changes from now on, from every connection, one per change of the merged view (see
    /// [`NodeChange::Container`]).
    pub fn subscribe(&self) -> broadcast::Receiver<NodeChange> {
        self.inner.changes.subscribe()
    }

    /// Re-checks every engine now (what the follower does every recheck interval).
    pub async fn recheck(&self) {
        self.inner.recheck().await
    }

    /// The entry for `key` and the connection that owns it.
    pub(crate) fn route(&self, key: &str) -> Result<route::Routed> {
        let mut seen: Vec<(Seen, Engine)> = Vec::new();
        for m in self.inner.members() {
            if let Some(c) = m.connected()
                && let Some(d) = c.index.container(key)
            {
                seen.push((Seen { engine: m.engine_name.clone(), member: m.label.clone(), detail: d }, c.engine));
            }
        }
        route::pick(key, seen, merge_one)
    }

    /// The members, for routing.
    #[allow(dead_code)]
    fn members(&self) -> Vec<Arc<Member>> {
        self.inner.members()
    }
}
