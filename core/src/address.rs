//! Engine addresses: `docker:///var/run/docker.sock`,
//! `containerd:///run/containerd/containerd.sock?namespace=k8s.io`, `unix:///…`, a bare socket path.
//! Parsing is pure (no I/O), so it is tested with a case table.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A parsed engine address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineAddress {
    /// The engine the address names (`docker`, `containerd`, …), lower-cased; `None` for
    /// `unix://…` and bare paths, which leave the choice to probing.
    pub engine: Option<String>,
    /// The socket; `None` means the engine's default sockets.
    pub socket: Option<PathBuf>,
    /// Query parameters in order (`namespace=k8s.io`, `state_dir=…`), percent-decoded.
    pub params: Vec<(String, String)>,
}

impl EngineAddress {
    /// An address for `engine` on `socket`.
    pub fn new(engine: &str, socket: impl Into<PathBuf>) -> Self {
        EngineAddress { engine: Some(engine.to_ascii_lowercase()), socket: Some(socket.into()), params: Vec::new() }
    }

    /// Parses an address. Accepted forms:
    /// - `ENGINE:///abs/path.sock[?k=v&…]` and `ENGINE+unix:///abs/path.sock[?…]`
    /// - `ENGINE://` (the engine's default sockets)
    /// - `unix:///abs/path.sock[?…]` and `/abs/path.sock` (engine chosen by probing)
    ///
    /// Anything else (TCP, a relative path, a host part, a bad escape) is `InvalidArgument`.
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.trim();
        if s.is_empty() {
            return Err(Error::invalid_argument("empty engine address"));
        }
        if s.starts_with('/') {
            let (path, params) = split_query(s)?;
            return Ok(EngineAddress { engine: None, socket: Some(socket_path(path, input)?), params });
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(Error::invalid_argument(format!(
                "engine address {input:?} is neither SCHEME://PATH nor an absolute socket path"
            )));
        };
        let scheme = scheme.to_ascii_lowercase();
        let (engine, transport) = match scheme.split_once('+') {
            Some((e, t)) => (Some(e.to_owned()), t.to_owned()),
            None if scheme == "unix" => (None, "unix".to_owned()),
            None => (Some(scheme.clone()), "unix".to_owned()),
        };
        if transport != "unix" {
            return Err(Error::invalid_argument(format!(
                "engine address {input:?}: transport {transport:?} is not supported (only unix sockets)"
            )));
        }
        if let Some(e) = &engine
            && (e.is_empty() || !e.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(Error::invalid_argument(format!("engine address {input:?}: bad engine name {e:?}")));
        }
        if matches!(engine.as_deref(), Some("tcp" | "http" | "https" | "ssh" | "npipe")) {
            return Err(Error::invalid_argument(format!(
                "engine address {input:?}: only unix sockets are supported, not {scheme}"
            )));
        }
        let (path, params) = split_query(rest)?;
        let socket = match path {
            "" => None,
            p if p.starts_with('/') => Some(socket_path(p, input)?),
            p => {
                return Err(Error::invalid_argument(format!(
                    "engine address {input:?}: expected an absolute socket path after `://`, found {p:?} \
                     (a host part is not supported; write {scheme}:///abs/path)"
                )));
            }
        };
        if engine.is_none() && socket.is_none() {
            return Err(Error::invalid_argument(format!(
                "engine address {input:?} names neither an engine nor a socket"
            )));
        }
        Ok(EngineAddress { engine, socket, params })
    }

    /// The first value of a query parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter, comma-separated values split (`namespace=a,b&namespace=c`).
    pub fn param_list(&self, key: &str) -> Vec<String> {
        self.params
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Adds a parameter.
    pub fn with_param(mut self, key: &str, value: &str) -> Self {
        self.params.push((key.to_owned(), value.to_owned()));
        self
    }
}

impl fmt::Display for EngineAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.engine {
            Some(e) => write!(f, "{e}://")?,
            None => f.write_str("unix://")?,
        }
        if let Some(s) = &self.socket {
            write!(f, "{}", s.display())?;
        }
        for (i, (k, v)) in self.params.iter().enumerate() {
            write!(f, "{}{}={}", if i == 0 { '?' } else { '&' }, escape(k), escape(v))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for EngineAddress {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

fn socket_path(path: &str, input: &str) -> Result<PathBuf> {
    let decoded = percent_decode(path, input)?;
    let p = Path::new(&decoded);
    if p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(Error::invalid_argument(format!("engine address {input:?}: `..` is not allowed in a socket path")));
    }
    Ok(p.to_path_buf())
}

fn split_query(s: &str) -> Result<(&str, Vec<(String, String)>)> {
    let Some((path, query)) = s.split_once('?') else {
        return Ok((s, Vec::new()));
    };
    let mut params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k, s)?;
        if k.is_empty() {
            return Err(Error::invalid_argument(format!("engine address {s:?}: empty parameter name")));
        }
        params.push((k, percent_decode(v, s)?));
    }
    Ok((path, params))
}

fn percent_decode(s: &str, input: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(b) = hex else {
                return Err(Error::invalid_argument(format!("engine address {input:?}: bad %-escape")));
            };
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::invalid_argument(format!("engine address {input:?} is not UTF-8")))
}

fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'&' | b'=' | b'%' | b'?' | b'#' | b' ' => format!("%{b:02X}"),
            _ => (b as char).to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn parse_table() {
        type Case = (&'static str, Option<&'static str>, Option<&'static str>, &'static [(&'static str, &'static str)]);
        let ok: &[Case] = &[
            ("docker:///var/run/docker.sock", Some("docker"), Some("/var/run/docker.sock"), &[]),
            ("DOCKER:///var/run/docker.sock", Some("docker"), Some("/var/run/docker.sock"), &[]),
            ("docker+unix:///var/run/docker.sock", Some("docker"), Some("/var/run/docker.sock"), &[]),
            (
                "containerd:///run/containerd/containerd.sock?namespace=k8s.io",
                Some("containerd"),
                Some("/run/containerd/containerd.sock"),
                &[("namespace", "k8s.io")],
            ),
            (
                "containerd:///run/k3s/containerd/containerd.sock?namespace=k8s.io&namespace=moby&state_dir=/run/k3s/containerd",
                Some("containerd"),
                Some("/run/k3s/containerd/containerd.sock"),
                &[("namespace", "k8s.io"), ("namespace", "moby"), ("state_dir", "/run/k3s/containerd")],
            ),
            ("pouch:///var/run/pouchd.sock", Some("pouch"), Some("/var/run/pouchd.sock"), &[]),
            ("rund:///run/containerd/containerd.sock", Some("rund"), Some("/run/containerd/containerd.sock"), &[]),
            ("docker://", Some("docker"), None, &[]),
            ("containerd://?namespace=moby", Some("containerd"), None, &[("namespace", "moby")]),
            ("unix:///var/run/docker.sock", None, Some("/var/run/docker.sock"), &[]),
            ("/run/containerd/containerd.sock", None, Some("/run/containerd/containerd.sock"), &[]),
            ("docker:///tmp/a%20b.sock", Some("docker"), Some("/tmp/a b.sock"), &[]),
            ("  docker:///x.sock  ", Some("docker"), Some("/x.sock"), &[]),
        ];
        for (input, engine, socket, params) in ok {
            let a = EngineAddress::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(a.engine.as_deref(), *engine, "{input}");
            assert_eq!(a.socket.as_deref(), socket.map(Path::new), "{input}");
            let got: Vec<(&str, &str)> = a.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert_eq!(got.as_slice(), *params, "{input}");
            // Display round-trips.
            assert_eq!(EngineAddress::parse(&a.to_string()).unwrap(), a, "{input}");
        }
        let bad = [
            "",
            "docker",
            "relative/path.sock",
            "tcp://127.0.0.1:2375",
            "docker+tcp://127.0.0.1:2375",
            "docker://host/var/run/docker.sock",
            "docker://relative.sock",
            "unix://",
            "do cker:///x",
            "docker:///x/../y.sock",
            "docker:///x%zz",
            "docker:///x?=v",
        ];
        for input in bad {
            let e = EngineAddress::parse(input).expect_err(input);
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{input}");
        }
    }

    #[test]
    fn param_list_splits_commas() {
        let a = EngineAddress::parse("containerd://?namespace=k8s.io,moby&namespace=default").unwrap();
        assert_eq!(a.param_list("namespace"), ["k8s.io", "moby", "default"]);
        assert_eq!(a.param("namespace"), Some("k8s.io,moby"));
        assert_eq!(a.param("nope"), None);
    }
}
