//! Every input that once made a fuzz target panic, overflow its stack or run
//! without bound (`fuzz/regressions/<target>/`), replayed on every `cargo
//! test`. A binary of its own: a stack overflow aborts the process, and the
//! corpus replay (`fuzz_corpus.rs`) still reports.

mod fuzzing;

#[test]
fn every_regression_input_is_handled() {
    fuzzing::replay("regressions");
}
