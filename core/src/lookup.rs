//! Container lookup by full id, unique id prefix or name, shared by engines whose daemon does not
//! resolve prefixes itself (or resolves them differently).

use crate::error::{Error, Result};
use crate::model::ContainerSummary;

/// Finds the container `query` names among `candidates`: an exact id or name wins; otherwise a
/// unique id prefix. An ambiguous prefix is `InvalidArgument` listing the matches; no match is
/// `NotFound`; an empty query is `InvalidArgument`.
pub fn resolve_container<'a>(query: &str, candidates: &'a [ContainerSummary]) -> Result<&'a ContainerSummary> {
    let q = query.trim().trim_start_matches('/');
    if q.is_empty() {
        return Err(Error::invalid_argument("empty container id or name"));
    }
    if let Some(c) = candidates.iter().find(|c| c.id == q) {
        return Ok(c);
    }
    let named: Vec<_> = candidates.iter().filter(|c| c.names.iter().any(|n| n == q)).collect();
    match named.as_slice() {
        [one] => return Ok(one),
        [] => {}
        many => {
            return Err(ambiguous(q, many));
        }
    }
    let prefixed: Vec<_> = candidates.iter().filter(|c| c.id.starts_with(q)).collect();
    match prefixed.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::not_found(format!("no container with id, id prefix or name {q:?}")).with_container(q)),
        many => Err(ambiguous(q, many)),
    }
}

fn ambiguous(query: &str, matches: &[&ContainerSummary]) -> Error {
    let ids: Vec<&str> = matches.iter().map(|c| c.short_id()).collect();
    Error::invalid_argument(format!("{query:?} is ambiguous: it matches {} containers ({})", ids.len(), ids.join(", ")))
        .with_container(query)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::model::ContainerStatus;

    fn c(id: &str, name: &str) -> ContainerSummary {
        ContainerSummary {
            id: id.into(),
            names: vec![name.into()],
            image: "busybox".into(),
            labels: Default::default(),
            status: ContainerStatus::Running,
            created: None,
            namespace: None,
            runtime: None,
        }
    }

    #[test]
    fn lookup_table() {
        let all = [c("abc111", "web"), c("abc222", "db"), c("def333", "abc")];
        assert_eq!(resolve_container("abc111", &all).unwrap().id, "abc111");
        assert_eq!(resolve_container("/web", &all).unwrap().id, "abc111");
        assert_eq!(resolve_container("abc2", &all).unwrap().id, "abc222");
        // a name wins over an id prefix
        assert_eq!(resolve_container("abc", &all).unwrap().id, "def333");
        assert_eq!(resolve_container("ab", &all).unwrap_err().kind(), ErrorKind::InvalidArgument);
        assert_eq!(resolve_container("zzz", &all).unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(resolve_container(" ", &all).unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
}
