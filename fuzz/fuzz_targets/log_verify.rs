//! Feeds arbitrary bytes to every bd-log parser: they must return an error
//! (or a FAIL report), never panic. Run: `cargo +nightly fuzz run log_verify`.
#![no_main]

use boundary::log::{self, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key();
    let _ = log::parse_line(data);
    let _ = log::Checkpoint::parse_line(data);
    let anchor = verify::Anchor::parse(data, &key).ok();
    // Set up like `verify --anchor`, with a small read buffer so lines also
    // straddle buffer and piece boundaries.
    let opts = verify::Options {
        anchor,
        chunk: 64 + data.len() % 512,
        ..Default::default()
    };
    let _ = verify::verify(data, &key, &opts);
});
