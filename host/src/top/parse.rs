//! Parsing one process's `/proc/<pid>/{stat,status,cmdline}`, the same whether the host read them
//! or an exec inside did. Every input is attacker-controlled: a command name may hold spaces,
//! parentheses and newlines; nothing is trusted to be well formed, and a malformed process is
//! skipped rather than guessed.

use std::time::Duration;

use anyctr_core::model::{ProcessInfo, ProcessState};

/// Most bytes of a command line kept; the rest is cut and said.
pub const CMDLINE_CAP: usize = 4096;

/// Clock ticks per second of `stat`'s times: `USER_HZ`, 100 on every Linux ABI in use (the
/// kernel converts to it for userspace whatever its own `HZ`; gVisor reports the same unit).
const USER_HZ: u64 = 100;

/// What one process's files said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawProcess {
    pub pid_in_reader: u32,
    pub ppid_in_reader: u32,
    pub state: char,
    pub name: String,
    pub cpu_ticks: u64,
    pub start_ticks: u64,
    /// `NSpid:` fields, outermost (the reader's namespace) first.
    pub nspid: Vec<u32>,
    pub uid: Option<u32>,
    pub rss_bytes: Option<u64>,
    /// `SigIgn` and `SigCgt` masks.
    pub sig_ignored: u64,
    pub sig_caught: u64,
}

/// Parses `stat` (and `status`, when read): `None` for text that does not parse.
pub(crate) fn parse(stat: &[u8], status: &[u8]) -> Option<RawProcess> {
    // `pid (comm) state ppid …`: comm is cut at the LAST `)`, since it may contain one.
    let open = stat.iter().position(|b| *b == b'(')?;
    let close = stat.iter().rposition(|b| *b == b')')?;
    if close < open {
        return None;
    }
    let pid = std::str::from_utf8(&stat[..open]).ok()?.trim().parse().ok()?;
    let name = String::from_utf8_lossy(&stat[open + 1..close]).into_owned();
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // fields[0] is field 3 (state); field N is fields[N - 3].
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let state = fields.first()?.chars().next()?;
    let ppid = u32::try_from(field(4)?).ok()?;
    let cpu_ticks = field(14)?.saturating_add(field(15)?);
    let start_ticks = field(22)?;
    let mut raw = RawProcess {
        pid_in_reader: pid,
        ppid_in_reader: ppid,
        state,
        name,
        cpu_ticks,
        start_ticks,
        nspid: Vec::new(),
        uid: None,
        rss_bytes: None,
        sig_ignored: 0,
        sig_caught: 0,
    };
    for line in String::from_utf8_lossy(status).lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match key {
            "NSpid" => raw.nspid = value.split_ascii_whitespace().filter_map(|p| p.parse().ok()).collect(),
            "Uid" => raw.uid = value.split_ascii_whitespace().next().and_then(|u| u.parse().ok()),
            "VmRSS" => {
                raw.rss_bytes = value.strip_suffix("kB").and_then(|k| k.trim().parse::<u64>().ok()).map(|k| k * 1024)
            }
            "SigIgn" => raw.sig_ignored = u64::from_str_radix(value, 16).unwrap_or(0),
            "SigCgt" => raw.sig_caught = u64::from_str_radix(value, 16).unwrap_or(0),
            _ => {}
        }
    }
    Some(raw)
}

/// The arguments of a `cmdline` read with at most `CMDLINE_CAP + 1` bytes, and whether it was cut.
pub(crate) fn cmdline(bytes: &[u8]) -> (Vec<String>, bool) {
    let truncated = bytes.len() > CMDLINE_CAP;
    let bytes = &bytes[..bytes.len().min(CMDLINE_CAP)];
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return (Vec::new(), truncated);
    }
    (bytes.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect(), truncated)
}

/// The user names of a container's `/etc/passwd` (`name:x:uid:…`), uid → name, first wins.
pub(crate) fn passwd(text: &[u8]) -> std::collections::HashMap<u32, String> {
    let mut users = std::collections::HashMap::new();
    for line in String::from_utf8_lossy(text).lines() {
        let mut f = line.split(':');
        if let (Some(name), Some(_), Some(uid)) = (f.next(), f.next(), f.next())
            && let Ok(uid) = uid.parse()
        {
            users.entry(uid).or_insert_with(|| name.to_owned());
        }
    }
    users
}

/// Builds the process list from raw records read in one pid namespace. `in_container_pid` maps a
/// reader's pid to the container's; `host` says the reader's pids are host pids. Parents outside
/// the list (pid 1's shim) have no in-container pid.
pub(crate) fn build(
    raws: Vec<(RawProcess, Vec<String>, bool)>,
    host: bool,
    users: &std::collections::HashMap<u32, String>,
) -> Vec<ProcessInfo> {
    let inner = |r: &RawProcess| if host { r.nspid.last().copied() } else { Some(r.pid_in_reader) };
    let map: std::collections::HashMap<u32, u32> =
        raws.iter().filter_map(|(r, ..)| Some((r.pid_in_reader, inner(r)?))).collect();
    raws.into_iter()
        .filter_map(|(r, argv, cut)| {
            let pid = inner(&r)?;
            let mut p = ProcessInfo::new(pid, ProcessState::from_letter(r.state), r.name);
            p.host_pid = host.then_some(r.pid_in_reader);
            p.ppid = if pid == 1 { None } else { map.get(&r.ppid_in_reader).copied() };
            p.uid = r.uid;
            p.user = r.uid.and_then(|u| users.get(&u).cloned());
            p.cmdline = argv;
            p.cmdline_truncated = cut;
            p.rss_bytes = r.rss_bytes;
            p.cpu_time = Duration::from_millis(r.cpu_ticks.saturating_mul(1000 / USER_HZ));
            p.start_ticks = r.start_ticks;
            Some(p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tsleep\nState:\tS (sleeping)\nPPid:\t4000\nUid:\t1000\t1000\t1000\t1000\n\
                          NSpid:\t4242\t7\nVmRSS:\t     120 kB\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000010000\n";

    #[test]
    fn stat_with_a_hostile_name_and_status_parse() {
        let stat = b"4242 (a) b (c)) Z 4000 1 1 0 -1 4194560 0 0 0 0 250 50 0 0 20 0 1 0 98765 0 0 0";
        let r = parse(stat, STATUS.as_bytes()).unwrap();
        assert_eq!((r.pid_in_reader, r.ppid_in_reader, r.state), (4242, 4000, 'Z'));
        assert_eq!(r.name, "a) b (c)");
        assert_eq!((r.cpu_ticks, r.start_ticks), (300, 98765));
        assert_eq!(r.nspid, vec![4242, 7]);
        assert_eq!((r.uid, r.rss_bytes), (Some(1000), Some(120 * 1024)));
        assert_eq!(r.sig_caught & (1 << 16), 1 << 16, "SIGCHLD (17) is bit 16");
        assert_eq!(parse(b"garbage", b""), None);
        assert_eq!(parse(b"1 (x) S", b""), None, "too few fields");
        assert_eq!(parse(b"1 )x( S 0 0", b""), None);
    }

    #[test]
    fn cmdlines_split_cap_and_passwd() {
        assert_eq!(cmdline(b"sh\0-c\0sleep 1\0"), (vec!["sh".into(), "-c".into(), "sleep 1".into()], false));
        assert_eq!(cmdline(b""), (vec![], false));
        let long = vec![b'a'; CMDLINE_CAP + 1];
        let (argv, cut) = cmdline(&long);
        assert!(cut && argv[0].len() == CMDLINE_CAP);
        let users = passwd(b"root:x:0:0:root:/root:/bin/sh\nbad line\nnobody:x:65534:65534::/:/bin/false\n");
        assert_eq!(users.get(&65534).map(String::as_str), Some("nobody"));
        assert_eq!(users.len(), 2);
    }

    #[test]
    fn pids_and_parents_map_into_the_container() {
        let raw = |pid: u32, ppid: u32, ns: u32| {
            let stat = format!("{pid} (p) S {ppid} 0 0 0 0 0 0 0 0 0 1 1 0 0 0 0 0 0 5 0 0");
            let status = format!("NSpid:\t{pid}\t{ns}\nUid:\t0\t0\t0\t0\n");
            (parse(stat.as_bytes(), status.as_bytes()).unwrap(), vec![], false)
        };
        let users = passwd(b"root:x:0:0::/:/bin/sh\n");
        let list = build(vec![raw(100, 90, 1), raw(101, 100, 2)], true, &users);
        assert_eq!((list[0].pid, list[0].host_pid, list[0].ppid), (1, Some(100), None));
        assert_eq!((list[1].pid, list[1].ppid), (2, Some(1)));
        assert_eq!(list[1].user.as_deref(), Some("root"));
        assert_eq!(list[1].cpu_time, Duration::from_millis(20));
        // Read inside (a sandbox): the reader's pids are the container's.
        let inside = build(vec![raw(1, 0, 1), raw(5, 1, 5)], false, &users);
        assert_eq!((inside[1].pid, inside[1].host_pid, inside[1].ppid), (5, None, Some(1)));
    }
}
