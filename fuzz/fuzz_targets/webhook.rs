//! Fuzz target: HubSpot webhook deliveries and their v3 signature.
//! The properties checked live in `fuzz/oracles.rs`, shared with `tests/it/fuzz_smoke.rs`.
#![no_main]

#[allow(dead_code)] // each target uses one family of the shared oracles
#[path = "../oracles.rs"]
mod oracles;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracles::webhook(data));
