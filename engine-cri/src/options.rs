//! What a `cri://` address may say besides the socket: `event_poll_ms` (how often the polled
//! event stream lists containers, default [`DEFAULT_EVENT_POLL`]) and `api` (`v1` or
//! `v1alpha2`: the RuntimeService version to speak without asking; by default v1, and
//! v1alpha2 when the runtime answers v1 with `Unimplemented`).

use std::time::Duration;

use anyctr_core::{EngineAddress, Error, Result};

use crate::api::ApiVersion;
pub use crate::events::DEFAULT_EVENT_POLL;

/// The CRI engine's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriOptions {
    /// How often the event stream polls (at least 10 ms).
    pub event_poll: Duration,
    /// The API version to use without negotiating; `None` negotiates.
    pub api: Option<ApiVersion>,
}

impl Default for CriOptions {
    fn default() -> Self {
        CriOptions { event_poll: DEFAULT_EVENT_POLL, api: None }
    }
}

impl CriOptions {
    /// Options from an address's parameters; a bad value is `InvalidArgument`.
    pub fn from_address(address: &EngineAddress) -> Result<Self> {
        let mut options = CriOptions::default();
        if let Some(ms) = address.param("event_poll_ms") {
            let ms: u64 = ms.parse().ok().filter(|ms| *ms >= 10).ok_or_else(|| {
                Error::invalid_argument(format!("event_poll_ms={ms:?}: want milliseconds, at least 10"))
            })?;
            options.event_poll = Duration::from_millis(ms);
        }
        options.api = match address.param("api") {
            None => None,
            Some("v1") => Some(ApiVersion::V1),
            Some("v1alpha2") => Some(ApiVersion::V1alpha2),
            Some(other) => return Err(Error::invalid_argument(format!("api={other:?}: want v1 or v1alpha2"))),
        };
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(address: &str) -> Result<CriOptions> {
        CriOptions::from_address(&EngineAddress::parse(address).unwrap())
    }

    #[test]
    fn address_parameters() {
        assert_eq!(of("cri:///run/crio/crio.sock").unwrap(), CriOptions::default());
        let o = of("cri:///run/x.sock?event_poll_ms=250&api=v1alpha2").unwrap();
        assert_eq!((o.event_poll, o.api), (Duration::from_millis(250), Some(ApiVersion::V1alpha2)));
        assert_eq!(of("cri:///x.sock?api=v1").unwrap().api, Some(ApiVersion::V1));
        for bad in ["cri:///x.sock?event_poll_ms=1", "cri:///x.sock?event_poll_ms=soon", "cri:///x.sock?api=v2"] {
            assert_eq!(of(bad).unwrap_err().kind(), anyctr_core::ErrorKind::InvalidArgument, "{bad}");
        }
    }
}
