//! How a sweep is shown: docker's `stats` columns with the engine in front, or the library's
//! [`ContainerStats`] with the engine, the name and the CPU percent.

use anyctr::model::ContainerStats;
use comfy_table::{Cell, Table};
use serde::Serialize;

use super::sample::{Sampled, Sweep};
use crate::output::{self, Format, bytes};

/// One sample as `-o json|yaml` prints it.
#[derive(Serialize)]
pub struct JsonStats<'a> {
    pub engine: &'a str,
    pub name: &'a str,
    /// CPU use since the previous sample, in percent of one CPU (`null` on a first sample).
    pub cpu_percent: Option<f64>,
    #[serde(flatten)]
    pub stats: &'a ContainerStats,
}

/// A sweep as the data formats print it.
pub fn data(sweep: &Sweep) -> Vec<JsonStats<'_>> {
    sweep
        .samples
        .iter()
        .map(|s| JsonStats {
            engine: &s.row.engine,
            name: &s.row.detail.name,
            cpu_percent: s.cpu_percent,
            stats: &s.stats,
        })
        .collect()
}

const HEADER: [&str; 9] =
    ["ENGINE", "CONTAINER", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"];

/// A sweep as a table (`wide` adds where each sample was read).
pub fn table(sweep: &Sweep, format: Format) -> Table {
    let mut header = HEADER.to_vec();
    if format == Format::Wide {
        header.push("SOURCE");
    }
    let mut table = output::table(&header);
    for s in &sweep.samples {
        table.add_row(cells(s, format));
    }
    output::align_right(&mut table, &header, &["CPU %", "MEM %", "PIDS"]);
    table
}

fn cells(s: &Sampled, format: Format) -> Vec<Cell> {
    let st = &s.stats;
    let memory = match (st.memory.usage, st.memory.limit) {
        (Some(used), Some(limit)) => format!("{} / {}", bytes(used), bytes(limit)),
        (Some(used), None) => format!("{} / -", bytes(used)),
        (None, _) => "-".into(),
    };
    let memory_percent = match (st.memory.usage, st.memory.limit) {
        (Some(used), Some(limit)) if limit > 0 => format!("{:.2}%", used as f64 * 100.0 / limit as f64),
        _ => "-".into(),
    };
    let network = st.networks.as_ref().map(|nets| {
        let (rx, tx) = nets.iter().fold((0, 0), |(rx, tx), n| (rx + n.rx_bytes, tx + n.tx_bytes));
        format!("{} / {}", bytes(rx), bytes(tx))
    });
    let block = match (st.block_io.read_bytes, st.block_io.write_bytes) {
        (None, None) => "-".into(),
        (read, write) => format!("{} / {}", read.map_or("-".into(), bytes), write.map_or("-".into(), bytes)),
    };
    let mut cells = vec![
        Cell::new(&s.row.engine),
        Cell::new(s.row.detail.short_id()),
        Cell::new(&s.row.detail.name),
        Cell::new(s.cpu_percent.map_or("-".into(), |p| format!("{p:.2}%"))),
        Cell::new(memory),
        Cell::new(memory_percent),
        Cell::new(network.unwrap_or_else(|| "-".into())),
        Cell::new(block),
        Cell::new(output::or_dash(st.pids.current)),
    ];
    if format == Format::Wide {
        cells.push(Cell::new(source_word(st)));
    }
    cells
}

/// Where a sample was read, as one word (`host_cgroup_v1`, `engine_api`, …).
fn source_word(st: &ContainerStats) -> String {
    serde_json::to_value(st.source).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
