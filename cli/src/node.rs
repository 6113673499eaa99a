//! The node as the commands use it: the library's [`anyctr::Node`] (every engine, one entry per
//! container, calls routed to the owning engine), plus what a command line adds — an id prefix
//! resolved across engines, `ENGINE:ID`, and an error when no engine answered at all.

use std::sync::Arc;

use anyctr::{
    ConnectOptions, ContainerDetail, Engine, EngineHealth, EngineStatus, Error, ErrorKind, NodeContainer, NodeOptions,
    Result,
};

/// One container of the node, with the engine that owns it.
#[derive(Clone)]
pub struct Row {
    /// What the ENGINE column says: the engine, and the containerd namespace where there is one
    /// (`containerd/k8s.io`).
    pub engine: String,
    /// The engine's registered name.
    pub engine_name: String,
    /// The connection that owns it (see [`anyctr::EngineStatus::member`]).
    pub member: Arc<str>,
    pub detail: Arc<ContainerDetail>,
}

impl Row {
    fn of(c: &NodeContainer) -> Row {
        Row {
            engine: label(&c.engine, &c.detail),
            engine_name: c.engine.to_string(),
            member: c.member.clone(),
            detail: c.detail.clone(),
        }
    }
}

/// `containerd/k8s.io` for a containerd container, the engine's name otherwise.
pub fn label(engine: &str, detail: &ContainerDetail) -> String {
    match &detail.namespace {
        Some(ns) => format!("{engine}/{ns}"),
        None => engine.to_owned(),
    }
}

/// Where the engines are: explicit addresses, else the environment and every known socket.
#[derive(Default, Clone)]
pub struct Where {
    pub addresses: Vec<String>,
    pub connect: ConnectOptions,
}

/// The connected node.
pub struct Node {
    pub inner: anyctr::Node,
}

impl Node {
    /// Connects every engine `at` names (explicit addresses only, else the environment's and the
    /// known sockets that answer). No engine up is `EngineUnavailable` naming what was tried and
    /// why (`PermissionDenied` when that was the reason).
    pub async fn connect(at: &Where) -> Result<Node> {
        let options = NodeOptions::default().connect(at.connect.clone());
        let inner = match at.addresses.is_empty() {
            true => anyctr::Node::connect(options).await?,
            false => {
                // A malformed address or an engine this program does not have is bad input, not
                // an engine that is down.
                let registry = anyctr::Registry::global()?;
                for a in &at.addresses {
                    let address = anyctr::EngineAddress::parse(a)?;
                    if let Some(name) = &address.engine
                        && registry.find(name).is_none()
                    {
                        return Err(Error::invalid_argument(format!(
                            "{a}: unknown engine `{name}`; this anyctr has {}",
                            registry.names().join(", ")
                        )));
                    }
                }
                let addresses: Vec<&str> = at.addresses.iter().map(String::as_str).collect();
                anyctr::Node::connect_to(&addresses, options).await?
            }
        };
        let statuses = inner.engines();
        let down: Vec<String> = statuses
            .iter()
            .filter_map(|s| match &s.health {
                EngineHealth::Down { why, .. } => Some(format!("{} ({}): {why}", s.member, s.source)),
                _ => None,
            })
            .collect();
        if down.len() == statuses.len() {
            let why = down.join("; ").replace('\n', "; ");
            // The reason decides the kind (and so the exit code and hint).
            let kind = match why.contains("permission denied") {
                true => ErrorKind::PermissionDenied,
                false => ErrorKind::EngineUnavailable,
            };
            let message = match down.is_empty() {
                true => "no container engine found".to_owned(),
                false => format!("no container engine answered: {why}"),
            };
            return Err(Error::new(kind, message));
        }
        for d in &down {
            eprintln!("anyctr: warning: {}", d.replace('\n', "; "));
        }
        Ok(Node { inner })
    }

    /// Every container of the node, once each (running ones unless `all`), sorted by engine,
    /// newest first.
    pub fn list(&self, all: bool) -> Vec<Row> {
        let mut rows: Vec<Row> =
            self.inner.containers().iter().filter(|c| all || c.detail.state.status.is_running()).map(Row::of).collect();
        rows.sort_by(|a, b| {
            (&a.engine, b.detail.created, &a.detail.name).cmp(&(&b.engine, a.detail.created, &b.detail.name))
        });
        rows
    }

    /// Engines that are not healthy, as warnings for a listing that may be incomplete.
    pub fn unhealthy(&self) -> Vec<String> {
        self.inner
            .engines()
            .iter()
            .filter_map(|s| match &s.health {
                EngineHealth::Healthy => None,
                EngineHealth::Degraded(why) => Some(format!("{}: degraded: {why}", s.member)),
                EngineHealth::Down { why, .. } => Some(format!("{}: down: {why}", s.member)),
                _ => Some(format!("{}: not healthy", s.member)),
            })
            .collect()
    }

    /// The one container `key` names across every engine: full id, 12-character short id, name,
    /// a unique id prefix, or `ENGINE:ID` (`docker:web`, `containerd/k8s.io:abc`) to pick the
    /// engine. Unknown everywhere is `NotFound`; different containers on several engines,
    /// `InvalidArgument` listing them.
    pub fn resolve(&self, key: &str) -> Result<Row> {
        if key.is_empty() {
            return Err(Error::invalid_argument("empty container id"));
        }
        if let Some((engine, id)) = key.split_once(':')
            && self
                .inner
                .engines()
                .iter()
                .any(|s| *s.engine == *engine || engine.starts_with(&format!("{}/", s.engine)))
        {
            let rows: Vec<Row> =
                self.matching(id).into_iter().filter(|r| r.engine == engine || r.engine_name == engine).collect();
            return one(key, rows);
        }
        match self.inner.container(key) {
            Ok(c) => Ok(Row::of(&c)),
            Err(e) if e.kind() == ErrorKind::NotFound => one(key, self.matching(key)),
            Err(e) => Err(e),
        }
    }

    /// Containers whose id, 12-character id, name or id prefix is `key`.
    fn matching(&self, key: &str) -> Vec<Row> {
        let all = self.inner.containers();
        let exact: Vec<Row> = all.iter().filter(|c| c.detail.id == key || c.detail.name == key).map(Row::of).collect();
        if !exact.is_empty() {
            return exact;
        }
        all.iter().filter(|c| c.detail.id.starts_with(key)).map(Row::of).collect()
    }

    /// The connected engine that owns `row`; `EngineUnavailable` when its connection went down
    /// since the listing.
    pub fn engine_of(&self, row: &Row) -> Result<Engine> {
        self.inner.engine(&row.member).ok_or_else(|| {
            Error::new(ErrorKind::EngineUnavailable, format!("{} is not connected", row.member))
                .with_container(row.detail.id.as_str())
        })
    }

    /// Every connection with its engine handle (`None` when it is down).
    pub fn connections(&self) -> Vec<(EngineStatus, Option<Engine>)> {
        self.inner
            .engines()
            .into_iter()
            .map(|s| {
                let engine = self.inner.engine(&s.member);
                (s, engine)
            })
            .collect()
    }
}

fn one(key: &str, mut rows: Vec<Row>) -> Result<Row> {
    match rows.len() {
        1 => Ok(rows.remove(0)),
        0 => Err(Error::not_found(format!("no container `{key}` on this node"))),
        _ => Err(Error::invalid_argument(format!(
            "`{key}` is ambiguous: {}; give more of the id or ENGINE:ID",
            rows.iter()
                .map(|r| format!("{}:{} ({})", r.engine, r.detail.short_id(), r.detail.name))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
