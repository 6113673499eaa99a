//! The engine-archive strategy: the engine's own copy API (docker's archive endpoints), where
//! the engine says it supports it natively for this container.

use std::path::Path;

use futures_util::StreamExt;

use super::bridge::{ChannelWriter, StreamUnpacker, into_stream};
use super::paths::{self, ContainerTarget};
use super::{Attempt, CopyOptions, Done, Step, Verification, expected_from_local, verify};
use anyctr_core::capability::Support;
use anyctr_core::engine::ContainerEngine;
use anyctr_core::error::Error;
use anyctr_core::model::ContainerDetail;

fn precondition(support: Support, op: &str, container: &ContainerDetail) -> Option<Attempt> {
    (support != Support::Native).then(|| {
        Attempt::Skip(format!(
            "capability {op} is {support:?}, not Native, for runtime `{}`",
            container.runtime.as_str()
        ))
    })
}

pub(super) async fn copy_to(
    engine: &dyn ContainerEngine,
    container: &ContainerDetail,
    local: &Path,
    target: &ContainerTarget,
    options: &CopyOptions,
) -> Step {
    let caps = engine.container_capabilities(container);
    if let Some(skip) = precondition(caps.copy_to, "copy_to", container) {
        return Err(skip);
    }
    let (writer, rx) = ChannelWriter::pair();
    let (src, top) = (local.to_path_buf(), target.name.clone());
    let packer = tokio::task::spawn_blocking(move || super::pack::pack_into_channel(&src, &top, writer));
    let sent = engine.put_archive(&container.id, &target.parent, into_stream(rx)).await;
    let packed = packer.await.map_err(|e| Error::unexpected(format!("the packing thread failed: {e}")))?;
    // The engine's refusal first: the packer only saw its side go away.
    sent?;
    let (manifest, stats) = packed?;
    let verification = verify::verify_unpacked(engine, container, &target.parent, &manifest, options.verify).await?;
    Ok(Done { stats, verification })
}

pub(super) async fn copy_from(
    engine: &dyn ContainerEngine,
    container: &ContainerDetail,
    target: &ContainerTarget,
    local: &Path,
    options: &CopyOptions,
) -> Step {
    let caps = engine.container_capabilities(container);
    if let Some(skip) = precondition(caps.copy_from, "copy_from", container) {
        return Err(skip);
    }
    let mut stream = engine.get_archive(&container.id, &target.full).await?;
    let (parent, name) = paths::local_target(local)?;
    let mut unpacker = StreamUnpacker::start(parent.clone(), name.clone(), options.write_rules());
    while let Some(chunk) = stream.next().await {
        let failed = chunk.is_err();
        if !unpacker.push(chunk).await || failed {
            break;
        }
    }
    drop(stream);
    let writer = unpacker.finish().await?;
    let verification = if !options.verify {
        Verification::Skipped("verification disabled".into())
    } else if !caps.exec.is_supported() {
        Verification::Skipped("the engine cannot exec in this container".into())
    } else {
        let expected =
            expected_from_local(writer.files_written().to_vec(), parent.join(&name), target.full.clone()).await?;
        verify::verify(engine, &container.id, &expected).await?
    };
    Ok(Done { stats: writer.finish()?, verification })
}

/// `parent` + a relative path, as a container path string.
pub(super) fn join_container(parent: &str, rel: &Path) -> String {
    let parent = parent.trim_end_matches('/');
    format!("{parent}/{}", rel.display())
}
