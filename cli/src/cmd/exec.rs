//! `anyctr exec`: runs a command in a container, streaming its output; its exit code becomes
//! anyctr's.

use std::process::ExitCode;
use std::time::Duration;

use anyctr::{Error, ExecInput, ExecRequest, OutputStream, Result};
use tokio::io::AsyncWriteExt;

use crate::args::ExecArgs;
use crate::node::Node;

pub async fn run(node: &Node, args: ExecArgs) -> Result<ExitCode> {
    let mut request = ExecRequest::new(args.command.clone());
    for entry in &args.env {
        if !entry.contains('=') || entry.starts_with('=') {
            return Err(Error::invalid_argument(format!("-e {entry:?}: expected KEY=VALUE")));
        }
        request = request.env(entry.clone());
    }
    if let Some(user) = &args.user {
        request = request.user(user.clone());
    }
    if let Some(dir) = &args.workdir {
        request = request.working_dir(dir.clone());
    }
    request = match args.timeout {
        Some(secs) => request.timeout(Duration::from_secs(secs)),
        None => request.no_timeout(),
    };
    request.validate()?;
    let row = node.resolve(&args.container)?;
    let outcome = if args.fast {
        // The namespace fast path answers with the whole output at the end.
        if args.interactive {
            request = request.stdin(ExecInput::Reader(Box::pin(tokio::io::stdin())));
        }
        let result = node.inner.exec_fast(&row.detail.id, request).await;
        result.map(|r| {
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &r.stdout);
            let _ = std::io::Write::write_all(&mut std::io::stderr(), &r.stderr);
            r.exit_code
        })
    } else {
        stream(node, &row.detail.id, request, args.interactive).await
    };
    // A command that does not exist is CommandNotFound, which exits 127 as a shell would.
    outcome.map(|code| ExitCode::from(exit_byte(code)))
}

/// Streams the exec's output to this process's stdout and stderr as it comes, stdin copied in
/// when asked; returns the exit code.
async fn stream(node: &Node, id: &str, request: ExecRequest, interactive: bool) -> Result<i64> {
    let mut session = node.inner.exec_stream(id, request, interactive).await?;
    if interactive && let Some(mut stdin) = session.take_stdin() {
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut stdin).await;
            let _ = stdin.shutdown().await;
        });
    }
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    while let Some(chunk) = session.next_output().await {
        let chunk = chunk?;
        let written = match chunk.stream {
            OutputStream::Stderr => stderr.write_all(&chunk.data).await.and(stderr.flush().await),
            _ => stdout.write_all(&chunk.data).await.and(stdout.flush().await),
        };
        // Our reader went away (`| head`): stop reading, keep the exit code.
        if written.is_err() {
            break;
        }
    }
    session.wait().await
}

/// An exit code as a process's: 0–255 kept, anything else (a signal's negative code) 255.
fn exit_byte(code: i64) -> u8 {
    u8::try_from(code).unwrap_or(255)
}
