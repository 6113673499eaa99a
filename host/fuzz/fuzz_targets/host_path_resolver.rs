//! Fuzz target: the host-path resolver never answers outside the container's view.
//!
//! With `--features libfuzzer` (cargo-fuzz, nightly) libFuzzer drives [`anyctr_fuzz::check`].
//! Without it this is a plain program: file arguments are replayed as inputs, a number runs that
//! many pseudo-random inputs (seeded by `ANYCTR_FUZZ_SEED`, default 1), nothing runs 10000.
#![cfg_attr(feature = "libfuzzer", no_main)]
#![forbid(unsafe_code)]

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| anyctr_fuzz::check(data));

#[cfg(not(feature = "libfuzzer"))]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(files) = Some(&args).filter(|a| !a.is_empty() && a.iter().all(|f| std::path::Path::new(f).is_file())) {
        for f in files {
            anyctr_fuzz::check(&std::fs::read(f).expect("read input"));
        }
        println!("{} inputs replayed", files.len());
        return;
    }
    let runs: u64 = args.first().map(|n| n.parse().expect("a number of runs or input files")).unwrap_or(10_000);
    let mut state: u64 = std::env::var("ANYCTR_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let mut next = move || {
        // xorshift64: deterministic, no dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for run in 0..runs {
        let len = (next() % 256) as usize;
        let input: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let outcome = std::panic::catch_unwind(|| anyctr_fuzz::check(&input));
        if outcome.is_err() {
            let path = format!("crash-{run}.bin");
            std::fs::write(&path, &input).expect("write crash input");
            eprintln!("run {run} failed; input saved to {path}");
            std::process::exit(1);
        }
    }
    println!("{runs} runs, no answer left the view");
}
