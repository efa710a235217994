//! `boundary`: the shared vocabulary of the boundary tools.
//!
//! Each module belongs to one concern; the tools stay thin and call in here.
//! No module here decides policy on its own: it parses, formats, checks and
//! talks to pinned kernel objects, and returns errors for the tool to report.

pub mod elf;
pub mod event;
pub mod exit;
pub mod json;
pub mod log;
pub mod mode;
pub mod opkey;
pub mod pin;
pub mod policy;
pub mod protect;
pub mod safefile;
pub mod seal;
pub mod time;
pub mod usb;
