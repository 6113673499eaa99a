//! How listings are printed: `-o table|wide|json|yaml`; tables fit the terminal, colour only on
//! a terminal and never with `NO_COLOR`.

use std::io::{IsTerminal, Write};

use anyctr::{Error, Result};
use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use serde::Serialize;

/// The output format of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Columns fitted to the terminal.
    Table,
    /// The table with more columns.
    Wide,
    /// The library's models as JSON.
    Json,
    /// The library's models as YAML.
    Yaml,
}

/// Whether to colour what goes to stdout: a terminal, and no `NO_COLOR` (any value, per
/// no-color.org).
pub fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A table in anyctr's style: no borders, a header, fitted to the terminal's width when stdout is
/// one (comfy-table wraps the widest columns); piped, it keeps every character.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_content_arrangement(ContentArrangement::Dynamic);
    let bold = colour();
    table.set_header(header.iter().map(|h| {
        let cell = Cell::new(h);
        if bold { cell.add_attribute(comfy_table::Attribute::Bold) } else { cell }
    }));
    if !colour() {
        table.force_no_tty();
    } else {
        table.enforce_styling();
    }
    // Columns separated by two spaces, none before the first.
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}

/// Right-aligns the columns of `table` whose header (in `header`) is one of `names`: figures.
pub fn align_right(table: &mut Table, header: &[&str], names: &[&str]) {
    for (i, _) in header.iter().enumerate().filter(|(_, h)| names.contains(h)) {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
}

/// A cell coloured by what a state word means, when colour is on.
pub fn state_cell(word: &str) -> Cell {
    let cell = Cell::new(word);
    if !colour() {
        return cell;
    }
    match word {
        "running" => cell.fg(Color::Green),
        "exited" | "dead" => cell.fg(Color::Red),
        "paused" | "created" | "restarting" => cell.fg(Color::Yellow),
        _ => cell,
    }
}

/// The exit code of a process whose stdout reader went away, as a shell reports one killed by
/// SIGPIPE (`anyctr ps | head -1`): quiet, like the tools that die of the signal.
const CLOSED_PIPE: i32 = 141;

/// An output error: a closed pipe ends the process quietly; anything else is an error.
pub fn written(result: std::io::Result<()>) -> Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(CLOSED_PIPE),
        other => other.map_err(Error::from),
    }
}

/// Prints one line on stdout.
pub fn line(text: impl std::fmt::Display) -> Result<()> {
    written(writeln!(std::io::stdout().lock(), "{text}"))
}

/// Prints a table (trailing spaces trimmed).
pub fn print_table(table: &Table) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for line in table.lines() {
        written(writeln!(out, "{}", line.trim_end()))?;
    }
    Ok(())
}

/// Prints a serializable value as JSON or YAML.
pub fn print_data<T: Serialize + ?Sized>(format: Format, value: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Yaml => {
            let text = serde_norway::to_string(value).map_err(|e| Error::unexpected(format!("YAML output: {e}")))?;
            written(out.write_all(text.as_bytes()))?;
        }
        _ => {
            let text =
                serde_json::to_string_pretty(value).map_err(|e| Error::unexpected(format!("JSON output: {e}")))?;
            written(writeln!(out, "{text}"))?;
        }
    }
    Ok(())
}

/// "3 minutes ago"-style age of a time, for tables.
pub fn age(time: Option<chrono::DateTime<chrono::Utc>>) -> String {
    let Some(time) = time else { return "-".into() };
    let secs = (chrono::Utc::now() - time).num_seconds().max(0);
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86400),
    }
}

/// A dash for what is absent.
pub fn or_dash(value: Option<impl ToString>) -> String {
    value.map(|v| v.to_string()).filter(|v| !v.is_empty()).unwrap_or_else(|| "-".into())
}

/// A byte count as docker prints one: `512B`, `1.5KiB`, `20.3MiB`, `1.2GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn bytes_in_binary_units() {
        assert_eq!(bytes(0), "0B");
        assert_eq!(bytes(1023), "1023B");
        assert_eq!(bytes(1536), "1.5KiB");
        assert_eq!(bytes(20 << 20), "20.0MiB");
        assert_eq!(bytes(3 << 30), "3.0GiB");
    }
}
