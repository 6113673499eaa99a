//! Memory of a buffered exec whose output is far beyond its limit: 1 GiB of stdout under a 1 MiB
//! output limit. Peak RSS (`VmHWM` of /proc/self/status) is read before and after one run.
//!
//! Target (reported, not asserted): peak RSS growth under 16 MiB.

mod common;

use std::time::{Duration, Instant};

use anyctr_core::ContainerEngine;
use anyctr_core::model::ExecRequest;

const OUTPUT: u64 = 1 << 30;
const LIMIT: usize = 1 << 20;
const TARGET_GROWTH: u64 = 16 << 20;

/// A `Vm…` line of /proc/self/status, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} missing"));
    let kb: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a number of kB");
    kb * 1024
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn main() {
    // `cargo bench` passes `--bench`; a test run (`cargo test --benches`) passes nothing and gets
    // a run too, which is what a test of this binary should do.
    let rt = common::runtime();
    let engine = rt.block_on(common::engine());
    let guard = common::guard(&engine, "exec-memory");
    let id = rt.block_on(guard.sleeper("runc"));

    // Warm-up: the connection pool, the exec path and the runtime's buffers exist before the
    // baseline, so the growth is what the big output costs.
    rt.block_on(async {
        let r = engine.exec(&id, ExecRequest::new(["echo", "warm"]).output_limit(LIMIT)).await.expect("warm-up exec");
        assert_eq!(r.exit_code, 0);
    });
    let hwm_before = status_bytes("VmHWM:");
    let rss_before = status_bytes("VmRSS:");

    let script = format!("dd if=/dev/zero bs=1048576 count={} 2>/dev/null", OUTPUT >> 20);
    let started = Instant::now();
    let result = rt.block_on(async {
        let request = ExecRequest::shell(script).output_limit(LIMIT).timeout(Duration::from_secs(600));
        engine.exec(&id, request).await.expect("1 GiB exec")
    });
    let took = started.elapsed();
    let hwm_after = status_bytes("VmHWM:");
    let rss_after = status_bytes("VmRSS:");

    assert_eq!(result.exit_code, 0, "dd failed: {}", result.stderr_lossy());
    assert_eq!(result.stdout_bytes, OUTPUT, "every byte was counted");
    assert!(result.stdout_truncated && result.stdout.len() <= LIMIT, "kept {} bytes", result.stdout.len());
    let growth = hwm_after.saturating_sub(hwm_before);
    let verdict = if growth < TARGET_GROWTH { "met" } else { "NOT met" };
    println!(
        "SUMMARY docker exec 1 GiB output, 1 MiB limit: peak RSS (VmHWM) {:.1} MiB -> {:.1} MiB, growth {:.2} MiB \
         (target < 16 MiB): {verdict}; VmRSS {:.1} -> {:.1} MiB; kept {} bytes of {}; {:.2} s ({:.0} MB/s)",
        mib(hwm_before),
        mib(hwm_after),
        mib(growth),
        mib(rss_before),
        mib(rss_after),
        result.stdout.len(),
        result.stdout_bytes,
        took.as_secs_f64(),
        OUTPUT as f64 / 1e6 / took.as_secs_f64()
    );
    drop(guard);
}
