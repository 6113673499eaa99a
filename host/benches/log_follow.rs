//! End-to-end follow of a log file that is being written, through the real reader
//! (`read_log_file` with `follow`: its own thread, 20 ms polls, the bounded channel) on real files
//! in a temp dir. Three figures, reported met or not (never asserted):
//!
//! - **throughput** (criterion): a writer thread appends 200 000 lines (json-file, then CRI) as
//!   fast as it can while the follow stream is drained; lines per second from the first write to
//!   the last record received. Target ≥ 200 k lines/s (the reader's thread is one core).
//! - **latency**: a writer appends one line every 2 ms, each stamped with the time of its write;
//!   the receipt time minus the stamp, p50/p99/max over 2 500 lines. Target p99 ≤ 50 ms.
//! - **memory**: 1 GiB of json-file lines appended and followed to the end; the process's RSS
//!   before, every 256 MiB, and its peak (`VmHWM`, reset first through `clear_refs`). Target: flat.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyctr_core::model::LogOptions;
use anyctr_host::logs::{FileFormat, FileLogOptions, read_log_file};
use criterion::{Criterion, Throughput};
use futures_util::StreamExt;

const LINES: usize = 200_000;
const BATCH: usize = 2_000;

fn line(format: FileFormat, i: usize, text: &str) -> String {
    let time = format!("2026-11-30T17:{:02}:{:02}.{:09}Z", (i / 60) % 60, i % 60, i * 7919 % 1_000_000_000);
    let stream = if i.is_multiple_of(5) { "stderr" } else { "stdout" };
    match format {
        FileFormat::JsonFile => {
            let log = serde_json::to_string(&format!("{text}\n")).unwrap();
            format!("{{\"log\":{log},\"stream\":\"{stream}\",\"time\":\"{time}\"}}\n")
        }
        FileFormat::Cri => format!("{time} {stream} F {text}\n"),
    }
}

fn text(i: usize) -> String {
    format!("level=info ts={i} msg=\"request served\" path=/api/v1/items/{i} status=200 bytes={}", i * 13)
}

/// `BATCH` lines per element, written with one `write_all` each.
fn batches(format: FileFormat, lines: usize) -> Vec<Vec<u8>> {
    (0..lines / BATCH)
        .map(|b| (0..BATCH).flat_map(|i| line(format, b * BATCH + i, &text(i)).into_bytes()).collect())
        .collect()
}

fn follow(
    path: &Path,
    format: FileFormat,
) -> futures_util::stream::BoxStream<'static, anyctr_core::Result<anyctr_core::model::LogRecord>> {
    read_log_file(path, format, FileLogOptions::new(LogOptions::new().follow(true))).expect("follow")
}

/// Writes `batches` to a new file while following it; the time until `LINES` records arrived.
fn one_run(rt: &tokio::runtime::Runtime, format: FileFormat, batches: &'static [Vec<u8>]) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctr.log");
    let mut file = File::create(&path).unwrap();
    let mut stream = follow(&path, format);
    let started = Instant::now();
    let writer = std::thread::spawn(move || {
        for b in batches {
            file.write_all(b).unwrap();
        }
    });
    rt.block_on(async {
        let mut n = 0;
        while n < LINES {
            stream.next().await.expect("the stream ended").expect("a record");
            n += 1;
        }
    });
    let took = started.elapsed();
    writer.join().unwrap();
    took
}

fn throughput(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let mut g = c.benchmark_group("log_follow");
    g.throughput(Throughput::Elements(LINES as u64));
    for (name, format) in [("json_file", FileFormat::JsonFile), ("cri", FileFormat::Cri)] {
        let data: &'static [Vec<u8>] = Box::leak(batches(format, LINES).into_boxed_slice());
        g.bench_function(name, |b| b.iter_custom(|iters| (0..iters).map(|_| one_run(rt, format, data)).sum()));
        let best = (0..3).map(|_| one_run(rt, format, data)).min().unwrap();
        let rate = LINES as f64 / best.as_secs_f64();
        let verdict = if rate >= 200_000.0 { "met" } else { "NOT met" };
        println!("log_follow/{name}: best of 3 {rate:.0} lines/s (target >= 200000: {verdict})");
    }
    g.finish();
}

fn latency(rt: &tokio::runtime::Runtime) {
    const N: usize = 2_500;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctr.log");
    let mut file = File::create(&path).unwrap();
    let mut stream = follow(&path, FileFormat::JsonFile);
    let base = Instant::now();
    let writer = std::thread::spawn(move || {
        for i in 0..N {
            let stamp = base.elapsed().as_nanos();
            file.write_all(line(FileFormat::JsonFile, i, &format!("stamp={stamp}")).as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let mut lat: Vec<Duration> = rt.block_on(async {
        let mut out = Vec::with_capacity(N);
        while out.len() < N {
            let r = stream.next().await.expect("the stream ended").expect("a record");
            let now = base.elapsed().as_nanos();
            let text = String::from_utf8(r.bytes).unwrap();
            let stamp: u128 = text.strip_prefix("stamp=").unwrap().parse().unwrap();
            out.push(Duration::from_nanos((now - stamp) as u64));
        }
        out
    });
    writer.join().unwrap();
    lat.sort();
    let at = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    let verdict = if at(0.99) <= Duration::from_millis(50) { "met" } else { "NOT met" };
    println!(
        "log_follow/latency: {N} lines, one per 2 ms: p50 {:?} p99 {:?} max {:?} (target p99 <= 50 ms: {verdict})",
        at(0.5),
        at(0.99),
        lat[lat.len() - 1]
    );
}

fn status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn memory(rt: &tokio::runtime::Runtime) {
    const GIB: u64 = 1 << 30;
    let batch: Vec<u8> = batches(FileFormat::JsonFile, BATCH).remove(0);
    let per_batch = batch.len() as u64;
    let total_batches = GIB.div_ceil(per_batch);
    let total_lines = total_batches as usize * BATCH;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctr.log");
    let mut file = File::create(&path).unwrap();
    // Peak RSS counts from here (clear_refs "5" resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kib("VmRSS:");
    let mut stream = follow(&path, FileFormat::JsonFile);
    let started = Instant::now();
    let writer = std::thread::spawn(move || {
        for _ in 0..total_batches {
            file.write_all(&batch).unwrap();
        }
    });
    let samples = rt.block_on(async {
        let mut samples = Vec::new();
        let quarter = total_lines / 4;
        for n in 1..=total_lines {
            stream.next().await.expect("the stream ended").expect("a record");
            if n.is_multiple_of(quarter) {
                samples.push(status_kib("VmRSS:"));
            }
        }
        samples
    });
    let took = started.elapsed();
    writer.join().unwrap();
    let peak = status_kib("VmHWM:");
    let flat = samples.iter().all(|s| *s <= before + 64 * 1024);
    println!(
        "log_follow/memory: followed {} MiB ({total_lines} lines) in {took:.1?}; RSS before {before} KiB, \
         at each 256 MiB {samples:?} KiB, peak {peak} KiB (target flat, within 64 MiB of the start: {})",
        (per_batch * total_batches) >> 20,
        if flat { "met" } else { "NOT met" }
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut c = Criterion::default().configure_from_args().measurement_time(Duration::from_secs(8)).sample_size(10);
    // Under `cargo test --benches` (criterion's test mode) only check that each part runs once.
    let test_mode = std::env::args().any(|a| a == "--test");
    memory(&rt);
    latency(&rt);
    if !test_mode {
        throughput(&mut c, &rt);
        c.final_summary();
    }
}
