//! Fuzz target: HubSpot answers (records, pages, batch answers, error bodies, rate-limit headers).
//! The properties checked live in `fuzz/oracles.rs`, shared with `tests/it/fuzz_smoke.rs`.
#![no_main]

#[allow(dead_code)] // each target uses one family of the shared oracles
#[path = "../oracles.rs"]
mod oracles;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracles::hubspot(data));
