//! The worked example of the notes, number for number: every step of
//! `examples/seed_attention.rs` and the generated forward pass.

#[path = "../examples/seed_attention.rs"]
#[expect(
    dead_code,
    reason = "`main` parses the command line, here the test harness's; the tests call `run`"
)]
mod seed;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use clap::Parser;
use clap::error::ErrorKind;
use seed::{SeedAttention, X, seed_model, steps};
use transformer::runtime::Options;

#[test]
fn every_step_matches_the_notes_exactly() {
    let s = steps(&seed_model());
    assert_eq!(s.q, [[23.0, 49.0, 45.0, 28.0], [33.0, 66.0, 66.0, 40.0]]);
    assert_eq!(s.k, [[40.0, 39.0, 36.0, 20.0], [59.0, 48.0, 59.0, 28.0]]);
    assert_eq!(s.v, [[51.0, 36.0, 45.0, 46.0], [68.0, 53.0, 63.0, 58.0]]);
    // Token 1: (23·40 + 49·39 + 45·36 + 28·20) / √4 = 2505.5, and 3574 for key 2.
    assert_eq!(s.scores, [[2505.5, 3574.0], [3535.0, 5064.5]]);
    assert_eq!(s.weights, [[0.0, 1.0], [0.0, 1.0]]);
    assert_eq!(s.attention, [[68.0, 53.0, 63.0, 58.0]; 2]);
    assert_eq!(
        s.output,
        [[74.0, 54.0, 67.0, 62.0], [76.0, 57.0, 69.0, 61.0]]
    );
}

#[test]
fn the_run_time_and_caller_owned_paths_give_the_same_numbers() {
    let model = seed_model();
    let want = [[74.0, 54.0, 67.0, 62.0], [76.0, 57.0, 69.0, 61.0]];
    assert_eq!(model.forward_with(&X, &Options::new()).unwrap(), want);
    let mut out = [[0.0; 4]; 2];
    model
        .forward_into(&X, &Options::new(), &mut out, &mut SeedAttention::scratch())
        .unwrap();
    assert_eq!(out, want);
}

#[test]
fn the_seed_model_has_only_its_three_matrices() {
    assert_eq!(SeedAttention::PARAMETERS, 3 * 16);
    assert_eq!(
        (
            SeedAttention::D_MODEL,
            SeedAttention::HEADS,
            SeedAttention::D_HEAD
        ),
        (4, 1, 4)
    );
}

#[test]
fn the_example_runs() {
    assert_eq!(seed::run(), std::process::ExitCode::SUCCESS);
}

#[test]
fn the_example_answers_help_and_takes_no_arguments() {
    let help = seed::Args::try_parse_from(["seed_attention", "--help"]);
    assert_eq!(help.err().map(|e| e.kind()), Some(ErrorKind::DisplayHelp));
    let not_utf8 = OsString::from_vec(b"caf\xFF".to_vec());
    let args = seed::Args::try_parse_from([OsString::from("seed_attention"), not_utf8]);
    assert_eq!(
        args.err().map(|e| e.kind()),
        Some(ErrorKind::UnknownArgument)
    );
}
