//! Resource limits changed on a running container ([`ContainerEngine::update_resources`](crate::ContainerEngine::update_resources)).

use crate::error::{Error, Result};

/// The smallest memory limit engines accept (dockerd refuses less than 6 MiB).
pub const MIN_MEMORY_LIMIT: u64 = 6 << 20;

/// The largest memory limit: every engine's wire carries it as a signed 64-bit number.
pub const MAX_MEMORY_LIMIT: u64 = i64::MAX as u64;

/// Refuses a memory limit no engine accepts, whether asked at creation
/// ([`CreateSpec::memory_limit`](crate::model::CreateSpec::memory_limit)) or as an update
/// ([`ResourceUpdate::memory_limit`]): `InvalidArgument` outside
/// [`MIN_MEMORY_LIMIT`]`..=`[`MAX_MEMORY_LIMIT`] bytes.
pub fn check_memory_limit(bytes: u64) -> Result<()> {
    if (MIN_MEMORY_LIMIT..=MAX_MEMORY_LIMIT).contains(&bytes) {
        Ok(())
    } else {
        Err(Error::invalid_argument(format!(
            "memory limit {bytes} is outside {MIN_MEMORY_LIMIT}..={MAX_MEMORY_LIMIT} bytes"
        )))
    }
}

/// What to change: `ResourceUpdate::new()` then [`cpu_shares`](Self::cpu_shares),
/// [`cpu_quota`](Self::cpu_quota) and [`memory_limit`](Self::memory_limit). A field left `None`
/// is left as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceUpdate {
    /// Relative CPU weight (cgroup v1 `cpu.shares`, 2..=262144; engines map it to v2's weight).
    pub cpu_shares: Option<u64>,
    /// CPU time the container may use per period, in microseconds (CFS quota, ≥ 1000).
    pub cpu_quota: Option<i64>,
    /// The CFS period in microseconds (1000..=1000000).
    pub cpu_period: Option<u64>,
    /// The memory limit in bytes ([`MIN_MEMORY_LIMIT`]`..=`[`MAX_MEMORY_LIMIT`]).
    pub memory_limit: Option<u64>,
}

impl ResourceUpdate {
    /// Changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the CPU shares.
    pub fn cpu_shares(mut self, shares: u64) -> Self {
        self.cpu_shares = Some(shares);
        self
    }

    /// Sets the CFS quota and period, both in microseconds (quota 50000 of period 100000 is half a CPU).
    pub fn cpu_quota(mut self, quota_us: i64, period_us: u64) -> Self {
        self.cpu_quota = Some(quota_us);
        self.cpu_period = Some(period_us);
        self
    }

    /// Sets the memory limit in bytes.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.cpu_shares.is_none()
            && self.cpu_quota.is_none()
            && self.cpu_period.is_none()
            && self.memory_limit.is_none()
    }

    /// Refuses an empty update and values no engine accepts, before anything changes.
    pub fn validate(&self) -> Result<()> {
        if self.is_empty() {
            return Err(Error::invalid_argument("a resource update must change something"));
        }
        if let Some(s) = self.cpu_shares
            && !(2..=262_144).contains(&s)
        {
            return Err(Error::invalid_argument(format!("cpu shares {s} is outside 2..=262144")));
        }
        if let Some(q) = self.cpu_quota
            && q < 1000
        {
            return Err(Error::invalid_argument(format!("cpu quota {q} µs is below 1000 µs")));
        }
        if let Some(p) = self.cpu_period
            && !(1000..=1_000_000).contains(&p)
        {
            return Err(Error::invalid_argument(format!("cpu period {p} µs is outside 1000..=1000000 µs")));
        }
        self.memory_limit.map_or(Ok(()), check_memory_limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn builder_sets_fields_and_validates() {
        let u = ResourceUpdate::new().cpu_shares(512).cpu_quota(50_000, 100_000).memory_limit(64 << 20);
        assert_eq!(u.cpu_shares, Some(512));
        assert_eq!((u.cpu_quota, u.cpu_period), (Some(50_000), Some(100_000)));
        assert_eq!(u.memory_limit, Some(64 << 20));
        u.validate().unwrap();
    }

    #[test]
    fn memory_limits_have_one_range() {
        assert!(check_memory_limit(MIN_MEMORY_LIMIT).is_ok());
        assert!(check_memory_limit(MAX_MEMORY_LIMIT).is_ok());
        for bad in [0, MIN_MEMORY_LIMIT - 1, MAX_MEMORY_LIMIT + 1, u64::MAX] {
            assert_eq!(check_memory_limit(bad).unwrap_err().kind(), ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn bad_updates_are_refused() {
        let bad = [
            ResourceUpdate::new(),
            ResourceUpdate::new().cpu_shares(1),
            ResourceUpdate::new().cpu_quota(999, 100_000),
            ResourceUpdate::new().cpu_quota(50_000, 999),
            ResourceUpdate::new().memory_limit(1 << 20),
            // Beyond i64: an engine's wire would carry it as a negative number.
            ResourceUpdate::new().memory_limit(u64::MAX),
        ];
        for u in bad {
            assert_eq!(u.validate().unwrap_err().kind(), ErrorKind::InvalidArgument, "{u:?}");
        }
    }
}
