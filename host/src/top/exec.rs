//! A sandboxed container's processes, read by an exec inside: a small `sh` script dumps each
//! `/proc/<pid>/{stat,status,cmdline}` and `/etc/passwd` **hex-encoded** (`od`), one line per
//! process, so no command name or argument can forge a line or a field. The script's own
//! processes (its shell and everything below it) are left out. Needs `sh`, `od`, `tr` and
//! `head` in the image (busybox has them); a missing one is the exec's error.

use std::collections::HashSet;
use std::time::Duration;

use anyctr_core::model::ExecRequest;
use anyctr_core::{ContainerEngine, Error, Result};

use super::host_proc::PASSWD_CAP;
use super::parse::{self, CMDLINE_CAP};
use super::{Sample, unhex};

/// Most processes an exec lists (each costs the script a few forks).
pub const MAX_EXEC_PROCESSES: usize = 4096;
const OUTPUT_LIMIT: usize = 64 << 20;
const TIMEOUT: Duration = Duration::from_secs(60);

fn script() -> String {
    format!(
        r#"echo "S $$"
cd /proc || exit 97
n=0
for p in [0-9]*; do
  n=$((n+1)); if [ $n -gt {max} ]; then echo T; break; fi
  s=$(od -An -v -tx1 "$p/stat" 2>/dev/null | tr -d ' \n')
  [ -n "$s" ] || continue
  t=$(od -An -v -tx1 "$p/status" 2>/dev/null | tr -d ' \n')
  c=$(head -c {cmd} "$p/cmdline" 2>/dev/null | od -An -v -tx1 | tr -d ' \n')
  echo "P $p x$s x$t x$c"
done
echo "U x$(head -c {passwd} /etc/passwd 2>/dev/null | od -An -v -tx1 | tr -d ' \n')"
"#,
        max = MAX_EXEC_PROCESSES,
        cmd = CMDLINE_CAP + 1,
        passwd = PASSWD_CAP,
    )
}

/// Runs the script in `container` and parses its answer.
pub(crate) async fn read(engine: &dyn ContainerEngine, container: &str) -> Result<Sample> {
    let request = ExecRequest::shell(script()).timeout(TIMEOUT).output_limit(OUTPUT_LIMIT);
    let result = engine.exec(container, request).await?;
    if result.exit_code != 0 || result.stdout_truncated {
        let (_, stderr) = result.sample(300);
        return Err(Error::unexpected(format!(
            "reading /proc inside the container by exec: exit code {}, output cut: {}, stderr: {stderr}",
            result.exit_code, result.stdout_truncated
        )));
    }
    parse_output(&result.stdout)
}

fn parse_output(out: &[u8]) -> Result<Sample> {
    let text = std::str::from_utf8(out).map_err(|_| Error::unexpected("the /proc listing is not ASCII"))?;
    let bad = |line: &str| Error::unexpected(format!("unexpected line in the /proc listing: {:.80}", line));
    let (mut me, mut truncated, mut users) = (None, false, Default::default());
    let mut raws = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields[..] {
            ["S", pid] => me = Some(pid.parse::<u32>().map_err(|_| bad(line))?),
            ["T"] => truncated = true,
            ["U", passwd] => users = parse::passwd(&unhex(passwd).ok_or_else(|| bad(line))?),
            ["P", _, stat, status, cmd] => {
                let (stat, status, cmd) = (unhex(stat), unhex(status), unhex(cmd));
                let (Some(stat), Some(status), Some(cmd)) = (stat, status, cmd) else { return Err(bad(line)) };
                // A process that exited mid-read leaves a partial record: skipped.
                if let Some(raw) = parse::parse(&stat, &status) {
                    let (argv, cut) = parse::cmdline(&cmd);
                    raws.push((raw, argv, cut));
                }
            }
            _ => return Err(bad(line)),
        }
    }
    let me = me.ok_or_else(|| Error::unexpected("the /proc listing did not start"))?;
    // The script's shell and every process below it.
    let mut ours: HashSet<u32> = HashSet::from([me]);
    loop {
        let before = ours.len();
        for (r, ..) in &raws {
            if ours.contains(&r.ppid_in_reader) {
                ours.insert(r.pid_in_reader);
            }
        }
        if ours.len() == before {
            break;
        }
    }
    raws.retain(|(r, ..)| !ours.contains(&r.pid_in_reader));
    Ok(Sample::new(raws, truncated, false, &users))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        format!("x{}", b.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    #[test]
    fn the_listing_parses_and_leaves_the_script_out() {
        let stat = |pid: u32, ppid: u32, state: char| {
            hex(format!("{pid} (n\nP 9 x x x) {state} {ppid} 0 0 0 0 0 0 0 0 0 3 4 0 0 0 0 0 0 77 0 0").as_bytes())
        };
        let out = format!(
            "S 40\nP 1 {} {} {}\nP 7 {} x x\nP 40 {} x x\nP 41 {} x x\nP 42 {} x x\nU {}\n",
            stat(1, 0, 'S'),
            hex(b"Uid:\t0\t0\t0\t0\n"),
            hex(b"sh\0-c\0x\0"),
            stat(7, 1, 'Z'),
            stat(40, 0, 'S'),
            stat(41, 40, 'S'),
            stat(42, 41, 'R'),
            hex(b"root:x:0:0::/:/bin/sh\n"),
        );
        let sample = parse_output(out.as_bytes()).unwrap();
        let pids: Vec<u32> = sample.processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, vec![1, 7]);
        assert_eq!(sample.processes[0].name, "n\nP 9 x x x", "a forged name stays a name");
        assert_eq!(sample.processes[0].user.as_deref(), Some("root"));
        assert_eq!(sample.processes[0].cmdline, vec!["sh", "-c", "x"]);
        assert!(!sample.truncated);
        assert!(parse_output(b"S 1\nP 1 xzz x x\n").is_err());
        assert!(parse_output(b"P 1 x x x\n").is_err(), "no start line");
        assert!(parse_output(b"S 1\nrm -rf\n").is_err());
    }
}
