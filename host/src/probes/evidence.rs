//! The decisions of the time-zone and libc probes, from facts read either from the host or by an
//! exec: one place decides, whoever read.

use anyctr_core::model::{Libc, LibcKind, Linkage, TimeZone};

/// What was found about `/etc/localtime` and `/etc/timezone`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ZoneFacts {
    /// `/etc/localtime`'s link text, when it is a symlink.
    pub link: Option<String>,
    /// `/etc/localtime` resolves to a regular file.
    pub exists: bool,
    /// Its first bytes (the TZif magic) and its last bytes (the v2+ footer).
    pub head: Vec<u8>,
    pub tail: Vec<u8>,
    /// The first line of `/etc/timezone` (Debian's zone name file).
    pub timezone_file: Option<String>,
}

/// How many bytes of the end of a zone file hold its footer.
pub(crate) const ZONE_TAIL: usize = 128;

pub(crate) fn zone(facts: &ZoneFacts) -> (TimeZone, String) {
    let rule = posix_rule(&facts.head, &facts.tail);
    let from_link = facts.link.as_deref().and_then(zone_of_link);
    let mut tz = TimeZone::unnamed(rule);
    let found_by = if let Some(name) = from_link {
        tz.name = Some(name);
        format!("/etc/localtime -> {}", facts.link.as_deref().unwrap_or_default())
    } else if let Some(name) = facts.timezone_file.clone().filter(|n| valid_zone_name(n)) {
        tz.name = Some(name);
        "/etc/timezone".to_owned()
    } else if facts.exists {
        "/etc/localtime (a zone file naming no zone; its POSIX rule is read)".to_owned()
    } else {
        tz.name = Some("UTC".into());
        tz.defaulted = true;
        "no TZ and no /etc/localtime: the C library's default, UTC".to_owned()
    };
    (tz, found_by)
}

/// `…/zoneinfo/Europe/Berlin` → `Europe/Berlin` (also under `posix/` and `right/`).
fn zone_of_link(link: &str) -> Option<String> {
    let (_, zone) = link.rsplit_once("zoneinfo/")?;
    let zone = zone.strip_prefix("posix/").or_else(|| zone.strip_prefix("right/")).unwrap_or(zone);
    valid_zone_name(zone).then(|| zone.to_owned())
}

fn valid_zone_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b))
        && !name.split('/').any(|c| c.is_empty())
}

/// The POSIX TZ rule in a TZif v2+ file's footer (`\n<rule>\n` at its very end).
pub(crate) fn posix_rule(head: &[u8], tail: &[u8]) -> Option<String> {
    if !head.starts_with(b"TZif") || head.get(4).is_none_or(|v| *v < b'2') {
        return None;
    }
    let body = tail.strip_suffix(b"\n")?;
    let start = body.iter().rposition(|b| *b == b'\n')? + 1;
    let rule = std::str::from_utf8(&body[start..]).ok()?;
    (!rule.is_empty() && rule.len() <= 64 && rule.bytes().all(|b| b.is_ascii_graphic())).then(|| rule.to_owned())
}

/// What was found about the C library.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LibcFacts {
    /// Dynamic loaders present in the rootfs (paths).
    pub loaders: Vec<String>,
    /// The first bytes of pid 1's executable.
    pub exe_head: Vec<u8>,
    /// Where pid 1's executable was read when not through `/proc/1/exe` (its argv[0] in `PATH`).
    pub exe_path: Option<String>,
    /// Pid 1's executable holds glibc's marker strings (checked only for a static one).
    pub exe_glibc_marker: bool,
}

/// How many bytes of pid 1's executable are read for its ELF headers.
pub(crate) const EXE_HEAD: usize = 64 * 1024;
/// A marker only glibc builds carry (its tunables environment variable and version tags).
pub(crate) const GLIBC_MARKER: &[u8] = b"GLIBC_";

pub(crate) fn libc(facts: &LibcFacts) -> (Libc, String) {
    if let Some((path, kind)) = facts.loaders.iter().find_map(|p| Some((p, kind_of(p)?))) {
        return (Libc::new(kind, Linkage::Dynamic), format!("dynamic loader {path} in the rootfs"));
    }
    let (libc, found_by) = from_exe(facts);
    match facts.exe_path.as_deref().filter(|p| *p != "/proc/1/exe") {
        Some(path) => (libc, format!("{found_by} (read at {path}, pid 1's argv[0] in PATH)")),
        None => (libc, found_by),
    }
}

fn from_exe(facts: &LibcFacts) -> (Libc, String) {
    match elf_interpreter(&facts.exe_head) {
        Elf::Interpreter(interp) => match kind_of(&interp) {
            Some(kind) => {
                (Libc::new(kind, Linkage::Dynamic), format!("pid 1's executable asks for interpreter {interp}"))
            }
            None => (
                Libc::new(LibcKind::Unknown, Linkage::Dynamic),
                format!("pid 1's executable asks for interpreter {interp}, neither musl's nor glibc's"),
            ),
        },
        Elf::Static if facts.exe_glibc_marker => (
            Libc::new(LibcKind::Glibc, Linkage::Static),
            "no dynamic loader in the rootfs; pid 1's executable is static and carries glibc's GLIBC_ symbols"
                .to_owned(),
        ),
        Elf::Static => (
            Libc::new(LibcKind::Unknown, Linkage::Static),
            "no dynamic loader in the rootfs; pid 1's executable is static with no glibc marker (musl or none)"
                .to_owned(),
        ),
        Elf::Unreadable => (
            Libc::new(LibcKind::Unknown, Linkage::Unknown),
            "no dynamic loader in the rootfs and pid 1's executable is not a readable ELF file".to_owned(),
        ),
    }
}

/// The libc a dynamic loader's path names.
fn kind_of(path: &str) -> Option<LibcKind> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.starts_with("ld-musl-") {
        Some(LibcKind::Musl)
    } else if name.starts_with("ld-linux") {
        Some(LibcKind::Glibc)
    } else {
        None
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Elf {
    Interpreter(String),
    Static,
    Unreadable,
}

/// The `PT_INTERP` of an ELF file's first bytes (64- and 32-bit, both byte orders).
pub(crate) fn elf_interpreter(head: &[u8]) -> Elf {
    if !head.starts_with(b"\x7fELF") || head.len() < 52 {
        return Elf::Unreadable;
    }
    let wide = head[4] == 2;
    let big = head[5] == 2;
    let num = |at: usize, len: usize| -> Option<u64> {
        let b = head.get(at..at + len)?;
        let mut v = 0u64;
        for i in 0..len {
            let byte = if big { b[i] } else { b[len - 1 - i] };
            v = (v << 8) | u64::from(byte);
        }
        Some(v)
    };
    let parsed = (|| {
        let (phoff, phentsize, phnum) = if wide {
            (num(0x20, 8)?, num(0x36, 2)?, num(0x38, 2)?)
        } else {
            (num(0x1c, 4)?, num(0x2a, 2)?, num(0x2c, 2)?)
        };
        for i in 0..phnum.min(256) {
            let at = usize::try_from(phoff + i * phentsize).ok()?;
            if num(at, 4)? != 3 {
                continue; // not PT_INTERP
            }
            let (off, size) =
                if wide { (num(at + 8, 8)?, num(at + 32, 8)?) } else { (num(at + 4, 4)?, num(at + 16, 4)?) };
            let bytes = head.get(usize::try_from(off).ok()?..usize::try_from(off + size.min(4096)).ok()?)?;
            let text = bytes.split(|b| *b == 0).next()?;
            return Some(Elf::Interpreter(String::from_utf8_lossy(text).into_owned()));
        }
        Some(Elf::Static)
    })();
    parsed.unwrap_or(Elf::Unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_from_links_files_and_nothing() {
        let link =
            ZoneFacts { link: Some("../usr/share/zoneinfo/Europe/Berlin".into()), exists: true, ..Default::default() };
        assert_eq!(zone(&link).0.name.as_deref(), Some("Europe/Berlin"));
        let posix = ZoneFacts { link: Some("/usr/share/zoneinfo/posix/Asia/Tokyo".into()), ..Default::default() };
        assert_eq!(zone(&posix).0.name.as_deref(), Some("Asia/Tokyo"));
        let hostile =
            ZoneFacts { link: Some("/zoneinfo/../../etc/shadow".into()), exists: false, ..Default::default() };
        let (tz, _) = zone(&hostile);
        assert!(tz.defaulted, "an invalid name is no zone: {tz:?}");
        let copied = ZoneFacts {
            exists: true,
            head: b"TZif2\0\0".to_vec(),
            tail: b"\0\0\nCET-1CEST,M3.5.0,M10.5.0/3\n".to_vec(),
            ..Default::default()
        };
        let (tz, _) = zone(&copied);
        assert_eq!((tz.name, tz.posix_rule.as_deref()), (None, Some("CET-1CEST,M3.5.0,M10.5.0/3")));
        let (tz, _) = zone(&ZoneFacts::default());
        assert!(tz.defaulted && tz.name.as_deref() == Some("UTC"));
        assert_eq!(posix_rule(b"TZif\0", b"\nUTC0\n"), None, "v1 files have no footer");
    }

    fn elf64(interp: Option<&str>) -> Vec<u8> {
        let mut f = vec![0u8; 0x200];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        f[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        // phdr 0: PT_LOAD; phdr 1: PT_INTERP (or PT_NOTE).
        f[64..68].copy_from_slice(&1u32.to_le_bytes());
        let at = 64 + 56;
        f[at..at + 4].copy_from_slice(&(if interp.is_some() { 3u32 } else { 4u32 }).to_le_bytes());
        if let Some(i) = interp {
            f[at + 8..at + 16].copy_from_slice(&0x100u64.to_le_bytes());
            f[at + 32..at + 40].copy_from_slice(&(i.len() as u64 + 1).to_le_bytes());
            f[0x100..0x100 + i.len()].copy_from_slice(i.as_bytes());
        }
        f
    }

    #[test]
    fn libc_from_loaders_interpreters_and_static_markers() {
        let musl = LibcFacts { loaders: vec!["/lib/ld-musl-x86_64.so.1".into()], ..Default::default() };
        assert_eq!(libc(&musl).0, Libc::new(LibcKind::Musl, Linkage::Dynamic));
        let glibc = LibcFacts { exe_head: elf64(Some("/lib64/ld-linux-x86-64.so.2")), ..Default::default() };
        assert_eq!(libc(&glibc).0, Libc::new(LibcKind::Glibc, Linkage::Dynamic));
        let stat = LibcFacts { exe_head: elf64(None), exe_glibc_marker: true, ..Default::default() };
        assert_eq!(libc(&stat).0, Libc::new(LibcKind::Glibc, Linkage::Static));
        let unknown = LibcFacts { exe_head: elf64(None), ..Default::default() };
        assert_eq!(libc(&unknown).0, Libc::new(LibcKind::Unknown, Linkage::Static));
        assert_eq!(elf_interpreter(b"#!/bin/sh\n"), Elf::Unreadable);
        let mut cut = elf64(Some("/lib/ld-musl-aarch64.so.1"));
        cut.truncate(0x104);
        assert_eq!(elf_interpreter(&cut), Elf::Unreadable, "an interpreter past the bytes read is not guessed");
    }
}
