//! Reading the probes' facts: from the host (the container's rootfs through `/proc/<pid>/root`,
//! by descriptor, and pid 1's executable through its `/proc/<pid>` directory), or by one exec
//! inside whose answers are hex-encoded so nothing in the container can forge a field.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use anyctr_core::model::ExecRequest;
use anyctr_core::{ContainerEngine, Error, Result};
use rustix::fs::{Mode, OFlags};

use super::evidence::{EXE_HEAD, GLIBC_MARKER, LibcFacts, ZONE_TAIL, ZoneFacts};
use crate::hostfs::{FileKind, ProcRoot, Root};

/// Most bytes of pid 1's executable searched for the glibc marker.
const EXE_SCAN_CAP: u64 = 256 << 20;
/// `/etc/timezone` and `/etc/hostname` are one short line.
const NAME_FILE_CAP: usize = 256;

/// Where dynamic loaders live, and the multiarch directories below the first two.
const LOADER_DIRS: &[&str] = &["/lib", "/usr/lib", "/lib64", "/usr/lib64"];

pub(crate) fn zone_facts(root: &Root) -> ZoneFacts {
    let mut facts = ZoneFacts::default();
    if let Ok(entry) = root.resolve(Path::new("/etc/localtime"), false)
        && entry.kind() == FileKind::Symlink
    {
        facts.link = entry.read_link().ok().map(|l| l.to_string_lossy().into_owned());
    }
    if let Ok((file, stat)) = root.open_file(Path::new("/etc/localtime")) {
        facts.exists = true;
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        facts.head = read_range(&file, 0, 8);
        facts.tail = read_range(&file, size.saturating_sub(ZONE_TAIL as u64), ZONE_TAIL);
    }
    facts.timezone_file = first_line(root, "/etc/timezone");
    facts
}

pub(crate) fn hostname_file(root: &Root) -> Option<String> {
    first_line(root, "/etc/hostname")
}

fn first_line(root: &Root, path: &str) -> Option<String> {
    let (file, _) = root.open_file(Path::new(path)).ok()?;
    line_of(&read_range(&file, 0, NAME_FILE_CAP))
}

fn line_of(bytes: &[u8]) -> Option<String> {
    let line = String::from_utf8_lossy(bytes).lines().next()?.trim().to_owned();
    (!line.is_empty()).then_some(line)
}

fn read_range(file: &File, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf.truncate(got);
    buf
}

pub(crate) fn libc_facts(proc: &Path, init: &ProcRoot) -> io::Result<LibcFacts> {
    let mut facts = LibcFacts::default();
    for dir in LOADER_DIRS {
        let Ok(d) = init.root.open_dir(Path::new(dir)) else { continue };
        let names = d.names().unwrap_or_default();
        for name in &names {
            let n = name.to_string_lossy();
            if n.starts_with("ld-musl-") || n.starts_with("ld-linux") {
                facts.loaders.push(format!("{dir}/{n}"));
            } else if n.contains("-linux-gnu")
                && let Ok(sub) = d.subdir(name)
            {
                let inner = sub.names().unwrap_or_default();
                let found = inner.iter().map(|i| i.to_string_lossy()).filter(|i| i.starts_with("ld-linux"));
                facts.loaders.extend(found.map(|i| format!("{dir}/{n}/{i}")));
            }
        }
    }
    if facts.loaders.is_empty() {
        let exe = pid1_exe(proc, init)?;
        facts.exe_head = read_range(&exe, 0, EXE_HEAD);
        facts.exe_glibc_marker = contains(&exe, GLIBC_MARKER)?;
    }
    Ok(facts)
}

/// Pid 1's executable, opened through the `/proc/<pid>` directory of the very process whose root
/// `init` holds (its start time is checked again).
fn pid1_exe(proc: &Path, init: &ProcRoot) -> io::Result<File> {
    let dir = rustix::fs::open(
        proc.join(init.pid.to_string()),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let exe = File::from(rustix::fs::openat(&dir, "exe", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?);
    let stat = File::from(rustix::fs::openat(&dir, "stat", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?);
    let started = crate::top::start_ticks(&read_range(&stat, 0, 4096));
    if started != Some(init.start_time) {
        return Err(io::Error::other(format!("pid {} is no longer the container's init", init.pid)));
    }
    if FileKind::of(&rustix::fs::fstat(&exe)?) != FileKind::File {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "pid 1's executable is not a regular file"));
    }
    Ok(exe)
}

/// Whether `file` holds `needle` in its first [`EXE_SCAN_CAP`] bytes.
fn contains(file: &File, needle: &[u8]) -> io::Result<bool> {
    let mut buf = vec![0u8; 1 << 20];
    let (mut offset, mut keep) = (0u64, 0usize);
    while offset < EXE_SCAN_CAP {
        let n = file.read_at(&mut buf[keep..], offset)?;
        if n == 0 {
            return Ok(false);
        }
        let filled = keep + n;
        if buf[..filled].windows(needle.len()).any(|w| w == needle) {
            return Ok(true);
        }
        offset += n as u64;
        // Keep the last bytes, for a needle across two reads.
        keep = (needle.len() - 1).min(filled);
        buf.copy_within(filled - keep..filled, 0);
    }
    Ok(false)
}

/// The facts an exec inside reads: zone, libc and the UTS hostname (`None`: `uname` failed).
#[derive(Debug, Default)]
pub(crate) struct ExecFacts {
    pub zone: ZoneFacts,
    pub libc: LibcFacts,
    pub hostname: Option<String>,
}

fn script() -> String {
    format!(
        r#"h() {{ od -An -v -tx1 | tr -d ' \n'; }}
for f in /lib/ld-musl-* /lib/ld-linux* /usr/lib/ld-musl-* /usr/lib/ld-linux* /lib64/ld-linux* /usr/lib64/ld-linux* /lib/*-linux-gnu*/ld-linux* /usr/lib/*-linux-gnu*/ld-linux*; do
  [ -e "$f" ] && echo "L x$(printf %s "$f" | h)"
done
# Pid 1's executable; where /proc/1/exe cannot be read (gVisor refuses it), its argv[0] in PATH.
e=/proc/1/exe
if ! head -c 1 "$e" >/dev/null 2>&1; then
  a=$(head -c 4096 /proc/1/cmdline | tr '\0' '\n' | head -n 1); e=
  case "$a" in
    */*) e=$a ;;
    ?*) IFS=:; for d in $PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; do
          if [ -f "$d/$a" ]; then e=$d/$a; break; fi
        done; unset IFS ;;
  esac
fi
if [ -n "$e" ]; then
  echo "X x$(printf %s "$e" | h)"
  echo "E x$(head -c {exe} "$e" 2>/dev/null | h)"
  grep -q {marker} "$e" 2>/dev/null && echo G
fi
[ -L /etc/localtime ] && echo "Z x$(readlink /etc/localtime | h)"
[ -f /etc/localtime ] && echo "F x$(head -c 8 /etc/localtime | h) x$(tail -c {tail} /etc/localtime | h)"
[ -f /etc/timezone ] && echo "T x$(head -c {name} /etc/timezone | h)"
n=$(uname -n 2>/dev/null) && echo "H x$(printf %s "$n" | head -c {name} | h)"
true
"#,
        exe = EXE_HEAD,
        marker = std::str::from_utf8(GLIBC_MARKER).unwrap_or("GLIBC_"),
        tail = ZONE_TAIL,
        name = NAME_FILE_CAP,
    )
}

pub(crate) async fn exec_facts(engine: &dyn ContainerEngine, container: &str) -> Result<ExecFacts> {
    let request = ExecRequest::shell(script()).timeout(Duration::from_secs(60)).output_limit(1 << 20);
    let result = engine.exec(container, request).await?;
    if result.exit_code != 0 || result.stdout_truncated {
        let (_, stderr) = result.sample(300);
        return Err(Error::unexpected(format!(
            "probing inside the container by exec: exit code {}, stderr: {stderr}",
            result.exit_code
        )));
    }
    parse_exec(&result.stdout)
}

fn parse_exec(out: &[u8]) -> Result<ExecFacts> {
    let text = std::str::from_utf8(out).map_err(|_| Error::unexpected("the probe's answer is not ASCII"))?;
    let bad = |line: &str| Error::unexpected(format!("unexpected line in the probe's answer: {:.80}", line));
    let mut facts = ExecFacts::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let hex = |i: usize| fields.get(i).and_then(|f| crate::top::unhex(f)).ok_or_else(|| bad(line));
        match fields.first().copied() {
            Some("L") => facts.libc.loaders.push(String::from_utf8_lossy(&hex(1)?).into_owned()),
            Some("E") => facts.libc.exe_head = hex(1)?,
            Some("X") => facts.libc.exe_path = Some(String::from_utf8_lossy(&hex(1)?).into_owned()),
            Some("G") => facts.libc.exe_glibc_marker = true,
            Some("Z") => facts.zone.link = line_of(&hex(1)?),
            Some("F") => {
                facts.zone.exists = true;
                (facts.zone.head, facts.zone.tail) = (hex(1)?, hex(2)?);
            }
            Some("T") => facts.zone.timezone_file = line_of(&hex(1)?),
            // The UTS name as `uname` gives it; an empty one is an answer too.
            Some("H") => facts.hostname = Some(line_of(&hex(1)?).unwrap_or_default()),
            _ => return Err(bad(line)),
        }
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exec_answer_parses_and_refuses_junk() {
        let h = |b: &[u8]| format!("x{}", b.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let out = format!(
            "L {}\nE x7f454c46\nG\nZ {}\nF {} {}\nH {}\n",
            h(b"/lib/ld-musl-x86_64.so.1"),
            h(b"/usr/share/zoneinfo/UTC\n"),
            h(b"TZif2"),
            h(b"\nUTC0\n"),
            h(b"box\n")
        );
        let f = parse_exec(out.as_bytes()).unwrap();
        assert_eq!(f.libc.loaders, vec!["/lib/ld-musl-x86_64.so.1"]);
        assert!(f.libc.exe_glibc_marker && f.zone.exists);
        assert_eq!(f.zone.link.as_deref(), Some("/usr/share/zoneinfo/UTC"));
        assert_eq!(f.hostname.as_deref(), Some("box"));
        assert!(parse_exec(b"Q x00\n").is_err());
        assert!(parse_exec(b"H xzz\n").is_err());
    }

    #[test]
    fn a_marker_across_two_reads_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        let mut bytes = vec![0u8; (1 << 20) - 3];
        bytes.extend_from_slice(b"GLIBC_2.34");
        std::fs::write(&path, &bytes).unwrap();
        assert!(contains(&File::open(&path).unwrap(), GLIBC_MARKER).unwrap());
        std::fs::write(&path, vec![7u8; 3 << 20]).unwrap();
        assert!(!contains(&File::open(&path).unwrap(), GLIBC_MARKER).unwrap());
    }
}
