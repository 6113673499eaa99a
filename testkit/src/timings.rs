//! Per-iteration times of each benchmark, kept for the summary lines printed after criterion's
//! report: criterion reports each benchmark on its own; ratios against the targets are ours.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Per-iteration times of each benchmark, for the summary printed after criterion's report.
#[derive(Default, Clone)]
pub struct Timings(Arc<Mutex<BTreeMap<String, Vec<Duration>>>>);

impl Timings {
    pub fn record(&self, name: &str, d: Duration) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).entry(name.to_owned()).or_default().push(d);
    }

    /// The median of what `name` recorded (warm-up included: the median shrugs it off).
    pub fn median(&self, name: &str) -> Option<Duration> {
        self.percentile(name, 50.0)
    }

    pub fn percentile(&self, name: &str, p: f64) -> Option<Duration> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut v = map.get(name)?.clone();
        if v.is_empty() {
            return None;
        }
        v.sort();
        let rank = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        Some(v[rank.min(v.len() - 1)])
    }

    pub fn count(&self, name: &str) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(name).map_or(0, Vec::len)
    }

    /// Runs `op` `iters` times on `rt`, recording each run under `name`; the total for criterion's
    /// `iter_custom`.
    pub fn run<F, Fut>(&self, rt: &tokio::runtime::Runtime, name: &str, iters: u64, mut op: F) -> Duration
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            rt.block_on(op());
            let took = start.elapsed();
            self.record(name, took);
            total += took;
        }
        total
    }

    /// Like [`run`](Self::run) for a blocking operation.
    pub fn run_blocking(&self, name: &str, iters: u64, mut op: impl FnMut()) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            op();
            let took = start.elapsed();
            self.record(name, took);
            total += took;
        }
        total
    }
}

/// `12.3 ms`-style formatting for the summary.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// One summary line comparing `a` to `b` against a ratio target (`a/b` must be `<= max`).
pub fn ratio_line(timings: &Timings, what: &str, a: &str, b: &str, max: f64) {
    match (timings.median(a), timings.median(b)) {
        (Some(x), Some(y)) => {
            let ratio = x.as_secs_f64() / y.as_secs_f64();
            let verdict = if ratio <= max { "met" } else { "NOT met" };
            println!(
                "SUMMARY {what}: {a} median {} vs {b} median {} -> ratio {ratio:.3} (target <= {max}): {verdict}",
                ms(x),
                ms(y)
            );
        }
        _ => println!("SUMMARY {what}: not measured ({a} or {b} did not run; filtered out?)"),
    }
}
