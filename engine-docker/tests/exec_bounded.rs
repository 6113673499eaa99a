//! 200 MiB of output under a small limit: the result is capped with true byte counts, and this
//! process's memory does not grow with the output. Its own test binary, so no other test's
//! allocations move the high-water mark; the runtimes run one after the other for the same reason.

mod common;

use anyctr_core::model::ExecRequest;
use common::*;

const OUTPUT: u64 = 200 << 20;
const LIMIT: usize = 64 << 10;

/// Peak resident set of this process, in bytes (VmHWM).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_mib_under_a_small_limit() {
    let engine = engine().await;
    for runtime in ["runc", "rund"] {
        let guard = Guard::new(&engine, "exec-200mib");
        let id = guard.sleeper(runtime).await;
        let before = peak_rss();
        let script = format!("head -c {OUTPUT} /dev/zero; head -c {} /dev/zero >&2", OUTPUT / 2);
        let r = exec(&engine, &id, ExecRequest::shell(script).output_limit(LIMIT)).await.unwrap();
        let grown = peak_rss().saturating_sub(before);
        assert_eq!(r.exit_code, 0, "{runtime}");
        assert_eq!(r.stdout_bytes, OUTPUT, "{runtime}: every byte counted");
        assert_eq!(r.stderr_bytes, OUTPUT / 2, "{runtime}");
        assert_eq!((r.stdout.len(), r.stderr.len()), (LIMIT, LIMIT), "{runtime}: capped at the limit");
        assert!(r.stdout_truncated && r.stderr_truncated, "{runtime}");
        assert!(r.stdout.iter().all(|b| *b == 0), "{runtime}");
        // Generous against allocator noise, far below the 300 MiB that went through.
        assert!(grown < 48 << 20, "{runtime}: peak RSS grew by {} MiB", grown >> 20);
    }
}
