//! Compile-fail tests: each `tests/ui/<the-mistake>.rs` holds one mistake and its `.stderr` the
//! exact diagnostic; `tests/ui/pass/` holds specs that must compile and run.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test --test ui`, then read
//! every diff: each error must point at the token to change.

#[test]
fn ui() {
    // One `TestCases` for both kinds: with a pass case present, trybuild runs `cargo build`
    // instead of `cargo check` for every file, and only a build evaluates the generated
    // `const { assert!(..) }` length checks (`forward-longer-than-max-len.rs` and friends).
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
