//! The engine's address: `oci:///run/runc?runtime=runc` names one runtime root (the "socket" is
//! the root directory); `oci://` reads every root [`crate::roots::discover`] finds.
//!
//! Parameters: `runtime` (`runc`, `crun`, `runsc`: the runtime that creates containers in an owned
//! root, default runc), `runc`/`crun`/`runsc` (paths of the binaries, default found in `PATH`),
//! `own=true` (make the root anyctr's when it is new or empty: lifecycle allowed), `images`
//! (the image store of rootfs tarballs, default `<root>.anyctr/images`).

use std::path::{Path, PathBuf};

use anyctr_core::{EngineAddress, Error, Result};

use crate::state::Layout;

/// What the address says.
#[derive(Debug, Clone)]
pub struct OciOptions {
    /// The root the address names; `None`: discover.
    pub root: Option<PathBuf>,
    /// The runtime that creates containers in an owned root.
    pub runtime: Layout,
    /// Binaries by runtime.
    pub runc: PathBuf,
    /// crun's binary.
    pub crun: PathBuf,
    /// runsc's binary.
    pub runsc: PathBuf,
    /// Make the named root anyctr's.
    pub own: bool,
    /// The image store.
    pub images: Option<PathBuf>,
}

impl OciOptions {
    /// Reads the address.
    pub fn from_address(address: &EngineAddress) -> Result<OciOptions> {
        let runtime = match address.param("runtime").unwrap_or("runc") {
            "runc" => Layout::Runc,
            "crun" => Layout::Crun,
            "runsc" => Layout::Runsc,
            other => {
                return Err(Error::invalid_argument(format!(
                    "oci address: unknown runtime {other:?} (runc, crun, runsc)"
                )));
            }
        };
        let path = |key: &str| address.param(key).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(key));
        let own = match address.param("own") {
            None | Some("false" | "0" | "no") => false,
            Some("true" | "1" | "yes") => true,
            Some(other) => return Err(Error::invalid_argument(format!("oci address: own={other:?} is not a boolean"))),
        };
        let images = address.param("images").map(PathBuf::from);
        if let Some(bad) = images.as_deref().filter(|p| !p.is_absolute()) {
            return Err(Error::invalid_argument(format!("oci address: images={} is not absolute", bad.display())));
        }
        if own && address.socket.is_none() {
            return Err(Error::invalid_argument("oci address: own=true needs a root (oci:///path/to/root?own=true)"));
        }
        Ok(OciOptions {
            root: address.socket.clone(),
            runtime,
            runc: path("runc"),
            crun: path("crun"),
            runsc: path("runsc"),
            own,
            images,
        })
    }

    /// The binary of a runtime.
    pub fn binary(&self, layout: Layout) -> &Path {
        match layout {
            Layout::Runc => &self.runc,
            Layout::Crun => &self.crun,
            Layout::Runsc => &self.runsc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let o = OciOptions::from_address(
            &EngineAddress::parse("oci:///run/x?runtime=crun&own=true&crun=/opt/crun").unwrap(),
        )
        .unwrap();
        assert_eq!((o.runtime, o.own, o.root.as_deref()), (Layout::Crun, true, Some(Path::new("/run/x"))));
        assert_eq!(o.binary(Layout::Crun), Path::new("/opt/crun"));
        assert_eq!(o.binary(Layout::Runc), Path::new("runc"));
        for bad in ["oci:///r?runtime=kata", "oci:///r?own=maybe", "oci://?own=true", "oci:///r?images=rel"] {
            assert!(OciOptions::from_address(&EngineAddress::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }
}
