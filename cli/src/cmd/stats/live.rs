//! The refreshing table on a terminal: redrawn in place every interval, `q` (or Ctrl-C, Ctrl-D)
//! ends it, as do SIGINT and SIGTERM, and it ends by itself when every named container has
//! stopped. The terminal is put back as it was on every way out (the [`Screen`] guard), errors
//! included.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyctr::Result;
use crossterm::{cursor, queue, terminal};
use tokio::sync::mpsc;

use super::render;
use super::sample::{Sampler, Sweep};
use crate::node::Node;
use crate::output::{self, Format};

/// Bytes that end the display when typed: `q`, `Q`, Ctrl-C, Ctrl-D (not Esc: arrow keys begin
/// with it).
const QUIT_KEYS: &[u8] = b"qQ\x03\x04";

/// The terminal while the table is shown: the cursor hidden and, when stdin is a terminal too,
/// raw mode so a key arrives without Enter. Dropping it puts both back.
struct Screen {
    raw: bool,
}

impl Screen {
    fn start() -> Result<Screen> {
        let raw = std::io::stdin().is_terminal() && terminal::enable_raw_mode().is_ok();
        let screen = Screen { raw };
        let mut out = std::io::stdout().lock();
        output::written(queue!(out, cursor::Hide, terminal::Clear(terminal::ClearType::All)).and(out.flush()))?;
        Ok(screen)
    }

    /// Draws `lines` from the top left, each line cleared to its end, then clears what is below
    /// (a shorter table than the last leaves no rows behind). Raw mode does not turn `\n` into a
    /// new line at column 0, so each line ends with `\r\n`.
    fn draw(&self, lines: &[String]) -> Result<()> {
        let mut out = std::io::stdout().lock();
        let mut drawn = queue!(out, cursor::MoveTo(0, 0));
        for line in lines {
            drawn = drawn
                .and_then(|_| out.write_all(line.trim_end().as_bytes()))
                .and_then(|_| queue!(out, terminal::Clear(terminal::ClearType::UntilNewLine)))
                .and_then(|_| out.write_all(b"\r\n"));
        }
        drawn = drawn.and_then(|_| queue!(out, terminal::Clear(terminal::ClearType::FromCursorDown)));
        output::written(drawn.and(out.flush()))
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if self.raw {
            let _ = terminal::disable_raw_mode();
        }
        let mut out = std::io::stdout();
        let _ = queue!(out, cursor::Show);
        let _ = out.flush();
    }
}

/// SIGINT or SIGTERM.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A key that ends the display, read from stdin on a thread of its own (a blocking read the
/// process does not wait for when it exits); the channel closes when stdin ends.
fn quit_keys() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 64];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) if buf[..n].iter().any(|b| QUIT_KEYS.contains(b)) => {
                    let _ = tx.blocking_send(());
                    return;
                }
                Ok(_) => {}
            }
        }
    });
    rx
}

pub async fn run(node: &Node, mut sampler: Sampler, format: Format, interval: Duration) -> Result<ExitCode> {
    let screen = Screen::start()?;
    let mut keys = if screen.raw { Some(quit_keys()) } else { None };
    let mut stop = std::pin::pin!(interrupted());
    let mut stopped: Vec<String> = Vec::new();
    loop {
        let sweep = sampler.sweep(node).await?;
        stopped.extend(sweep.gone.iter().map(|r| format!("{} ({}) stopped", r.detail.name, r.detail.short_id())));
        let finished = sampler.finished();
        screen.draw(&frame(&sweep, format, interval, &stopped, finished, screen.raw))?;
        if finished {
            return Ok(ExitCode::SUCCESS);
        }
        let key = async {
            match keys.as_mut() {
                Some(rx) => match rx.recv().await {
                    Some(()) => {}
                    // stdin ended: only a signal ends the display now.
                    None => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = key => return Ok(ExitCode::SUCCESS),
            _ = &mut stop => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// The lines of one frame: a title, the table fitted to the terminal, what stopped or failed;
/// cut to the terminal's height.
fn frame(
    sweep: &Sweep,
    format: Format,
    interval: Duration,
    stopped: &[String],
    finished: bool,
    keys: bool,
) -> Vec<String> {
    let (width, height) = terminal::size().unwrap_or((100, 40));
    let ending = match (finished, keys) {
        (true, _) => "every container named has stopped",
        (false, true) => "q to quit",
        (false, false) => "Ctrl-C to quit",
    };
    let mut lines = vec![format!(
        "anyctr stats at {}: {} containers, every {}s, {}",
        chrono::Local::now().format("%H:%M:%S"),
        sweep.samples.len(),
        interval.as_secs_f64(),
        ending
    )];
    let mut table = render::table(sweep, format);
    table.set_width(width);
    lines.extend(table.lines());
    let notes: Vec<String> = stopped
        .iter()
        .cloned()
        .chain(sweep.problems.iter().map(|p| format!("warning: {}", p.replace('\n', "; "))))
        .collect();
    let room = usize::from(height).saturating_sub(1).max(2);
    if lines.len() + notes.len() > room {
        let keep = room.saturating_sub(notes.len().min(room / 2) + 1);
        let cut = lines.len().saturating_sub(keep);
        lines.truncate(keep);
        lines.push(format!("… {cut} more rows (a taller terminal shows them)"));
    }
    lines.extend(notes.into_iter().take(room.saturating_sub(lines.len())));
    // The table fits already (and may hold colour sequences, which are not columns); the title
    // and the notes are cut to the width.
    lines
        .into_iter()
        .map(|l| if l.contains('\x1b') { l } else { l.chars().take(usize::from(width)).collect() })
        .collect()
}
