//! Choosing the cheapest correct source for a container's logs.

use std::path::Path;

use anyctr_core::model::{ContainerDetail, LogOptions, LogSource, LogStream};
use anyctr_core::registry::under_host_root;
use anyctr_core::{ContainerEngine, Error, ErrorKind, Result};

use super::FileFormat;
use super::reader::{FileLogOptions, read_log_file};

/// The container's logs: from the engine's log file when inspect reports one in a format anyctr
/// reads and it can be opened on this host (beneath `host_root`, the host's `/` as seen from here),
/// else from the engine's logs API. The stream's `source` says which served.
pub async fn container_logs(
    engine: &dyn ContainerEngine,
    container: &str,
    options: &LogOptions,
    host_root: Option<&Path>,
) -> Result<LogStream> {
    options.validate()?;
    let detail = engine.inspect(container).await?;
    container_logs_of(engine, &detail, options, host_root).await.map_err(|e| e.with_container(container))
}

/// [`container_logs`] for a container already inspected (from a fresh inspect or a live index's
/// snapshot): no inspect.
pub async fn container_logs_of(
    engine: &dyn ContainerEngine,
    detail: &ContainerDetail,
    options: &LogOptions,
    host_root: Option<&Path>,
) -> Result<LogStream> {
    options.validate()?;
    let container = detail.id.as_str();
    // What the engine does not claim for this container is refused, not served on the side: a
    // claim is what the conformance suite proves (a log file an engine reports but does not
    // claim, as the CRI engine's, waits for its trials).
    if !engine.container_capabilities(detail).logs.is_supported() {
        return Err(Error::unsupported(engine.name(), "logs").with_container(container));
    }
    let file = match (&detail.log_path, detail.log_format.as_ref().and_then(FileFormat::of)) {
        (Some(path), Some(format)) if path.is_absolute() => Some((under_host_root(host_root, path), format)),
        _ => None,
    };
    if let Some((path, format)) = file {
        match read_log_file(&path, format, FileLogOptions::new(options.clone())) {
            Ok(records) => {
                let source = match format {
                    FileFormat::JsonFile => LogSource::JsonFile,
                    FileFormat::Cri => LogSource::CriFile,
                };
                return Ok(LogStream { source, records });
            }
            // Not visible from here (another mount namespace, a remote daemon): ask the engine.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => {
                tracing::debug!(container, error = %e, "log file not readable here; using the engine's logs API");
            }
            Err(e) => return Err(e.in_context(engine.name(), "logs").with_container(container)),
        }
    }
    engine
        .logs(&detail.id, options)
        .await
        .map_err(|e: Error| e.in_context(engine.name(), "logs").with_container(container))
}
