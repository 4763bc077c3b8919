//! The fuzz targets' oracles (`fuzz/oracles.rs`) on the stable toolchain: every seed of
//! `fuzz/corpus/` as it is, then proptest's arbitrary bytes and mutated seeds, at the same
//! entry points the libFuzzer targets use (mapping parser, HubSpot and Gorgias decoders, the
//! webhook decoder). A panic, in the product or in an oracle's `assert!`, fails the test.
//! Small and fast on purpose (a few seconds): the long runs are `fuzz/run.sh` (docs/fuzzing.md).

#[path = "../../fuzz/oracles.rs"]
mod oracles;

use proptest::prelude::*;
use std::path::PathBuf;

type Oracle = fn(&[u8]);

const TARGETS: &[(&str, Oracle)] = &[
    ("mappings", oracles::mappings),
    ("hubspot", oracles::hubspot),
    ("gorgias", oracles::gorgias),
    ("webhook", oracles::webhook),
];

/// The committed seeds of one target, sorted by file name.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn every_seed_passes_its_oracle() {
    for (target, oracle) in TARGETS {
        let seeds = seeds(target);
        assert!(seeds.len() >= 3, "{target}: {} seeds", seeds.len());
        for s in &seeds {
            oracle(s);
        }
    }
}

/// Values that tend to break decoders, spliced into seeds.
const TOKENS: &[&str] = &[
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "1e400",
    "1e30",
    "-1",
    "0",
    "null",
    "\"\"",
    "{}",
    "[]",
    "\"+10000-01-01T00:00:00Z\"",
    "\"%H:%M\"",
    "\"%s\"",
    "\u{0}",
    "\u{feff}",
    "é",
    "\"date\"",
    "\"datetime\"",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Delete(usize, usize),
    Insert(usize, usize),
    Truncate(usize),
}

fn mutate(mut seed: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = seed.len().max(1);
        match *m {
            Mutation::Flip(at, bits) => {
                if let Some(b) = seed.get_mut(at % len) {
                    *b ^= bits;
                }
            }
            Mutation::Delete(at, n) => {
                let at = (at % len).min(seed.len());
                let end = (at + n % 16).min(seed.len());
                seed.drain(at..end);
            }
            Mutation::Insert(at, token) => {
                let at = (at % len).min(seed.len());
                let t = TOKENS[token % TOKENS.len()].as_bytes();
                seed.splice(at..at, t.iter().copied());
            }
            Mutation::Truncate(at) => seed.truncate(at % len),
        }
    }
    seed
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(a, b)| Mutation::Flip(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, t)| Mutation::Insert(a, t)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_break_a_decoder(
        target in 0..TARGETS.len(),
        tag in prop_oneof![Just(b'c'), Just(b'l'), Just(b's'), Just(b'b'), Just(b'e'), Just(b'h'),
                           Just(b'v'), Just(b'r'), Just(b'k'), any::<u8>()],
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut input = vec![tag];
        input.extend(body);
        (TARGETS[target].1)(&input);
    }

    #[test]
    fn arbitrary_text_never_breaks_a_decoder(
        target in 0..TARGETS.len(),
        text in "[clsbehvrk]?[\\[\\]{}\":,0-9a-z_%. \\n=+-]{0,200}",
    ) {
        (TARGETS[target].1)(text.as_bytes());
    }

    #[test]
    fn mutated_seeds_never_break_a_decoder(
        target in 0..TARGETS.len(),
        pick in any::<usize>(),
        muts in proptest::collection::vec(mutation(), 1..6),
    ) {
        let (name, oracle) = TARGETS[target];
        let seeds = seeds(name);
        let input = mutate(seeds[pick % seeds.len()].clone(), &muts);
        oracle(&input);
    }
}
