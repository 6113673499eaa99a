//! Decoder tables and properties, and the file reader on real files (tail, since/until, follow
//! through both kinds of rotation).

use std::io::Write;
use std::time::Duration;

use anyctr_core::model::{LogOptions, LogRecord, LogStreamKind};
use chrono::{DateTime, TimeZone, Utc};
use futures_util::StreamExt;
use proptest::prelude::*;

use super::*;

fn t(sec: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + sec, 123_000_000).unwrap()
}

fn json_line(time: DateTime<Utc>, stream: &str, text: &str) -> String {
    let v = serde_json::json!({"log": text, "stream": stream, "time": time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)});
    format!("{v}\n")
}

fn cri_line(time: DateTime<Utc>, stream: &str, tag: &str, text: &str) -> String {
    format!("{} {stream} {tag} {text}\n", time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
}

/// Encodes lines the way the engine does: pieces of at most `split` bytes.
fn encode(format: FileFormat, lines: &[(i64, LogStreamKind, String)], split: usize) -> String {
    let mut out = String::new();
    for (sec, stream, text) in lines {
        let s = if *stream == LogStreamKind::Stdout { "stdout" } else { "stderr" };
        let chunks: Vec<&str> = if text.is_empty() {
            vec![""]
        } else {
            text.as_bytes().chunks(split).map(|c| std::str::from_utf8(c).unwrap()).collect()
        };
        for (i, c) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            out += &match format {
                FileFormat::JsonFile if last => json_line(t(*sec), s, &format!("{c}\n")),
                FileFormat::JsonFile => json_line(t(*sec), s, c),
                FileFormat::Cri => cri_line(t(*sec), s, if last { "F" } else { "P" }, c),
            };
        }
    }
    out
}

fn decode_all(format: FileFormat, text: &str, max: usize) -> (Vec<LogRecord>, usize) {
    let mut d = Decoder::with_limit(format, max);
    let (mut out, mut bad) = (Vec::new(), 0);
    for line in text.as_bytes().split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match d.line(line) {
            Ok(Some(r)) => out.push(r),
            Ok(None) => {}
            Err(_) => bad += 1,
        }
    }
    out.extend(d.finish());
    (out, bad)
}

#[test]
fn json_file_16k_pieces_rejoin_and_streams_stay_apart() {
    let big = "x".repeat(40 * 1024);
    let mut text = String::new();
    text += &json_line(t(0), "stdout", &big[..16384]);
    text += &json_line(t(0), "stderr", "err\n"); // interleaved while stdout is mid-line
    text += &json_line(t(0), "stdout", &big[16384..32768]);
    text += &json_line(t(0), "stdout", &format!("{}\n", &big[32768..]));
    text += "garbage\n";
    text += &json_line(t(1), "stdout", "tail without newline");
    let (recs, bad) = decode_all(FileFormat::JsonFile, &text, MAX_RECORD_BYTES);
    assert_eq!(bad, 1);
    assert_eq!(recs.len(), 3);
    assert_eq!(
        (recs[0].stream, &recs[0].bytes[..], recs[0].partial_rejoined),
        (LogStreamKind::Stderr, &b"err"[..], false)
    );
    assert_eq!((recs[1].bytes.len(), recs[1].partial_rejoined, recs[1].truncated), (big.len(), true, false));
    assert_eq!(recs[2].bytes, b"tail without newline");
}

#[test]
fn cri_partials_rejoin_and_a_record_is_bounded() {
    let text = cri_line(t(0), "stdout", "P", "ab")
        + &cri_line(t(1), "stdout", "P", "cd")
        + &cri_line(t(2), "stdout", "F", "ef");
    let (recs, _) = decode_all(FileFormat::Cri, &text, 4);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (&recs[0].bytes[..], recs[0].partial_rejoined, recs[0].truncated, recs[0].time),
        (&b"abcd"[..], true, true, t(0))
    );
}

fn arb_lines() -> impl Strategy<Value = Vec<(i64, LogStreamKind, String)>> {
    let stream = prop_oneof![Just(LogStreamKind::Stdout), Just(LogStreamKind::Stderr)];
    prop::collection::vec((0i64..1000, stream, "[ -~]{0,300}"), 0..30)
}

proptest! {
    #[test]
    fn pieces_come_back_as_the_lines_written(lines in arb_lines(), split in 1usize..64, cri in any::<bool>()) {
        let format = if cri { FileFormat::Cri } else { FileFormat::JsonFile };
        let (recs, bad) = decode_all(format, &encode(format, &lines, split), MAX_RECORD_BYTES);
        prop_assert_eq!(bad, 0);
        let got: Vec<(LogStreamKind, Vec<u8>)> = recs.into_iter().map(|r| (r.stream, r.bytes)).collect();
        let want: Vec<(LogStreamKind, Vec<u8>)> = lines.iter().map(|(_, s, l)| (*s, l.clone().into_bytes())).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn hostile_lines_never_panic(line in prop::collection::vec(any::<u8>(), 0..200), cri in any::<bool>()) {
        let mut d = Decoder::with_limit(if cri { FileFormat::Cri } else { FileFormat::JsonFile }, 64);
        let _ = d.line(&line);
        for r in d.finish() {
            prop_assert!(r.bytes.len() <= 64);
        }
    }
}

// --- the file reader on real files ---

const WAIT: Duration = Duration::from_secs(10);

async fn collect(path: &std::path::Path, format: FileFormat, options: LogOptions) -> Vec<LogRecord> {
    let s = read_log_file(path, format, FileLogOptions::new(options)).unwrap();
    tokio::time::timeout(WAIT, s.filter_map(|r| async { r.ok() }).collect::<Vec<_>>()).await.expect("reader hung")
}

fn texts(recs: &[LogRecord]) -> Vec<String> {
    recs.iter().map(|r| String::from_utf8_lossy(&r.bytes).into_owned()).collect()
}

fn numbered(format: FileFormat, range: std::ops::Range<i64>) -> String {
    let lines: Vec<_> = range.map(|i| (i, LogStreamKind::Stdout, format!("line {i}"))).collect();
    encode(format, &lines, 1 << 20)
}

#[tokio::test]
async fn tail_since_until_on_a_file() {
    for format in [FileFormat::JsonFile, FileFormat::Cri] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        // A split line near the end: tail must take all of its pieces.
        let mut text = numbered(format, 0..5000);
        text += &encode(format, &[(5000, LogStreamKind::Stderr, "y".repeat(100))], 30);
        text += &numbered(format, 5001..5003);
        std::fs::write(&path, text).unwrap();
        let all = collect(&path, format, LogOptions::new()).await;
        assert_eq!(all.len(), 5003);
        let tail = collect(&path, format, LogOptions::new().tail(3)).await;
        assert_eq!(texts(&tail), ["y".repeat(100), "line 5001".into(), "line 5002".into()], "{format:?}");
        assert!(tail[0].partial_rejoined);
        assert!(collect(&path, format, LogOptions::new().tail(0)).await.is_empty());
        assert_eq!(collect(&path, format, LogOptions::new().tail(99_999)).await.len(), 5003);
        let window = collect(&path, format, LogOptions::new().since(t(10)).until(t(13))).await;
        assert_eq!(texts(&window), ["line 10", "line 11", "line 12"]);
    }
}

#[tokio::test]
async fn a_symlink_or_fifo_in_place_of_the_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.log")).unwrap();
    assert!(
        read_log_file(&dir.path().join("link.log"), FileFormat::Cri, FileLogOptions::new(LogOptions::new())).is_err()
    );
    let e = read_log_file(&dir.path().join("none.log"), FileFormat::Cri, FileLogOptions::new(LogOptions::new()))
        .err()
        .unwrap();
    assert_eq!(e.kind(), anyctr_core::ErrorKind::NotFound);
}

/// Writes lines 0..n with a rotation after each `every`, while a follower reads; every line
/// must arrive exactly once, in order.
async fn follow_through(rotate: fn(&std::path::Path)) {
    let format = FileFormat::JsonFile;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.log");
    std::fs::write(&path, numbered(format, 0..10)).unwrap();
    let mut s = read_log_file(&path, format, FileLogOptions::new(LogOptions::new().follow(true).tail(5))).unwrap();
    let writer_path = path.clone();
    let writer = std::thread::spawn(move || {
        for i in 10..400 {
            let mut f = std::fs::OpenOptions::new().append(true).create(true).open(&writer_path).unwrap();
            f.write_all(numbered(format, i..i + 1).as_bytes()).unwrap();
            drop(f);
            if i % 97 == 0 {
                rotate(&writer_path);
            }
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(15));
            }
        }
    });
    let mut got = Vec::new();
    while got.len() < 395 {
        match tokio::time::timeout(WAIT, s.next()).await.expect("follow stalled") {
            Some(Ok(r)) => got.push(String::from_utf8(r.bytes).unwrap()),
            Some(Err(e)) => panic!("{e}"),
            None => panic!("follow ended"),
        }
    }
    writer.join().unwrap();
    let want: Vec<String> = (5..400).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want);
    // Nothing more (no line repeated after the last).
    assert!(tokio::time::timeout(Duration::from_millis(300), s.next()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_through_rename_and_create() {
    follow_through(|p| {
        let old = p.with_extension("log.1");
        std::fs::rename(p, old).unwrap();
        std::fs::File::create(p).unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_through_copy_truncate() {
    follow_through(|p| {
        std::fs::copy(p, p.with_extension("log.1")).unwrap();
        std::fs::OpenOptions::new().write(true).open(p).unwrap().set_len(0).unwrap();
    })
    .await;
}

#[tokio::test]
async fn bad_and_overlong_lines_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.log");
    let mut text = numbered(FileFormat::Cri, 0..2);
    text += "not a log line at all\n";
    text += &"z".repeat(MAX_RAW_LINE_BYTES + 10);
    text += "\n";
    text += &numbered(FileFormat::Cri, 2..4);
    std::fs::write(&path, text).unwrap();
    let s = read_log_file(&path, FileFormat::Cri, FileLogOptions::new(LogOptions::new())).unwrap();
    let items: Vec<_> = tokio::time::timeout(WAIT, s.collect::<Vec<_>>()).await.unwrap();
    let errors: Vec<String> = items.iter().filter_map(|r| r.as_ref().err().map(|e| e.to_string())).collect();
    let lines: Vec<LogRecord> = items.into_iter().filter_map(Result::ok).collect();
    assert_eq!(texts(&lines), ["line 0", "line 1", "line 2", "line 3"]);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[1].contains("skipped"), "{errors:?}");
}

/// Many more items than one batch, bad lines among them: every item arrives once, in the file's
/// order, records and errors alike; with tail, the last records and the errors among them.
#[tokio::test]
async fn items_keep_their_order_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.log");
    let mut text = String::new();
    let mut want = Vec::new();
    for i in 0..5000 {
        if i % 7 == 3 {
            text += "garbage\n";
            want.push(None);
        } else {
            text += &numbered(FileFormat::JsonFile, i..i + 1);
            want.push(Some(format!("line {i}")));
        }
    }
    std::fs::write(&path, text).unwrap();
    let items = |options| async {
        let s = read_log_file(&path, FileFormat::JsonFile, FileLogOptions::new(options)).unwrap();
        let items: Vec<_> = tokio::time::timeout(WAIT, s.collect::<Vec<_>>()).await.expect("reader hung");
        items.into_iter().map(|r| r.ok().map(|r| String::from_utf8(r.bytes).unwrap())).collect::<Vec<_>>()
    };
    assert_eq!(items(LogOptions::new()).await, want);
    // The last 10 records begin at line 4989 (4994 is garbage).
    let tail = items(LogOptions::new().tail(10)).await;
    assert_eq!(tail, want[4989..]);
    assert_eq!(tail.iter().filter(|t| t.is_some()).count(), 10);
}

/// dockerd's json-file rotation (`max-file`): the oldest deleted, `<name>.k` renamed to
/// `<name>.k+1` from the oldest down, `<name>` to `<name>.1`, a new `<name>` created.
fn docker_rotate(p: &std::path::Path, max_files: usize) {
    let numbered = |k: usize| std::path::PathBuf::from(format!("{}.{k}", p.display()));
    let _ = std::fs::remove_file(numbered(max_files - 1));
    for k in (2..max_files).rev() {
        let _ = std::fs::rename(numbered(k - 1), numbered(k));
    }
    std::fs::rename(p, numbered(1)).unwrap();
    std::fs::File::create(p).unwrap();
}

fn append(p: &std::path::Path, range: std::ops::Range<i64>) {
    let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
    f.write_all(numbered(FileFormat::JsonFile, range).as_bytes()).unwrap();
}

/// A writer rotating as fast as it can (many rotations between two looks, the reader's scans
/// racing the renames): every line arrives once, in order, with no gap claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_through_fast_numbered_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.log");
    std::fs::File::create(&path).unwrap();
    let mut s =
        read_log_file(&path, FileFormat::JsonFile, FileLogOptions::new(LogOptions::new().follow(true))).unwrap();
    let writer_path = path.clone();
    const N: i64 = 4000;
    let writer = std::thread::spawn(move || {
        for i in 0..N {
            append(&writer_path, i..i + 1);
            if i % 7 == 6 {
                docker_rotate(&writer_path, 1000);
            }
        }
    });
    let mut got = Vec::new();
    while got.len() < N as usize {
        match tokio::time::timeout(WAIT, s.next()).await.expect("follow stalled") {
            Some(Ok(r)) => got.push(String::from_utf8(r.bytes).unwrap()),
            Some(Err(e)) => panic!("after {} lines: {e}", got.len()),
            None => panic!("follow ended"),
        }
    }
    writer.join().unwrap();
    let want: Vec<String> = (0..N).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want);
    assert!(tokio::time::timeout(Duration::from_millis(300), s.next()).await.is_err());
}

/// Files deleted (max-file) before the reader got to them: the gap is announced once, and
/// reading goes on from the oldest file left, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_deleted_before_read_are_announced_as_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.log");
    std::fs::write(&path, numbered(FileFormat::JsonFile, 0..10)).unwrap();
    let mut options = FileLogOptions::new(LogOptions::new().follow(true));
    options.poll = Duration::from_secs(2);
    let mut s = read_log_file(&path, FileFormat::JsonFile, options).unwrap();
    let mut next = async || tokio::time::timeout(WAIT, s.next()).await.expect("follow stalled").expect("ended");
    for i in 0..10 {
        assert_eq!(String::from_utf8(next().await.unwrap().bytes).unwrap(), format!("line {i}"));
    }
    // The reader now sleeps its poll; four rotations keep three files: ours and the next are gone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for r in 1..5 {
        docker_rotate(&path, 3);
        append(&path, r * 10..r * 10 + 10);
    }
    let gap = next().await.expect_err("a gap");
    assert!(gap.to_string().contains("deleted before they were read"), "{gap}");
    for i in 20..50 {
        assert_eq!(String::from_utf8(next().await.unwrap().bytes).unwrap(), format!("line {i}"));
    }
}

/// conmon's `log_size_max` rotation: a fresh file renamed over the log, nothing kept.
fn conmon_replace(p: &std::path::Path, range: std::ops::Range<i64>) {
    let fresh = std::path::PathBuf::from(format!("{}.tmp", p.display()));
    std::fs::write(&fresh, numbered(FileFormat::Cri, range)).unwrap();
    std::fs::rename(&fresh, p).unwrap();
}

/// Replacements that keep no copy: one between two looks loses nothing (the old file is drained
/// through its descriptor); two lose the file in between, which is announced, never skipped quietly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacements_that_keep_no_copy_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctr.log");
    std::fs::write(&path, numbered(FileFormat::Cri, 0..10)).unwrap();
    let mut options = FileLogOptions::new(LogOptions::new().follow(true));
    options.poll = Duration::from_secs(1);
    let mut s = read_log_file(&path, FileFormat::Cri, options).unwrap();
    let mut next = async || tokio::time::timeout(WAIT, s.next()).await.expect("follow stalled").expect("ended");
    let text = |r: LogRecord| String::from_utf8(r.bytes).unwrap();
    for i in 0..10 {
        assert_eq!(text(next().await.unwrap()), format!("line {i}"));
    }
    // While the reader sleeps its poll: the old file grows, then is replaced once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut old = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    old.write_all(numbered(FileFormat::Cri, 10..15).as_bytes()).unwrap();
    conmon_replace(&path, 15..20);
    for i in 10..20 {
        assert_eq!(text(next().await.unwrap()), format!("line {i}"), "one replacement loses nothing");
    }
    // Then twice before the next look: the file of lines 20..25 is gone unread.
    tokio::time::sleep(Duration::from_millis(200)).await;
    conmon_replace(&path, 20..25);
    conmon_replace(&path, 25..30);
    let gap = next().await.expect_err("a gap");
    assert!(gap.to_string().contains("the lines of 1 files are missing"), "{gap}");
    for i in 25..30 {
        assert_eq!(text(next().await.unwrap()), format!("line {i}"));
    }
}

/// kubelet's rotation through containerd: the log is renamed, `ReopenContainerLog` creates the new
/// file and only then closes the old writer, whose last line lands in the old file a moment
/// later. A follower that moved on as soon as the new name appeared would lose that line; it
/// waits for the old file to hold still.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_written_to_the_old_file_after_the_reopen_is_not_lost() {
    const ROTATIONS: i64 = 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.log");
    std::fs::write(&path, "").unwrap();
    let mut options = FileLogOptions::new(LogOptions::new().follow(true));
    options.poll = Duration::from_millis(10);
    let mut s = read_log_file(&path, FileFormat::Cri, options).unwrap();
    let writer_path = path.clone();
    let writer = std::thread::spawn(move || {
        let mut old = std::fs::OpenOptions::new().append(true).open(&writer_path).unwrap();
        for r in 0..ROTATIONS {
            old.write_all(numbered(FileFormat::Cri, 3 * r..3 * r + 2).as_bytes()).unwrap();
            std::fs::rename(&writer_path, writer_path.with_extension(format!("log.20261201-0900{r:02}"))).unwrap();
            let mut new = std::fs::File::create(&writer_path).unwrap();
            // The old writer's last line, 3 ms after the new file appeared: a follower that moved
            // on at once would miss it whenever it looked in those 3 ms of its 10 ms poll.
            std::thread::sleep(Duration::from_millis(3));
            old.write_all(numbered(FileFormat::Cri, 3 * r + 2..3 * r + 3).as_bytes()).unwrap();
            drop(std::mem::replace(&mut old, new.try_clone().unwrap()));
            new.flush().unwrap();
            // The next rotation well after the follower moved on (two polls or three).
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut got = Vec::new();
    while got.len() < (3 * ROTATIONS) as usize {
        match tokio::time::timeout(WAIT, s.next()).await.expect("follow stalled") {
            Some(Ok(r)) => got.push(String::from_utf8(r.bytes).unwrap()),
            Some(Err(e)) => panic!("after {got:?}: {e}"),
            None => panic!("follow ended"),
        }
    }
    writer.join().unwrap();
    let want: Vec<String> = (0..3 * ROTATIONS).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want);
}
