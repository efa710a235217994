//! USB hot-plug: kernel uevents -> `usb` (and `deny`) lines, and the
//! authorisation of new devices the mode allows (lib::usb, docs/MODES.md).
//!
//! The kernel refuses by itself from AIRGAP up (`authorized_default` = 0,
//! set by bd-lock with the mode); this only ever authorises what the mode
//! allows, or takes back a device that was bound before the kernel default
//! caught up (a mode change racing a plug). Without bd-watch running nothing
//! new is authorised.

use boundary::mode::{Mode, ModeMap};
use boundary::usb::{self, Device};
use nix::sys::socket::{
    bind, recvfrom, socket, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use serde::Serialize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The kernel's uevent multicast group (udev's is 2, and carries a header).
const KERNEL_GROUP: u32 = 1;

pub struct UsbWatch {
    fd: OwnedFd,
    pin_dir: PathBuf,
    buf: Vec<u8>,
}

#[derive(Serialize)]
struct UsbLine<'a> {
    v: u32,
    #[serde(rename = "type")]
    type_: &'static str,
    time: String,
    action: &'a str,
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorized: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    device: UsbDev<'a>,
}

#[derive(Serialize)]
struct DenyLine<'a> {
    v: u32,
    #[serde(rename = "type")]
    type_: &'static str,
    time: String,
    hook: &'static str,
    action: &'static str,
    mode: &'static str,
    reason: &'a str,
    device: UsbDev<'a>,
}

/// The device as the uevent and (for an add) sysfs describe it.
#[derive(Serialize)]
#[serde(untagged)]
enum UsbDev<'a> {
    Read(&'a Device),
    Removed {
        devpath: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        vendor: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        product: Option<String>,
    },
}

impl UsbWatch {
    /// Listen for USB uevents when this boundary governs USB (usb::controls)
    /// and the host has a USB bus; `Ok(None)` otherwise.
    pub fn open(pin_dir: &Path) -> nix::Result<Option<UsbWatch>> {
        if !usb::controls(pin_dir) || !Path::new("/sys/bus/usb").exists() {
            return Ok(None);
        }
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            SockProtocol::NetlinkKObjectUEvent,
        )?;
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &NetlinkAddr::new(0, KERNEL_GROUP),
        )?;
        Ok(Some(UsbWatch {
            fd,
            pin_dir: pin_dir.to_path_buf(),
            buf: vec![0; 16 * 1024],
        }))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The mode the kernel enforces now; anything unreadable is LOCKDOWN.
    fn mode(&self) -> Mode {
        ModeMap::open(&self.pin_dir)
            .ok()
            .flatten()
            .and_then(|m| m.read().ok())
            .map_or(Mode::Lockdown, |s| s.effective())
    }

    /// Handle every queued uevent; returns the JSON lines to print.
    pub fn drain(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let fd = std::os::fd::AsRawFd::as_raw_fd(&self.fd);
            let (n, from) = match recvfrom::<NetlinkAddr>(fd, &mut self.buf) {
                Ok(x) => x,
                Err(nix::Error::EAGAIN | nix::Error::EINTR) => break,
                Err(e) => {
                    eprintln!("bd-watch: usb uevents: {e}");
                    break;
                }
            };
            // Only the kernel (port 0) speaks for devices.
            if from.is_none_or(|a| a.pid() != 0) {
                continue;
            }
            let msg = self.buf[..n].to_vec();
            if let Some(l) = self.handle(&msg) {
                out.extend(l);
            }
        }
        out
    }

    fn handle(&self, msg: &[u8]) -> Option<Vec<String>> {
        let mut action = "";
        let mut devpath = "";
        let (mut subsystem, mut devtype, mut product) = ("", "", "");
        for f in msg.split(|b| *b == 0) {
            let f = std::str::from_utf8(f).ok()?;
            if let Some((k, v)) = f.split_once('=') {
                match k {
                    "ACTION" => action = v,
                    "DEVPATH" => devpath = v,
                    "SUBSYSTEM" => subsystem = v,
                    "DEVTYPE" => devtype = v,
                    "PRODUCT" => product = v,
                    _ => {}
                }
            }
        }
        if subsystem != "usb" || devtype != "usb_device" || devpath.contains("..") {
            return None;
        }
        let sysname = devpath.rsplit('/').next().unwrap_or(devpath);
        let mode = self.mode();
        let time = boundary::time::now_rfc3339();
        match action {
            "add" => Some(self.added(
                Path::new("/sys").join(devpath.trim_start_matches('/')),
                sysname,
                mode,
                time,
            )),
            "remove" => {
                // PRODUCT is "vendor/product/bcdDevice" in hex without padding.
                let mut p = product.split('/');
                let hex4 = |s: Option<&str>| {
                    s.and_then(|x| u16::from_str_radix(x, 16).ok())
                        .map(|v| format!("{v:04x}"))
                };
                let (vendor, prod) = (hex4(p.next()), hex4(p.next()));
                let line = UsbLine {
                    v: 1,
                    type_: "usb",
                    time,
                    action: "remove",
                    mode: mode.as_str(),
                    authorized: None,
                    reason: None,
                    device: UsbDev::Removed {
                        devpath: sysname,
                        vendor,
                        product: prod,
                    },
                };
                serde_json::to_string(&line).ok().map(|l| vec![l])
            }
            _ => None,
        }
    }

    fn added(&self, dir: PathBuf, sysname: &str, mode: Mode, time: String) -> Vec<String> {
        let mut out = Vec::new();
        if sysname.starts_with("usb") {
            // A root hub (a controller appeared): its default follows the mode.
            if let Err(e) = std::fs::write(dir.join("authorized_default"), usb::default_for(mode)) {
                eprintln!("bd-watch: {}: authorized_default: {e}", dir.display());
            }
        }
        let dev = match usb::read_device(&dir) {
            Ok(d) => d,
            Err(e) => {
                // Unjudgeable: fail closed from AIRGAP up.
                if mode >= Mode::Airgap && usb::authorized(&dir) == Some(true) {
                    let _ = usb::set_authorized(&dir, false);
                }
                eprintln!("bd-watch: usb {sysname}: {e}");
                return out;
            }
        };
        let verdict = usb::decide(mode, &dev);
        let now = usb::authorized(&dir);
        let mut authorized = now;
        let result = match verdict {
            Ok(()) if now == Some(false) => {
                usb::set_authorized(&dir, true).map(|_| authorized = Some(true))
            }
            Err(_) if now == Some(true) => {
                usb::set_authorized(&dir, false).map(|_| authorized = Some(false))
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            eprintln!("bd-watch: usb {sysname}: writing authorized: {e}");
            authorized = usb::authorized(&dir);
        }
        let reason = verdict.err();
        let line = UsbLine {
            v: 1,
            type_: "usb",
            time: time.clone(),
            action: "add",
            mode: mode.as_str(),
            authorized,
            reason,
            device: UsbDev::Read(&dev),
        };
        if let Ok(l) = serde_json::to_string(&line) {
            out.push(l);
        }
        if let Some(reason) = reason {
            let d = DenyLine {
                v: 1,
                type_: "deny",
                time,
                hook: "usb",
                action: "deny",
                mode: mode.as_str(),
                reason,
                device: UsbDev::Read(&dev),
            };
            if let Ok(l) = serde_json::to_string(&d) {
                out.push(l);
            }
        }
        out
    }
}
