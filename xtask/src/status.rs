//! `cargo xtask engines status`: per daemon its pid, whether it is alive, its socket,
//! whether it answers there, and its version. Read-only; safe while tests run.

use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::cmd;
use crate::engines::{Daemon, Layout};

const PROBE_LIMIT: Duration = Duration::from_secs(5);

struct Row {
    daemon: &'static str,
    pid: String,
    alive: bool,
    socket: String,
    answering: Result<String, String>,
}

/// Prints the table; true when every daemon is alive and answering.
pub fn status(layout: &Layout) -> bool {
    let rows: Vec<Row> = Daemon::ALL.iter().map(|&d| probe(layout, d)).collect();
    println!("engines `{}`: {}, {}", layout.name, layout.run.display(), layout.lib.display());
    println!("{:<11} {:<8} {:<6} {:<50} {:<10} version", "daemon", "pid", "alive", "socket", "answering");
    let mut healthy = true;
    for row in &rows {
        let (answering, version) = match &row.answering {
            Ok(version) => ("yes", version.clone()),
            Err(why) => ("no", why.clone()),
        };
        healthy &= row.alive && row.answering.is_ok();
        let alive = if row.alive { "yes" } else { "no" };
        println!("{:<11} {:<8} {:<6} {:<50} {:<10} {version}", row.daemon, row.pid, alive, row.socket, answering);
    }
    // The registry is not a daemon the tests need: it is reported, not counted in `healthy`.
    match layout.registry_addr() {
        Some(addr) => println!("registry: {addr} (pid file {})", layout.run.join("registry.pid").display()),
        None => println!("registry: none (the pull trials are not applicable)"),
    }
    let env = layout.env_file();
    println!("env file: {}", if env.exists() { env.display().to_string() } else { "absent".to_owned() });
    healthy
}

fn probe(layout: &Layout, daemon: Daemon) -> Row {
    let pid_file = layout.pid_file(daemon);
    let live = layout.live_pid(daemon);
    let pid = match (live, std::fs::read_to_string(&pid_file)) {
        (Some(pid), _) => pid.to_string(),
        (None, Ok(text)) => text.trim().to_owned(), // stale: the process is gone or is another one
        (None, Err(_)) => "-".to_owned(),
    };
    let socket = match daemon {
        Daemon::Containerd => layout.containerd_socket(),
        Daemon::Dockerd => layout.docker_socket(),
        Daemon::Podman => layout.podman_socket(),
    };
    let is_socket = std::fs::metadata(&socket).map(|m| m.file_type().is_socket()).unwrap_or(false);
    let answering = if !is_socket {
        Err("(no socket)".to_owned())
    } else {
        match daemon {
            Daemon::Containerd => containerd_version(&socket),
            // Podman's Docker-compatible /version: its own version, the Docker API it serves.
            Daemon::Dockerd | Daemon::Podman => docker_version(&socket),
        }
    };
    let socket_text = format!("{}{}", socket.display(), if is_socket { "" } else { " (absent)" });
    Row { daemon: daemon.name(), pid, alive: live.is_some(), socket: socket_text, answering }
}

/// containerd answers when `ctr version` does and its CRI plugin is `ok`.
fn containerd_version(socket: &Path) -> Result<String, String> {
    let ctr = |args: &[&str]| {
        cmd::capture(Command::new("ctr").arg("--address").arg(socket).args(args), PROBE_LIMIT)
            .and_then(|out| if out.status.success() { Ok(out.stdout) } else { Err(out.stderr.trim().to_owned()) })
    };
    let out = ctr(&["version"]).map_err(|e| format!("(ctr version: {e})"))?;
    // "Server:\n  Version:  1.6.20~ds1\n  Revision: …"
    let server = out.split("Server:").nth(1).unwrap_or_default();
    let version = server.lines().find_map(|l| l.trim().strip_prefix("Version:")).unwrap_or("?").trim().to_owned();
    let plugins = ctr(&["plugins", "ls"]).unwrap_or_default();
    let cri_ok = plugins.lines().any(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        words.get(1) == Some(&"cri") && words.last() == Some(&"ok")
    });
    // Readiness is both: the tests of the containerd engine need CRI.
    if cri_ok { Ok(format!("{version} (CRI ok)")) } else { Err(format!("{version}, but the CRI plugin is not ok")) }
}

/// GET /version over the socket with plain HTTP/1.0 (the server closes the connection
/// after the response, so reading to the end is the whole answer).
fn docker_version(socket: &Path) -> Result<String, String> {
    let exchange = || -> std::io::Result<String> {
        let mut stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(PROBE_LIMIT))?;
        stream.set_write_timeout(Some(PROBE_LIMIT))?;
        stream.write_all(b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    };
    let response = exchange().map_err(|e| format!("(GET /version: {e})"))?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(format!("(GET /version: {})", head.lines().next().unwrap_or("empty answer")));
    }
    let json: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("(GET /version: bad JSON: {e})"))?;
    let field = |k: &str| json.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_owned();
    Ok(format!("{} (API {})", field("Version"), field("ApiVersion")))
}
