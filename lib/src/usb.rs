//! USB device control by boundary mode (docs/MODES.md "USB").
//!
//! The kernel does the refusing: with `authorized_default` = 0 on every
//! root hub (and usbcore's default for hubs that appear later), a new device
//! is enumerated but no driver binds to it. bd-lock sets that from AIRGAP up
//! whenever it writes the mode map; bd-watch then authorises, one by one,
//! the new devices the mode allows and reports the others as `deny` events.
//! Nothing running means nothing new is authorised: fail closed.
//!
//! Classes come from the device's raw descriptors (sysfs `descriptors`),
//! which the kernel reads before authorisation, so an unauthorised device is
//! judged by every interface it offers, not only the first one bound.

use crate::mode::Mode;
use serde::Serialize;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// sysfs root of USB devices; `BD_SYSFS_USB` overrides it for tests that
/// build a fake tree (never the kernel paths in production).
pub fn sysfs_usb() -> PathBuf {
    std::env::var_os("BD_SYSFS_USB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/sys/bus/usb/devices"))
}

/// Does the boundary at `pin_dir` govern the host's USB? The system's pin
/// dir does; a private one (tests, experiments) leaves the host's USB alone
/// unless `BD_USB_CONTROL=1` says otherwise (`0` turns it off everywhere).
pub fn controls(pin_dir: &Path) -> bool {
    match std::env::var("BD_USB_CONTROL").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => pin_dir == Path::new(crate::pin::DEFAULT_PIN_DIR),
    }
}

const USBCORE_DEFAULT: &str = "/sys/module/usbcore/parameters/authorized_default";

/// One interface's (class, subclass, protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Iface {
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
}

/// What a device says it is, from sysfs.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    /// sysfs name, e.g. `1-1` or `3-2.4`.
    pub devpath: String,
    pub busnum: Option<u32>,
    pub devnum: Option<u32>,
    pub vendor: String,
    pub product: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    pub device_class: u8,
    pub interfaces: Vec<Iface>,
}

/// Parse raw USB descriptors: the 18-byte device descriptor, then every
/// configuration's descriptors. `None` if the device descriptor is short.
pub fn parse_descriptors(raw: &[u8]) -> Option<(u8, u16, u16, Vec<Iface>)> {
    if raw.len() < 18 || raw[1] != 1 {
        return None;
    }
    let class = raw[4];
    let vendor = u16::from_le_bytes([raw[8], raw[9]]);
    let product = u16::from_le_bytes([raw[10], raw[11]]);
    let mut ifs = Vec::new();
    let mut pos = usize::from(raw[0]).max(18);
    while pos + 2 <= raw.len() {
        let len = usize::from(raw[pos]);
        if len < 2 {
            break;
        }
        if raw[pos + 1] == 4 && len >= 9 && pos + 9 <= raw.len() {
            let i = Iface {
                class: raw[pos + 5],
                subclass: raw[pos + 6],
                protocol: raw[pos + 7],
            };
            if !ifs.contains(&i) {
                ifs.push(i);
            }
        }
        pos += len;
    }
    Some((class, vendor, product, ifs))
}

fn attr(dir: &Path, name: &str) -> Option<String> {
    fs::read_to_string(dir.join(name))
        .ok()
        .map(|s| s.trim_end().to_string())
        .filter(|s| !s.is_empty())
}

/// Read a device from its sysfs directory.
pub fn read_device(dir: &Path) -> io::Result<Device> {
    let raw = fs::read(dir.join("descriptors"))?;
    let (device_class, v, p, interfaces) = parse_descriptors(&raw).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}/descriptors: no USB device descriptor", dir.display()),
        )
    })?;
    Ok(Device {
        devpath: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        busnum: attr(dir, "busnum").and_then(|s| s.parse().ok()),
        devnum: attr(dir, "devnum").and_then(|s| s.parse().ok()),
        vendor: format!("{v:04x}"),
        product: format!("{p:04x}"),
        manufacturer: attr(dir, "manufacturer"),
        name: attr(dir, "product"),
        serial: attr(dir, "serial"),
        device_class,
        interfaces,
    })
}

/// The verdict for a new device under `mode`: `Ok(())` to authorise it,
/// `Err(reason)` to leave it unauthorised.
pub fn decide(mode: Mode, d: &Device) -> Result<(), &'static str> {
    const HUB: u8 = 0x09;
    const HID: u8 = 0x03;
    const KEYBOARD: u8 = 0x01;
    if mode < Mode::Airgap {
        return Ok(());
    }
    if mode >= Mode::Lockdown {
        return Err("LOCKDOWN authorises no new USB device");
    }
    if d.interfaces.is_empty() {
        // Nothing to judge it by: fail closed.
        return Err("no interface descriptors could be read");
    }
    let hub = d.device_class == HUB && d.interfaces.iter().all(|i| i.class == HUB);
    if hub {
        // A hub moves no data itself; what is plugged into it is judged on its own.
        return Ok(());
    }
    if mode >= Mode::Coldroom {
        let keyboard = d
            .interfaces
            .iter()
            .all(|i| i.class == HID && i.protocol == KEYBOARD);
        return if keyboard {
            Ok(())
        } else {
            Err("COLDROOM authorises HID keyboards only")
        };
    }
    // AIRGAP: no storage, and nothing that can be a network link.
    for i in &d.interfaces {
        match (i.class, i.subclass, i.protocol) {
            (0x08, _, _) => return Err("AIRGAP refuses USB mass storage"),
            (0x06, _, _) => return Err("AIRGAP refuses USB still-image (PTP/MTP) storage"),
            (0x02 | 0x0a, _, _) => {
                return Err("AIRGAP refuses USB communications (network) devices")
            }
            (0xe0, _, _) => return Err("AIRGAP refuses USB wireless controllers"),
            (0xef, 0x04, _) => return Err("AIRGAP refuses RNDIS network devices"),
            (0xff, _, _) => {
                return Err(
                    "AIRGAP refuses vendor-specific interfaces (they can be storage or network)",
                )
            }
            _ => {}
        }
    }
    Ok(())
}

/// The `authorized_default` value for new devices under `mode`.
pub fn default_for(mode: Mode) -> &'static str {
    if mode >= Mode::Airgap {
        "0"
    } else {
        "1"
    }
}

/// Set `authorized_default` on every root hub and usbcore's default for hubs
/// that appear later. Returns the hubs written; no USB (no sysfs tree) is
/// `Ok(0)`.
pub fn apply_default(mode: Mode) -> io::Result<usize> {
    let v = default_for(mode);
    let root = sysfs_usb();
    let rd = match fs::read_dir(&root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut n = 0;
    for e in rd.flatten() {
        let p = e.path().join("authorized_default");
        if e.file_name().to_string_lossy().starts_with("usb") && p.exists() {
            fs::write(&p, v)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
            n += 1;
        }
    }
    if std::env::var_os("BD_SYSFS_USB").is_none() && Path::new(USBCORE_DEFAULT).exists() {
        // usbcore takes -1 (all), 0 (none), 1 (all), 2 (internal only).
        fs::write(USBCORE_DEFAULT, v)?;
    }
    Ok(n)
}

/// Authorise (`true`) or de-authorise a device; de-authorising unbinds its drivers.
pub fn set_authorized(dir: &Path, yes: bool) -> io::Result<()> {
    fs::write(dir.join("authorized"), if yes { "1" } else { "0" })
}

/// Is the device authorised now?
pub fn authorized(dir: &Path) -> Option<bool> {
    attr(dir, "authorized").map(|s| s == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(class: u8, ifs: &[(u8, u8, u8)]) -> Device {
        Device {
            devpath: "1-1".into(),
            busnum: Some(1),
            devnum: Some(2),
            vendor: "0000".into(),
            product: "0000".into(),
            manufacturer: None,
            name: None,
            serial: None,
            device_class: class,
            interfaces: ifs
                .iter()
                .map(|&(class, subclass, protocol)| Iface {
                    class,
                    subclass,
                    protocol,
                })
                .collect(),
        }
    }

    #[test]
    fn descriptors_of_a_storage_stick_and_a_keyboard() {
        // Device descriptor, config descriptor, one bulk-only storage interface.
        let mut stick = vec![
            18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x46, 0xf4, 0x01, 0x00, 0, 0, 1, 2, 3, 1,
        ];
        stick.extend_from_slice(&[9, 2, 32, 0, 1, 1, 0, 0x80, 50]);
        stick.extend_from_slice(&[9, 4, 0, 0, 2, 0x08, 0x06, 0x50, 0]);
        stick.extend_from_slice(&[7, 5, 0x81, 2, 0, 2, 0]);
        stick.extend_from_slice(&[7, 5, 0x02, 2, 0, 2, 0]);
        let (c, v, p, ifs) = parse_descriptors(&stick).unwrap();
        assert_eq!((c, v, p), (0, 0xf446, 0x0001));
        assert_eq!(
            ifs,
            vec![Iface {
                class: 8,
                subclass: 6,
                protocol: 0x50
            }]
        );
        // Truncated and zero-length descriptors end the walk, never panic.
        assert!(parse_descriptors(&stick[..10]).is_none());
        let mut bad = stick[..18].to_vec();
        bad.extend_from_slice(&[0, 4, 1]);
        assert_eq!(parse_descriptors(&bad).unwrap().3, vec![]);
        let mut short = stick[..18].to_vec();
        short.extend_from_slice(&[9, 4, 0]);
        assert_eq!(parse_descriptors(&short).unwrap().3, vec![]);
    }

    #[test]
    fn verdicts_by_mode() {
        let stick = dev(0, &[(8, 6, 0x50)]);
        let kbd = dev(0, &[(3, 1, 1)]);
        let mouse = dev(0, &[(3, 1, 2)]);
        let net = dev(0, &[(2, 6, 0), (0x0a, 0, 0)]);
        let combo = dev(0, &[(3, 1, 1), (8, 6, 0x50)]);
        let hub = dev(9, &[(9, 0, 0)]);
        for m in [Mode::Open, Mode::Restricted, Mode::Trusted] {
            for d in [&stick, &kbd, &net, &combo] {
                assert!(decide(m, d).is_ok());
            }
        }
        assert!(decide(Mode::Airgap, &stick).is_err());
        assert!(decide(Mode::Airgap, &net).is_err());
        assert!(decide(Mode::Airgap, &combo).is_err());
        assert!(decide(Mode::Airgap, &kbd).is_ok());
        assert!(decide(Mode::Airgap, &mouse).is_ok());
        assert!(decide(Mode::Airgap, &hub).is_ok());
        assert!(decide(Mode::Coldroom, &kbd).is_ok());
        assert!(decide(Mode::Coldroom, &mouse).is_err());
        assert!(decide(Mode::Coldroom, &combo).is_err());
        assert!(decide(Mode::Coldroom, &hub).is_ok());
        for d in [&kbd, &hub, &mouse] {
            assert!(decide(Mode::Lockdown, d).is_err());
        }
        assert!(decide(Mode::Airgap, &dev(0, &[])).is_err());
    }
}
