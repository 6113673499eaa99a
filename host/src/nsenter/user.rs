//! Who the fast path runs a command as: `user`, `uid`, `user:group` or `uid:gid`, resolved against
//! the container's own `/etc/passwd` and `/etc/group` with runc's rules (the rules `docker exec -u`
//! follows), so both paths agree on the same spec.

use anyctr_core::error::{Error, ErrorKind, Result};

/// The credentials a command runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (set with `setgroups`; empty clears the agent's own).
    pub groups: Vec<u32>,
    /// The home directory from the passwd entry, for `HOME` when the env has none.
    pub home: Option<String>,
}

/// One `/etc/passwd` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// One `/etc/group` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Parses `/etc/passwd`; malformed lines are skipped (as libc does), not errors.
pub(super) fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_owned(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_owned(),
            })
        })
        .collect()
}

/// Parses `/etc/group`; malformed lines are skipped.
pub(super) fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 || f[0].is_empty() {
                return None;
            }
            let members = f[3].split(',').filter(|m| !m.is_empty()).map(str::to_owned).collect();
            Some(GroupEntry { name: f[0].to_owned(), gid: f[2].parse().ok()?, members })
        })
        .collect()
}

/// Resolves a user spec with runc's `GetExecUser` rules:
/// - a name must exist in passwd; a numeric uid need not (then gid 0 and home `/`);
/// - an explicit group (name or number) sets the gid and no supplementary groups;
/// - without one, the gid comes from the passwd entry and the supplementary groups are the
///   groups that list the user by name.
pub(super) fn resolve(spec: &str, passwd: &[PasswdEntry], groups: &[GroupEntry]) -> Result<Credentials> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user_part.is_empty() || group_part.is_some_and(str::is_empty) {
        return Err(Error::invalid_argument(format!("exec user {spec:?} is not user[:group]")));
    }
    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|e| e.uid == uid).cloned().map(Ok).unwrap_or(Err(uid)),
        Err(_) => Ok(passwd.iter().find(|e| e.name == user_part).cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("user `{user_part}` not found in the container (no such name in its /etc/passwd)"),
            )
        })?),
    };
    let (uid, passwd_gid, name, home) = match entry {
        Ok(e) => (e.uid, e.gid, Some(e.name), e.home),
        Err(uid) => (uid, 0, None, "/".to_owned()),
    };
    let (gid, supplementary) = match group_part {
        Some(g) => {
            let gid = match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => groups.iter().find(|e| e.name == g).map(|e| e.gid).ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        format!("group `{g}` not found in the container (no such name in its /etc/group)"),
                    )
                })?,
            };
            (gid, Vec::new())
        }
        None => {
            let member_of = |e: &&GroupEntry| name.as_ref().is_some_and(|n| e.members.iter().any(|m| m == n));
            (passwd_gid, groups.iter().filter(member_of).map(|e| e.gid).collect())
        }
    };
    Ok(Credentials { uid, gid, groups: supplementary, home: Some(home) })
}

/// The credentials of a running process from its `/proc/<pid>/status` (effective ids and the
/// `Groups:` line): what the fast path runs as when the request names no user, so it matches the
/// container's configured user without knowing how each engine reports it.
pub(super) fn from_status(status: &str) -> Result<Credentials> {
    let field = |key: &str| status.lines().find_map(|l| l.strip_prefix(key)).map(str::trim);
    let effective = |key: &str| -> Result<u32> {
        field(key)
            .and_then(|v| v.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::unexpected(format!("no {key} line in the init's /proc status")))
    };
    let groups = field("Groups:").unwrap_or("").split_whitespace().filter_map(|g| g.parse().ok()).collect();
    Ok(Credentials { uid: effective("Uid:")?, gid: effective("Gid:")?, groups, home: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\n\
        daemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n\
        app:x:1000:1000::/srv/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\nnogroup:x:65534:\napp:x:1000:\nextra:x:2000:app\n";

    fn go(spec: &str) -> Result<Credentials> {
        resolve(spec, &parse_passwd(PASSWD), &parse_group(GROUP))
    }

    #[test]
    fn names_and_numbers_follow_runc() {
        let c = go("app").unwrap();
        assert_eq!((c.uid, c.gid, c.groups.clone(), c.home.as_deref()), (1000, 1000, vec![10, 2000], Some("/srv/app")));
        assert_eq!(go("1000").unwrap(), c, "a known uid is the same user");
        let c = go("4242").unwrap();
        assert_eq!((c.uid, c.gid, c.groups.len(), c.home.as_deref()), (4242, 0, 0, Some("/")));
        let c = go("nobody:nogroup").unwrap();
        assert_eq!((c.uid, c.gid, c.groups.len()), (65534, 65534, 0));
        let c = go("app:5").unwrap();
        assert_eq!((c.uid, c.gid), (1000, 5));
        assert!(c.groups.is_empty(), "an explicit group drops supplementary groups");
        let c = go("123:456").unwrap();
        assert_eq!((c.uid, c.gid), (123, 456));
    }

    #[test]
    fn unknown_names_and_bad_specs_fail() {
        assert_eq!(go("ghost").unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(go("app:ghosts").unwrap_err().kind(), ErrorKind::NotFound);
        for bad in ["", ":", "app:", ":10"] {
            assert_eq!(go(bad).unwrap_err().kind(), ErrorKind::InvalidArgument, "{bad:?}");
        }
    }

    #[test]
    fn status_gives_effective_ids_and_groups() {
        let status = "Name:\tsleep\nUid:\t1\t1000\t1000\t1000\nGid:\t2\t2000\t2000\t2000\nGroups:\t10 20 \n";
        let c = from_status(status).unwrap();
        assert_eq!((c.uid, c.gid, c.groups), (1000, 2000, vec![10, 20]));
        assert!(from_status("Name:\tx\n").is_err());
    }
}
