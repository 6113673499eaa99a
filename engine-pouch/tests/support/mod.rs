//! A replay server for the recorded pouchd 1.3.0 exchanges in `tests/fixtures/pouch-1.3.0` (in this
//! crate, so the tests run from a clean clone or the published crate).
//!
//! It listens on a unix socket, parses each HTTP/1.1 request, finds the recorded exchange with the
//! same method, path and query, and writes back the recorded status line, headers and body bytes
//! unchanged (a body recorded de-chunked is re-chunked when the recorded headers say chunked). An
//! upgraded exec start is replayed as pouchd does it: `101 UPGRADED`, then — for the exchange
//! recorded with stdin — the server reads until the client half-closes and checks it received
//! exactly the recorded stdin bytes, then the recorded multiplexed output, then close.
//!
//! Matching rules (and why):
//! - A full container id in the path stands for that container's name, since the recordings
//!   address containers by name (`pk`, `pexit`) and the engine addresses them by id once resolved.
//! - `GET /containers/<not recorded>/json` gets the recorded "missing container" 404.
//! - `POST /containers/<any>/kill` gets the recorded 405: pouchd 1.3.0 has no kill route.
//! - `/events` matches whatever its query: the replay is the recorded window of events.
//! - Several exchanges on one path (three exec creates on `/containers/pk/exec`) are told apart by
//!   the JSON `Cmd` of the request body.
//! - Anything else is answered `599` and logged as unmatched, so a test can fail on it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// The fixtures directory, inside this crate: a test reads nothing outside the repository.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pouch-1.3.0")
}

#[derive(Debug, Clone)]
pub struct Exchange {
    pub name: String,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub request_body: Vec<u8>,
    pub stdin: Option<Vec<u8>>,
    pub status_line: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn b64(v: &serde_json::Value) -> Vec<u8> {
    v.as_str().map(|s| decode_b64(s).expect("fixture base64")).unwrap_or_default()
}

/// Standard base64 for the fixture files (kept here so the test does not reuse engine code).
pub fn decode_b64(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()) {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    Some(out)
}

fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut q: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    q.sort();
    (percent_decode(path), q)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Loads every recorded exchange; panics (failing the test) when the fixtures are missing.
pub fn load_fixtures() -> Vec<Exchange> {
    let dir = fixtures_dir();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("pouch fixtures missing at {} ({e})", dir.display()));
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (req, resp) = (&v["request"], &v["response"]);
        let (p, query) = split_target(req["path"].as_str().unwrap());
        let headers = resp["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        out.push(Exchange {
            name: path.file_stem().unwrap().to_string_lossy().into_owned(),
            method: req["method"].as_str().unwrap().to_owned(),
            path: p,
            query,
            request_body: b64(&req["body_b64"]),
            stdin: req.get("stdin_b64").map(b64),
            status_line: resp["status_line"].as_str().unwrap().to_owned(),
            status: resp["status"].as_u64().unwrap() as u16,
            headers,
            body: b64(&resp["body_b64"]),
        });
    }
    // The directory holds 25 exchanges (plus its README; the issue counts 26 files).
    assert!(out.len() >= 25, "expected the 25 recorded exchanges in {}, found {}", dir.display(), out.len());
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

pub fn fixture(name: &str) -> Exchange {
    load_fixtures().into_iter().find(|e| e.name == name).unwrap_or_else(|| panic!("no fixture {name}"))
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The exchange replayed, `None` when nothing matched.
    pub matched: Option<String>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Debug, Default)]
pub struct Log {
    pub received: Vec<Received>,
    /// For each upgraded exchange with recorded stdin: whether exactly those bytes then EOF came.
    pub stdin_checks: Vec<(String, Result<(), String>)>,
}

pub struct FixtureServer {
    pub socket: PathBuf,
    pub log: Arc<Mutex<Log>>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FixtureServer {
    /// Serves the recordings of the first session (containers `pk` and `pexit`): every exchange
    /// but the second list of running containers, which shares its route.
    pub async fn start() -> FixtureServer {
        Self::start_without(&["containers-list-created-nanos"]).await
    }

    /// Serves every recorded exchange except those named (when two share a route).
    pub async fn start_without(excluded: &[&str]) -> FixtureServer {
        let exchanges: Vec<Exchange> =
            load_fixtures().into_iter().filter(|e| !excluded.contains(&e.name.as_str())).collect();
        let exchanges = Arc::new(exchanges);
        let aliases = Arc::new(container_aliases(&exchanges));
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("pouchd.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let task_log = log.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (exchanges, aliases, log) = (exchanges.clone(), aliases.clone(), task_log.clone());
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, &exchanges, &aliases, &log).await {
                        eprintln!("fixture server connection: {e}");
                    }
                });
            }
        });
        FixtureServer { socket, log, _dir: dir, task }
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }

    pub fn unmatched(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter(|r| r.matched.is_none())
            .map(|r| format!("{} {} {:?}", r.method, r.path, r.query))
            .collect()
    }

    pub fn stdin_checks(&self) -> Vec<(String, Result<(), String>)> {
        self.log.lock().unwrap().stdin_checks.clone()
    }
}

/// Full container id → name, from the recorded lists and inspects (every container recorded).
fn container_aliases(exchanges: &[Exchange]) -> BTreeMap<String, String> {
    let mut aliases = BTreeMap::new();
    for e in exchanges.iter().filter(|e| e.method == "GET" && e.status == 200) {
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(&e.body) else { continue };
        let items =
            if e.path == "/v1.24/containers/json" { body.as_array().cloned().unwrap_or_default() } else { vec![body] };
        for c in items {
            let name = c["Names"][0].as_str().or(c["Name"].as_str()).map(|n| n.trim_start_matches('/').to_owned());
            if let (Some(id), Some(name)) = (c["Id"].as_str().filter(|id| id.len() == 64), name) {
                aliases.insert(id.to_owned(), name);
            }
        }
    }
    aliases
}

struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn fill(&mut self) -> std::io::Result<usize> {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.stream.read(&mut tmp).await?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    async fn take_exact(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill().await? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "body cut short"));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn take_line(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).collect();
                return Ok(String::from_utf8_lossy(&line[..pos]).into_owned());
            }
            if self.fill().await? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "line cut short"));
            }
        }
    }

    /// Everything until the client shuts its write side down.
    async fn take_to_eof(&mut self) -> std::io::Result<Vec<u8>> {
        while self.fill().await? > 0 {}
        Ok(std::mem::take(&mut self.buf))
    }
}

async fn serve(
    stream: UnixStream,
    exchanges: &[Exchange],
    aliases: &BTreeMap<String, String>,
    log: &Mutex<Log>,
) -> std::io::Result<()> {
    let mut conn = Conn { stream, buf: Vec::new() };
    loop {
        if conn.buf.is_empty() && conn.fill().await? == 0 {
            return Ok(());
        }
        let request_line = conn.take_line().await?;
        let mut parts = request_line.split(' ');
        let (method, target) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
        let mut headers = Vec::new();
        loop {
            let line = conn.take_line().await?;
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').unwrap_or((&line, ""));
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let body = if let Some(len) = header("content-length") {
            conn.take_exact(len.parse().unwrap_or(0)).await?
        } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            let mut body = Vec::new();
            loop {
                let size = usize::from_str_radix(conn.take_line().await?.split(';').next().unwrap_or("0").trim(), 16)
                    .unwrap_or(0);
                let chunk = conn.take_exact(size + 2).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
            body
        } else {
            Vec::new()
        };
        let (path, query) = split_target(&target);
        let path = path
            .split('/')
            .map(|seg| aliases.get(seg).map(String::as_str).unwrap_or(seg))
            .collect::<Vec<_>>()
            .join("/");
        let found = find(exchanges, &method, &path, &query, &body);
        log.lock().unwrap().received.push(Received {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            headers: headers.clone(),
            body: body.clone(),
            matched: found.map(|e| e.name.clone()),
        });
        let Some(exchange) = found else {
            let msg = format!("{{\"message\":\"fixture server: no recorded exchange for {method} {target}\"}}");
            let head = format!(
                "HTTP/1.1 599 No Recording\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                msg.len()
            );
            conn.stream.write_all(head.as_bytes()).await?;
            conn.stream.write_all(msg.as_bytes()).await?;
            continue;
        };
        let mut head = format!("{}\r\n", exchange.status_line);
        for (k, v) in &exchange.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        conn.stream.write_all(head.as_bytes()).await?;
        if exchange.status == 101 {
            if let Some(expected) = &exchange.stdin {
                let got = conn.take_to_eof().await?;
                let check = if &got == expected {
                    Ok(())
                } else {
                    Err(format!("stdin: expected {} recorded bytes then EOF, got {} bytes", expected.len(), got.len()))
                };
                log.lock().unwrap().stdin_checks.push((exchange.name.clone(), check));
            }
            conn.stream.write_all(&exchange.body).await?;
            conn.stream.shutdown().await?;
            return Ok(());
        }
        if method == "HEAD" {
            continue;
        }
        let chunked =
            exchange.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
        if chunked {
            // One chunk per line (events arrive line by line from pouchd), at most 4 KiB each.
            for piece in exchange.body.split_inclusive(|b| *b == b'\n').flat_map(|l| l.chunks(4096)) {
                conn.stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await?;
                conn.stream.write_all(piece).await?;
                conn.stream.write_all(b"\r\n").await?;
            }
            conn.stream.write_all(b"0\r\n\r\n").await?;
        } else {
            conn.stream.write_all(&exchange.body).await?;
        }
    }
}

fn find<'a>(
    exchanges: &'a [Exchange],
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Option<&'a Exchange> {
    let same_route = |e: &&Exchange| {
        e.method == method && e.path == path && (e.path.ends_with("/events") || e.query.as_slice() == query)
    };
    let candidates: Vec<&Exchange> = exchanges.iter().filter(same_route).collect();
    let cmd = serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| v.get("Cmd").cloned());
    let by_cmd = candidates.iter().copied().find(|e| {
        cmd.is_some()
            && serde_json::from_slice::<serde_json::Value>(&e.request_body).ok().and_then(|v| v.get("Cmd").cloned())
                == cmd
    });
    if let Some(e) = by_cmd.or_else(|| if candidates.len() == 1 { candidates.first().copied() } else { None }) {
        return Some(e);
    }
    let inspect = path.starts_with("/v1.24/containers/") && path.ends_with("/json") && path != "/v1.24/containers/json";
    if candidates.is_empty() && method == "GET" && inspect {
        return exchanges.iter().find(|e| e.name == "container-inspect-missing");
    }
    // pouchd 1.3.0 has no kill route at all: the recorded 405 is its answer for every container.
    let kill = path.starts_with("/v1.24/containers/") && path.ends_with("/kill");
    if candidates.is_empty() && method == "POST" && kill {
        return exchanges.iter().find(|e| e.name == "container-kill-unsupported");
    }
    None
}
