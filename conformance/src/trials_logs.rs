//! `logs.*`: a container's output comes back as records through `anyctr_host::logs::container_logs`
//! (the engine's log file where it is host-visible, else its logs API) — tail, follow, since/until,
//! stdout and stderr apart, a long line without newline whole, and follow through rotation.

use std::time::Duration;

use futures_util::StreamExt;

use super::trials_lifecycle::extra_spec;
use super::{Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::model::{CreateSpec, LogOptions, LogRecord, LogSource, LogStream, LogStreamKind};
use anyctr_host::logs::container_logs;
use futures_util::stream::BoxStream;

pub(super) fn trials() -> Vec<Trial> {
    const R: &[&str] = &["logs", "lifecycle"];
    vec![
        Trial { name: "logs.tail", requires: R, run: |c| Box::pin(tail(c)) },
        Trial { name: "logs.follow", requires: R, run: |c| Box::pin(follow(c)) },
        Trial { name: "logs.since", requires: R, run: |c| Box::pin(since(c)) },
        Trial { name: "logs.streams_apart", requires: R, run: |c| Box::pin(streams_apart(c)) },
        Trial { name: "logs.partial_line", requires: R, run: |c| Box::pin(partial_line(c)) },
        Trial { name: "logs.rotation", requires: R, run: |c| Box::pin(rotation(c)) },
    ]
}

const BOUND: Duration = Duration::from_secs(60);

/// Runs `script` in an extra container to its end; returns the container's id.
async fn run_to_exit(ctx: &TrialContext, role: &str, script: &str) -> Result<String, String> {
    let id = ctx.create_extra(extra_spec(ctx, role, &["sh", "-c", script])).await?;
    ctx.engine.start(&id).await.map_err(fail("start"))?;
    tokio::time::timeout(BOUND, ctx.engine.wait(&id))
        .await
        .map_err(|_| "wait hung".to_owned())?
        .map_err(fail("wait"))?;
    Ok(id)
}

/// Every record the logs hold now (not following).
async fn read(ctx: &TrialContext, id: &str, options: LogOptions) -> Result<(LogSource, Vec<LogRecord>), String> {
    let stream = container_logs(&*ctx.engine, id, &options, None).await.map_err(fail("logs"))?;
    let records = tokio::time::timeout(BOUND, stream.records.collect::<Vec<_>>()).await.map_err(|_| "logs hung")?;
    let records = records.into_iter().collect::<Result<Vec<_>, _>>().map_err(fail("a log record"))?;
    Ok((stream.source, records))
}

/// Reads until `done` holds: the engine may still be writing the last lines after the exit.
async fn read_until(
    ctx: &TrialContext,
    id: &str,
    options: LogOptions,
    done: impl Fn(&[LogRecord]) -> bool,
) -> Result<(LogSource, Vec<LogRecord>), String> {
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = read(ctx, id, options.clone()).await?;
        if done(&got.1) || tokio::time::Instant::now() > until {
            return Ok(got);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn text(r: &LogRecord) -> String {
    String::from_utf8_lossy(&r.bytes).into_owned()
}

fn texts(records: &[LogRecord]) -> Vec<String> {
    records.iter().map(text).collect()
}

async fn tail(ctx: &TrialContext) -> TrialResult {
    let id = run_to_exit(ctx, "logs-tail", "for i in $(seq 1 50); do echo line $i; done").await?;
    let (source, all) = read_until(ctx, &id, LogOptions::new(), |r| r.len() >= 50).await?;
    let want: Vec<String> = (1..=50).map(|i| format!("line {i}")).collect();
    ensure!(texts(&all) == want, "all lines: {:?}", texts(&all));
    let (_, last) = read(ctx, &id, LogOptions::new().tail(5)).await?;
    ensure!(texts(&last) == want[45..], "tail 5: {:?}", texts(&last));
    let (_, none) = read(ctx, &id, LogOptions::new().tail(0)).await?;
    ensure!(none.is_empty(), "tail 0 gave {} records", none.len());
    Ok(format!("50 lines, tail 5 the last five, tail 0 none (source {source:?})"))
}

async fn streams_apart(ctx: &TrialContext) -> TrialResult {
    let id = run_to_exit(ctx, "logs-streams", "echo to-out; echo to-err >&2; echo out-again").await?;
    let (source, got) = read_until(ctx, &id, LogOptions::new(), |r| r.len() >= 3).await?;
    let of = |s: LogStreamKind| -> Vec<String> { got.iter().filter(|r| r.stream == s).map(text).collect() };
    ensure!(of(LogStreamKind::Stdout) == ["to-out", "out-again"], "stdout: {:?}", of(LogStreamKind::Stdout));
    ensure!(of(LogStreamKind::Stderr) == ["to-err"], "stderr: {:?}", of(LogStreamKind::Stderr));
    Ok(format!("stdout and stderr apart (source {source:?})"))
}

async fn since(ctx: &TrialContext) -> TrialResult {
    let id = run_to_exit(ctx, "logs-since", "echo early; sleep 2; echo late").await?;
    let (source, all) = read_until(ctx, &id, LogOptions::new(), |r| r.len() >= 2).await?;
    ensure!(texts(&all) == ["early", "late"], "all lines: {:?}", texts(&all));
    let late = all[1].time;
    ensure!(late > all[0].time, "times do not increase: {:?} then {late:?}", all[0].time);
    let (_, after) = read(ctx, &id, LogOptions::new().since(late)).await?;
    ensure!(texts(&after) == ["late"], "since the late line: {:?}", texts(&after));
    let (_, before) = read(ctx, &id, LogOptions::new().until(late)).await?;
    ensure!(texts(&before) == ["early"], "until the late line: {:?}", texts(&before));
    Ok(format!("since and until split at the late line's time (source {source:?})"))
}

async fn partial_line(ctx: &TrialContext) -> TrialResult {
    const LEN: usize = 40 * 1024;
    let script = format!("head -c {LEN} /dev/zero | tr '\\0' x");
    let id = run_to_exit(ctx, "logs-partial", &script).await?;
    let (source, got) =
        read_until(ctx, &id, LogOptions::new(), |r| r.iter().map(|r| r.bytes.len()).sum::<usize>() >= LEN).await?;
    ensure!(
        got.len() == 1,
        "{} records of lengths {:?}, want one",
        got.len(),
        got.iter().map(|r| r.bytes.len()).collect::<Vec<_>>()
    );
    let r = &got[0];
    ensure!(
        r.bytes.len() == LEN && r.bytes.iter().all(|&b| b == b'x'),
        "a record of {} bytes, want {LEN} x",
        r.bytes.len()
    );
    ensure!(r.partial_rejoined && !r.truncated, "partial_rejoined {} truncated {}", r.partial_rejoined, r.truncated);
    Ok(format!("a {LEN}-byte line without newline came back whole, rejoined (source {source:?})"))
}

/// Starts `spec`'s container and follows its log from the start; returns the id and the stream.
async fn start_following(ctx: &TrialContext, spec: CreateSpec) -> Result<(String, LogStream), String> {
    let id = ctx.create_extra(spec).await?;
    ctx.engine.start(&id).await.map_err(fail("start"))?;
    let stream =
        container_logs(&*ctx.engine, &id, &LogOptions::new().follow(true), None).await.map_err(fail("logs"))?;
    Ok((id, stream))
}

/// Reads `count` ticks from a followed log: every tick arrives once, in order.
async fn ticks(records: &mut BoxStream<'static, anyctr_core::Result<LogRecord>>, count: usize) -> Result<(), String> {
    let mut got = Vec::new();
    while got.len() < count {
        match tokio::time::timeout(Duration::from_secs(20), records.next()).await {
            Err(_) => return Err(format!("follow stalled after {} lines", got.len())),
            Ok(None) => return Err(format!("follow ended after {} lines", got.len())),
            Ok(Some(r)) => got.push(text(&r.map_err(fail("a log record"))?)),
        }
    }
    let want: Vec<String> = (1..=count).map(|i| format!("tick {i}")).collect();
    if got != want {
        let first_wrong = got.iter().zip(&want).position(|(g, w)| g != w).unwrap_or(0);
        let around = &got[first_wrong.saturating_sub(2)..(first_wrong + 3).min(got.len())];
        return Err(format!("followed lines out of order, lost or repeated: line {} is {around:?}", first_wrong + 1));
    }
    Ok(())
}

/// Follows from the start while the container writes; every tick arrives once, in order.
async fn follow_ticks(ctx: &TrialContext, spec: CreateSpec, count: usize) -> Result<(LogSource, String), String> {
    let (id, mut stream) = start_following(ctx, spec).await?;
    ticks(&mut stream.records, count).await?;
    Ok((stream.source, id))
}

async fn follow(ctx: &TrialContext) -> TrialResult {
    let script = "sleep 1; for i in $(seq 1 30); do echo tick $i; sleep 0.05; done; sleep 3600";
    let (source, _) = follow_ticks(ctx, extra_spec(ctx, "logs-follow", &["sh", "-c", script]), 30).await?;
    Ok(format!("30 lines followed as written (source {source:?})"))
}

/// Follows a log through rotations: each line is seen once. An engine that rotates by
/// itself is asked to with the container's log options; one that rotates only when told (a CRI
/// runtime, for kubelet) is told by the setup, as kubelet does.
async fn rotation(ctx: &TrialContext) -> TrialResult {
    if ctx.factory.rotates_logs() { rotation_on_request(ctx).await } else { rotation_by_engine(ctx).await }
}

/// The container's log driver is asked to rotate at 8 KiB and keep 40 files (docker's
/// `--log-opt max-size=8k --log-opt max-file=40`): 3000 lines rotate the log about twenty times
/// and all of them stay on disk, so a follower that keeps up must see each line once.
async fn rotation_by_engine(ctx: &TrialContext) -> TrialResult {
    let script = "sleep 1; for i in $(seq 1 3000); do echo tick $i; done; sleep 3600";
    let spec = extra_spec(ctx, "logs-rotation", &["sh", "-c", script])
        .log_option("max-size", "8k")
        .log_option("max-file", "40");
    let (source, id) = follow_ticks(ctx, spec, 3000).await?;
    let detail = ctx.engine.inspect(&id).await.map_err(fail("inspect"))?;
    let log = detail.log_path.ok_or("no log path")?;
    let mut rotated = log.into_os_string();
    rotated.push(".1");
    ensure!(
        std::path::Path::new(&rotated).exists(),
        "the log was never rotated ({rotated:?} absent): nothing was tested"
    );
    Ok(format!("3000 lines followed once each through rotation (source {source:?})"))
}

/// How many times, and how far apart, the setup rotates: kubelet names a rotated file by the
/// second, so rotations are more than a second apart.
const ROTATIONS: usize = 5;
const ROTATION_EVERY: Duration = Duration::from_millis(1100);

/// Lines the container writes while the setup rotates its log.
const LINES_WHILE_ROTATED: usize = 30_000;

/// Kubelet's rotation: the container writes 30000 lines over about seven seconds (ten at a time,
/// 2 ms apart, so the runtime's log writer is busy whenever a rotation comes) while the setup
/// rotates its log five times at moments that know nothing of the writes, as kubelet's do. The
/// follower must see each line once, and the rotated files and the current one must hold the
/// lines between them, most rotated files some: rotation happened while lines were written, so
/// something was tested.
async fn rotation_on_request(ctx: &TrialContext) -> TrialResult {
    let script = format!(
        "sleep 1; i=1; while [ $i -le {LINES_WHILE_ROTATED} ]; do echo tick $i; \
        [ $((i % 10)) -eq 0 ] && usleep 2000; i=$((i + 1)); done; sleep 3600"
    );
    let (id, mut stream) = start_following(ctx, extra_spec(ctx, "logs-rotation", &["sh", "-c", &script])).await?;
    let rotate = async {
        let mut rotated = Vec::new();
        for _ in 0..ROTATIONS {
            tokio::time::sleep(ROTATION_EVERY).await;
            rotated.push(ctx.factory.rotate_log(&id).await.map_err(fail("rotate the log"))?);
        }
        Ok::<_, String>(rotated)
    };
    let (followed, rotated) = tokio::join!(ticks(&mut stream.records, LINES_WHILE_ROTATED), rotate);
    let rotated = rotated?;
    followed?;
    let detail = ctx.engine.inspect(&id).await.map_err(fail("inspect"))?;
    let log = detail.log_path.ok_or("no log path")?;
    let mut per_file = Vec::new();
    for path in rotated.iter().chain([&log]) {
        let bytes = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
        per_file.push(bytes.split(|&b| b == b'\n').filter(|line| line.windows(5).any(|w| w == b"tick ")).count());
    }
    let total: usize = per_file.iter().sum();
    let rotated_with_lines = per_file[..ROTATIONS].iter().filter(|&&n| n > 0).count();
    ensure!(
        total == LINES_WHILE_ROTATED,
        "the rotated files and the log hold {total} ticks between them ({per_file:?}), want {LINES_WHILE_ROTATED}"
    );
    ensure!(
        rotated_with_lines >= ROTATIONS - 1,
        "only {rotated_with_lines} of {ROTATIONS} rotated files hold lines ({per_file:?}): rotation missed the writes"
    );
    Ok(format!(
        "{LINES_WHILE_ROTATED} lines followed once each through {ROTATIONS} rotations on request, ticks per file {per_file:?} (source {:?})",
        stream.source
    ))
}
