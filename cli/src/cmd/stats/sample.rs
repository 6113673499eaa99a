//! Sweeping the node's containers for stats: each container asked of the engine that owns it
//! (so dockerd's containers, also in containerd's `moby` namespace, are sampled once), one
//! [`NodeStats`] per connection kept across sweeps (cgroup mounts open, runtimes remembered), CPU
//! percent from each container's previous sample.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyctr::cgroup_stats::NodeStats;
use anyctr::model::ContainerStats;
use anyctr::prelude::*;
use anyctr::{Error, ErrorKind, Result};

use crate::node::{Node, Row};

/// What is sampled: the containers named on the command line, or every running one.
enum Targets {
    /// Named: followed until each has stopped or gone.
    Named(Vec<Row>),
    /// Every running container of the node, re-listed at each sweep.
    All,
}

/// One container's sample, with what the table needs.
pub struct Sampled {
    pub row: Row,
    pub stats: ContainerStats,
    /// CPU use since this container's previous sample, in percent of one CPU.
    pub cpu_percent: Option<f64>,
}

/// One sweep of the node.
#[derive(Default)]
pub struct Sweep {
    /// Sorted by engine, then name.
    pub samples: Vec<Sampled>,
    /// Named containers that stopped or went away since the previous sweep.
    pub gone: Vec<Row>,
    /// Connections that could not answer (every-container mode only; a named container's engine
    /// failing is an error).
    pub problems: Vec<String>,
}

/// Samples the node's containers, sweep after sweep.
pub struct Sampler {
    targets: Targets,
    per_member: HashMap<Arc<str>, NodeStats>,
    previous: HashMap<String, ContainerStats>,
}

impl Sampler {
    /// A sampler of the containers `keys` name (every running one when empty). An unknown key is
    /// `NotFound`, a container that is not running `Conflict`, both before anything is sampled.
    pub fn new(node: &Node, keys: &[String]) -> Result<Sampler> {
        let targets = match keys.is_empty() {
            true => Targets::All,
            false => {
                let mut rows: Vec<Row> = Vec::new();
                for key in keys {
                    let row = node.resolve(key)?;
                    if !row.detail.state.status.is_running() {
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!("container {key} is not running: no stats"),
                        )
                        .with_container(row.detail.id.as_str()));
                    }
                    if !rows.iter().any(|r| r.detail.id == row.detail.id) {
                        rows.push(row);
                    }
                }
                Targets::Named(rows)
            }
        };
        Ok(Sampler { targets, per_member: HashMap::new(), previous: HashMap::new() })
    }

    /// Whether every named container has gone (never, for every-container mode).
    pub fn finished(&self) -> bool {
        matches!(&self.targets, Targets::Named(rows) if rows.is_empty())
    }

    /// Samples every target once.
    pub async fn sweep(&mut self, node: &Node) -> Result<Sweep> {
        let named = matches!(self.targets, Targets::Named(_));
        let rows = match &self.targets {
            Targets::Named(rows) => rows.iter().map(Row::clone).collect(),
            Targets::All => node.list(false),
        };
        let mut by_member: BTreeMap<Arc<str>, Vec<Row>> = BTreeMap::new();
        for row in rows {
            by_member.entry(row.member.clone()).or_default().push(row);
        }
        let mut sweep = Sweep::default();
        let mut asks = Vec::new();
        for (member, rows) in by_member {
            let engine = match node.engine_of(&rows[0]) {
                Ok(engine) => engine,
                Err(e) if named => return Err(e),
                Err(e) => {
                    sweep.problems.push(e.to_string());
                    continue;
                }
            };
            self.per_member.entry(member).or_insert_with(|| NodeStats::new(engine.host_root()));
            asks.push((engine, rows));
        }
        let per_member = &self.per_member;
        let answers = futures_util::future::join_all(asks.iter().map(|(engine, rows)| async move {
            let ids: Vec<String> = rows.iter().map(|r| r.detail.id.clone()).collect();
            per_member[&rows[0].member].sample(engine.as_dyn_engine(), &ids).await
        }))
        .await;
        for ((_, rows), answer) in asks.into_iter().zip(answers) {
            let samples = match answer {
                Ok(samples) => samples,
                Err(e) if named => return Err(e),
                Err(e) => {
                    sweep.problems.push(format!("{}: {}", rows[0].member, e));
                    continue;
                }
            };
            let mut by_id: HashMap<String, ContainerStats> =
                samples.into_iter().map(|s| (s.container.clone(), s)).collect();
            for row in rows {
                match by_id.remove(&row.detail.id) {
                    Some(stats) => {
                        let cpu_percent = self.previous.get(&row.detail.id).and_then(|p| stats.cpu_percent_since(p));
                        sweep.samples.push(Sampled { row, stats, cpu_percent });
                    }
                    // Stopped or removed between the listing and the sample.
                    None => sweep.gone.push(row),
                }
            }
        }
        if let Targets::Named(rows) = &mut self.targets {
            rows.retain(|r| !sweep.gone.iter().any(|g| g.detail.id == r.detail.id));
        }
        self.previous = sweep.samples.iter().map(|s| (s.row.detail.id.clone(), s.stats.clone())).collect();
        sweep.samples.sort_by(|a, b| (&a.row.engine, &a.row.detail.name).cmp(&(&b.row.engine, &b.row.detail.name)));
        Ok(sweep)
    }
}
