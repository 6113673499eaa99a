//! The rest of the lifecycle on pouchd 1.3.0: pause, unpause, restart and resource updates, as
//! recorded live (`tests/fixtures/pouch-1.3.0/container-{pause,unpause,restart,update-memory}.json`).
//! Image pull and remove are not claimed: no exchange of them is recorded.

use std::time::Duration;

use anyctr_core::Result;
use anyctr_core::model::ResourceUpdate;
use http::Method;

use crate::client::{self, Client};

fn path(id: &str, action: &str) -> String {
    format!("/containers/{}/{action}", client::encode_segment(id))
}

/// `POST /containers/{id}/pause` or `/unpause` (204).
pub async fn pause(client: &Client, id: &str, resume: bool) -> Result<()> {
    let action = if resume { "unpause" } else { "pause" };
    client.call_bytes(Method::POST, &path(id, action), client::empty()).await.map(|_| ())
}

/// `POST /containers/{id}/restart?t=N`: whole seconds, at least 1 (pouchd takes `t=0` for its
/// default 10 s, as with stop). pouchd answers after the stop half, so the grace adds to the bound.
pub async fn restart(client: &Client, id: &str, grace: Duration) -> Result<()> {
    let secs = (grace.as_secs_f64().ceil() as u64).max(1);
    let target = format!("{}?t={secs}", path(id, "restart"));
    let limit = client.call_timeout() + Duration::from_secs(secs);
    let call = client.call_bytes(Method::POST, &target, client::empty());
    tokio::time::timeout(limit, call).await.map_err(|_| anyctr_core::Error::timeout("pouchd call", limit))?.map(|_| ())
}

/// The update body: only what changes. Unlike dockerd, pouchd raises the memory+swap limit with
/// the memory limit on its own (recorded: `Memory` alone, `MemorySwap` followed).
pub fn update_body(update: &ResourceUpdate) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    let fields = [
        ("CpuShares", update.cpu_shares.map(|v| v as i64)),
        ("CpuQuota", update.cpu_quota),
        ("CpuPeriod", update.cpu_period.map(|v| v as i64)),
        ("Memory", update.memory_limit.map(|v| v as i64)),
    ];
    for (key, value) in fields {
        if let Some(v) = value {
            body.insert(key.to_owned(), v.into());
        }
    }
    body.into()
}

/// `POST /containers/{id}/update` (200, empty body).
pub async fn update_resources(client: &Client, id: &str, update: &ResourceUpdate) -> Result<()> {
    update.validate()?;
    let body = client::json_body(&update_body(update));
    client.call_bytes(Method::POST, &path(id, "update"), body).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_body_is_what_pouchd_was_sent() {
        let body = update_body(&ResourceUpdate::new().memory_limit(134_217_728));
        assert_eq!(body.to_string(), r#"{"Memory":134217728}"#);
        let cpu = update_body(&ResourceUpdate::new().cpu_shares(512).cpu_quota(50_000, 100_000));
        assert_eq!(cpu, serde_json::json!({"CpuShares": 512, "CpuQuota": 50000, "CpuPeriod": 100000}));
    }
}
