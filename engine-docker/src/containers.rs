//! list and inspect. Lookup by full id, unique id prefix or name is docker's own (same order as
//! anyctr's `resolve_container`: id, then name, then prefix); its answers are mapped so an ambiguous
//! prefix is `InvalidArgument` and an unknown one `NotFound`.

use anyctr_core::model::{ContainerDetail, ContainerSummary};
use anyctr_core::{Error, ErrorKind, ListOptions, Result};
use serde_json::Value;

use anyctr_docker_api::encode;

use crate::client::{Client, container_ref};
use crate::convert;

pub(crate) async fn list(client: &Client, options: &ListOptions) -> Result<Vec<ContainerSummary>> {
    let mut path = String::from("/containers/json");
    let mut params = Vec::new();
    if options.all {
        params.push("all=1".to_owned());
    }
    if !options.labels.is_empty() {
        let labels: Vec<String> = options
            .labels
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect();
        let filters = serde_json::json!({ "label": labels }).to_string();
        params.push(format!("filters={}", encode::component(&filters)));
    }
    if !params.is_empty() {
        path = format!("{path}?{}", params.join("&"));
    }
    let list = client.get_json("list", &path).await?;
    let mut summaries = convert::container_summaries(&list)?;
    // Docker filters by label itself; this keeps the contract even if a daemon ignores the filter.
    summaries.retain(|c| options.matches_labels(&c.labels));
    Ok(summaries)
}

/// The raw inspect JSON of a container named by id, id prefix or name.
pub(crate) async fn inspect_raw(client: &Client, query: &str) -> Result<Value> {
    let name = container_ref(query)?;
    let value = client.get_json("inspect", &format!("/containers/{name}/json")).await.map_err(|e| match e.kind() {
        ErrorKind::NotFound => {
            Error::not_found(format!("no container with id, id prefix or name {name:?}")).with_source(e)
        }
        ErrorKind::InvalidArgument => {
            Error::invalid_argument(format!("{name:?} is ambiguous: it is a prefix of several container ids"))
                .with_source(e)
        }
        _ => e,
    });
    let mut value = value.map_err(|e| e.in_context(crate::client::ENGINE, "inspect").with_container(query))?;
    if let Some(amend) = &client.compat.amend_inspect {
        amend
            .amend(&mut value)
            .await
            .map_err(|e| e.in_context(crate::client::ENGINE, "inspect").with_container(query))?;
    }
    Ok(value)
}

pub(crate) async fn inspect(client: &Client, query: &str) -> Result<ContainerDetail> {
    let raw = inspect_raw(client, query).await?;
    convert::container_detail(raw).map_err(|e| e.with_operation("inspect").with_container(query))
}
