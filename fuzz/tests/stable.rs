//! Every fuzz harness on the stable toolchain, for a bounded number of generated inputs: random
//! bytes, and mutations (flipped, inserted, removed bytes, truncation, splices) of the seed corpus
//! in `seeds/NAME/`. CI runs this on every change; `cargo fuzz run NAME` explores far more on
//! nightly. `CHATPORT_FUZZ_CASES` sets the number of inputs per harness (default 2048).

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn seeds(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(name);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seed corpus {}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("a corpus entry").path()).expect("a seed"))
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
    Splice(usize, Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Remove),
        any::<usize>().prop_map(Edit::Truncate),
        (
            any::<usize>(),
            prop::sample::select(vec![
                b"null".to_vec(),
                b"[]".to_vec(),
                b"{}".to_vec(),
                b"\"\"".to_vec(),
                b"-1".to_vec(),
                b"1e999".to_vec(),
                b"\"\\u0000\"".to_vec(),
                "\u{202e}é".as_bytes().to_vec(),
            ])
        )
            .prop_map(|(i, s)| Edit::Splice(i, s)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match e {
            Edit::Flip(i, b) if !bytes.is_empty() => {
                let n = bytes.len();
                bytes[i % n] ^= b | 1;
            }
            Edit::Insert(i, b) => {
                let i = at(*i, bytes.len());
                bytes.insert(i, *b);
            }
            Edit::Remove(i) if !bytes.is_empty() => {
                let n = bytes.len();
                bytes.remove(i % n);
            }
            Edit::Truncate(i) => {
                let i = at(*i, bytes.len());
                bytes.truncate(i);
            }
            Edit::Splice(i, s) => {
                let i = at(*i, bytes.len());
                bytes.splice(i..i, s.iter().copied());
            }
            _ => {}
        }
    }
    bytes
}

fn inputs(name: &str) -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds(name);
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        1 => prop::sample::select(seeds.clone()),
        4 => (prop::sample::select(seeds), prop::collection::vec(edit(), 1..8))
            .prop_map(|(seed, edits)| apply(seed, &edits)),
    ]
}

fn cases() -> u32 {
    std::env::var("CHATPORT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048)
}

#[test]
fn every_harness_survives_generated_inputs() {
    for (name, harness) in chatport_fuzz::HARNESSES {
        // A fixed seed per run keeps CI reproducible; failures print the minimal input.
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: cases(),
                failure_persistence: None,
                ..Config::default()
            },
            proptest::test_runner::TestRng::deterministic_rng(
                proptest::test_runner::RngAlgorithm::ChaCha,
            ),
        );
        runner
            .run(&inputs(name), |input| {
                harness(&input);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("harness {name}: {e}"));
        eprintln!("{name}: {} inputs", cases());
    }
}

#[test]
fn every_harness_has_a_target_and_seeds() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in chatport_fuzz::HARNESSES {
        assert!(
            root.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "no fuzz target for {name}"
        );
        assert!(!seeds(name).is_empty());
    }
}

/// The seeds of the newer harnesses reach their parsers' success paths (not only the error
/// branches), so the mutations explore real-shaped input.
#[test]
fn seeds_reach_the_success_paths() {
    let seed = |name: &str, file: &str| {
        std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("seeds")
                .join(name)
                .join(file),
        )
        .expect("a seed")
    };
    let demo = String::from_utf8(seed("config_toml", "demo.toml")).expect("UTF-8");
    let config = chatport_bridge::config::Config::from_toml_str(&demo).expect("the demo parses");
    assert!(!config.references().is_empty());
    let legacy = seed("orangelogic_envelope", "legacy_search");
    chatport_orangelogic::Envelope::Legacy
        .decode(200, &legacy[1..])
        .expect("a legacy search answer decodes");
    let graph = seed("graph_error", "rate_limit_130429");
    let error = chatport_whatsapp::Error::from_answer(429, &http::HeaderMap::new(), &graph[1..]);
    assert_eq!(error.api().map(|a| a.code()), Some(130_429));
}
