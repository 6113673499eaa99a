//! Exec users. containerd takes numeric ids only, so `user`, `user:group`, `uid` and `uid:gid`
//! are resolved here against the container's `/etc/passwd` and `/etc/group` (as Docker does:
//! a uid alone takes the primary group of its passwd entry, else 0). Numeric ids never need the
//! files; names do, and a name that is not there is `NotFound` (as on docker).

use anyctr_core::{Error, Result};

/// The ids an exec runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// The parts of a `user[:group]` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub user: String,
    pub group: Option<String>,
}

impl UserSpec {
    pub fn parse(spec: &str) -> Result<Self> {
        let spec = spec.trim();
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        if user.is_empty() || group.is_some_and(str::is_empty) {
            return Err(Error::invalid_argument(format!("bad exec user {spec:?}: expected user[:group]")));
        }
        Ok(UserSpec { user: user.to_owned(), group: group.map(str::to_owned) })
    }

    /// Whether resolving needs `/etc/passwd` or `/etc/group` (a name somewhere, or a uid alone
    /// whose primary group comes from passwd).
    pub fn needs_files(&self) -> bool {
        self.user.parse::<u32>().is_err() || self.group.as_deref().is_none_or(|g| g.parse::<u32>().is_err())
    }

    /// Resolves against the container's files (`None` when they could not be read).
    pub fn resolve(&self, passwd: Option<&str>, group: Option<&str>) -> Result<ResolvedUser> {
        let entry = |text: Option<&str>, want: &dyn Fn(&[&str]) -> bool| {
            text.and_then(|t| t.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.len() >= 4 && want(f)))
                .map(|f| f.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        let (uid, primary_gid, name) = match self.user.parse::<u32>() {
            Ok(uid) => {
                let e = entry(passwd, &|f| f[2].parse() == Ok(uid));
                (uid, e.as_ref().and_then(|f| f[3].parse().ok()).unwrap_or(0), e.map(|f| f[0].clone()))
            }
            Err(_) => {
                let e = entry(passwd, &|f| f[0] == self.user).ok_or_else(|| {
                    Error::not_found(format!("no user {:?} in the container's /etc/passwd", self.user))
                })?;
                let uid = e[2]
                    .parse()
                    .map_err(|_| Error::invalid_argument(format!("bad passwd entry for {:?}", self.user)))?;
                (uid, e[3].parse().unwrap_or(0), Some(self.user.clone()))
            }
        };
        let gid = match &self.group {
            None => primary_gid,
            Some(g) => match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => entry(group, &|f| f[0] == g.as_str())
                    .and_then(|f| f[2].parse().ok())
                    .ok_or_else(|| Error::not_found(format!("no group {g:?} in the container's /etc/group")))?,
            },
        };
        // Supplementary groups: those listing the user by name, as login would set them.
        let mut additional_gids = vec![gid];
        if let (Some(name), Some(text)) = (name, group) {
            for f in text.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() >= 4) {
                if f[3].split(',').any(|m| m == name)
                    && let Ok(g) = f[2].parse::<u32>()
                    && !additional_gids.contains(&g)
                {
                    additional_gids.push(g);
                }
            }
        }
        Ok(ResolvedUser { uid, gid, additional_gids })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyctr_core::ErrorKind;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\napp:x:1000:1001::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\napp:x:1001:\nwheel:x:10:root,app\n";

    fn resolve(spec: &str) -> Result<ResolvedUser> {
        UserSpec::parse(spec)?.resolve(Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn resolution_table() {
        let ok = [
            ("0", 0, 0),
            ("root", 0, 0),
            ("nobody", 65534, 65534),
            ("app", 1000, 1001),
            ("1000", 1000, 1001),
            ("4242", 4242, 0),
            ("4242:77", 4242, 77),
            ("app:daemon", 1000, 1),
            ("nobody:0", 65534, 0),
        ];
        for (spec, uid, gid) in ok {
            let r = resolve(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!((r.uid, r.gid), (uid, gid), "{spec}");
        }
        assert_eq!(resolve("app").unwrap().additional_gids, vec![1001, 10]);
        for bad in ["", ":1", "1:"] {
            assert_eq!(resolve(bad).unwrap_err().kind(), ErrorKind::InvalidArgument, "{bad}");
        }
        for missing in ["nosuch", "app:nosuch"] {
            assert_eq!(resolve(missing).unwrap_err().kind(), ErrorKind::NotFound, "{missing}");
        }
    }

    #[test]
    fn numeric_ids_work_without_files() {
        let r = UserSpec::parse("123:456").unwrap();
        assert!(!r.needs_files());
        assert_eq!(r.resolve(None, None).unwrap(), ResolvedUser { uid: 123, gid: 456, additional_gids: vec![456] });
        let uid_only = UserSpec::parse("123").unwrap();
        assert!(uid_only.needs_files());
        assert_eq!(uid_only.resolve(None, None).unwrap().gid, 0);
        assert!(UserSpec::parse("app").unwrap().resolve(None, None).is_err());
    }
}
