//! The fuzz targets' committed corpus (`fuzz/corpus/`), replayed through the
//! same entry points (`keystep::fuzzing`) on every `cargo test`, then a short
//! deterministic random run from it. `fuzz/README.md` runs the real fuzzers.

mod fuzzing;

use fuzzing::{Rng, TARGETS, dictionary, inputs, mutate, run};

#[test]
fn every_corpus_input_is_handled() {
    for (target, accepted) in fuzzing::replay("corpus") {
        // A harness that refused everything would test only the first check.
        assert!(
            accepted > 0,
            "{target}: no corpus input gets past the checks"
        );
    }
}

/// Runs target `target` on `fuzz/corpus/<target>/<file>`.
fn corpus_file(target: &str, file: &str) -> Result<(), String> {
    let (_, entry) = TARGETS.iter().find(|(t, _)| *t == target).unwrap();
    let data = std::fs::read(fuzzing::fuzz_dir().join("corpus").join(target).join(file)).unwrap();
    run(*entry, &data, file)
}

#[test]
fn valid_seeds_pass_and_broken_ones_are_refused_with_the_reason() {
    for (target, file) in [
        ("automation", "onboarding.yaml"),
        ("automation", "trigger-7.yaml"),
        ("cel", "seed-04.cel"),
        ("cel", "seed-28.cel"),
        ("directory_import", "example.yaml"),
        ("directory_import", "small.json"),
        ("schema", "seed-0.json"),
    ] {
        assert_eq!(corpus_file(target, file), Ok(()), "{target}/{file}");
    }
    let refused = [
        ("automation", "offboarding.yaml", "offboarding-follow-up"),
        ("cel", "seed-31.cel", "Syntax error"),
        (
            "schema",
            "seed-1.json",
            "$.login: shorter than 1 characters",
        ),
    ];
    for (target, file, reason) in refused {
        let err = corpus_file(target, file).unwrap_err();
        assert!(err.contains(reason), "{target}/{file}: {err}");
    }
}

/// Mutants per target: a few seconds in all for a debug build on 2 cores.
const ROUNDS: usize = 400;

#[test]
fn random_mutations_of_the_corpus_are_handled() {
    for &(target, entry) in TARGETS {
        let seeds: Vec<Vec<u8>> = inputs("corpus", target)
            .iter()
            .map(|f| std::fs::read(f).unwrap())
            .collect();
        let dict = dictionary(target);
        let mut rng = Rng::new(0x6b65_7973_7465_7000 + target.len() as u64);
        for i in 0..ROUNDS {
            let seed = &seeds[rng.below(seeds.len())];
            let data = mutate(&mut rng, seed, &dict, &seeds);
            let _ = run(entry, &data, &format!("{target}, mutant {i}"));
        }
    }
}
