//! Log parse throughput per format, one core: lines decoded (parsed and rejoined) per second
//! from an in-memory buffer of realistic lines (json-file with escapes, containerd's CRI with
//! `Z` times; 1 in 50 lines split in pieces). No file I/O: the parser alone.
//!
//! Target (reported, not asserted): ≥ 1 M lines/s per format.

use std::hint::black_box;
use std::time::Duration;

use anyctr_host::logs::{Decoder, FileFormat};
use criterion::{Criterion, Throughput};

const LINES: usize = 100_000;

fn corpus(format: FileFormat) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..LINES {
        let time = format!("2026-11-30T17:{:02}:{:02}.{:09}Z", (i / 60) % 60, i % 60, i * 7919 % 1_000_000_000);
        let text =
            format!("level=info ts={i} msg=\"request served\" path=/api/v1/items/{i} status=200 bytes={}", i * 13);
        let stream = if i % 5 == 0 { "stderr" } else { "stdout" };
        let split = i % 50 == 0;
        match format {
            FileFormat::JsonFile => {
                let enc = |s: &str| serde_json::to_string(s).unwrap();
                if split {
                    let (a, b) = text.split_at(30);
                    out += &format!("{{\"log\":{},\"stream\":\"{stream}\",\"time\":\"{time}\"}}\n", enc(a));
                    out += &format!(
                        "{{\"log\":{},\"stream\":\"{stream}\",\"time\":\"{time}\"}}\n",
                        enc(&format!("{b}\n"))
                    );
                } else {
                    out += &format!(
                        "{{\"log\":{},\"stream\":\"{stream}\",\"time\":\"{time}\"}}\n",
                        enc(&format!("{text}\n"))
                    );
                }
            }
            FileFormat::Cri => {
                if split {
                    let (a, b) = text.split_at(30);
                    out += &format!("{time} {stream} P {a}\n{time} {stream} F {b}\n");
                } else {
                    out += &format!("{time} {stream} F {text}\n");
                }
            }
        }
    }
    out.into_bytes()
}

fn decode(format: FileFormat, data: &[u8]) -> usize {
    let mut d = Decoder::new(format);
    let mut n = 0;
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(Some(r)) = d.line(line) {
            n += 1;
            black_box(r);
        }
    }
    n
}

fn main() {
    let mut c = Criterion::default().configure_from_args().measurement_time(Duration::from_secs(5)).sample_size(20);
    let mut g = c.benchmark_group("log_parse");
    g.throughput(Throughput::Elements(LINES as u64));
    for (name, format) in [("json_file", FileFormat::JsonFile), ("cri", FileFormat::Cri)] {
        let data = corpus(format);
        assert_eq!(decode(format, &data), LINES);
        g.bench_function(name, |b| b.iter(|| decode(format, black_box(&data))));
    }
    g.finish();
    c.final_summary();
}
