//! The command lines of `bench_workloads` and `load_pytorch`: `--help` answers, and an
//! argument that is not UTF-8 is an error (exit code 2 from clap), never a panic. Only their
//! `Args` are parsed; no model loads. `tests/seed_attention.rs` and `tests/minilm.rs` check
//! the other two examples' (including them here too would compile them twice).

#[path = "../examples/bench_workloads.rs"]
#[expect(dead_code, reason = "only the command line is tested")]
mod bench_workloads;
#[path = "../examples/load_pytorch.rs"]
#[expect(dead_code, reason = "only the command line is tested")]
mod load_pytorch;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use clap::Parser;
use clap::error::ErrorKind;

/// `0xFF` never occurs in UTF-8.
fn not_utf8() -> OsString {
    OsString::from_vec(b"caf\xFF".to_vec())
}

/// Parses `args` after the program's name.
fn parse<P: Parser, A: Into<OsString> + Clone>(args: &[A]) -> Result<P, clap::Error> {
    let name = OsString::from("example");
    P::try_parse_from(std::iter::once(name).chain(args.iter().cloned().map(Into::into)))
}

/// The kind of error parsing `args` gives, `None` if they parse.
fn error_kind<P: Parser, A: Into<OsString> + Clone>(args: &[A]) -> Option<ErrorKind> {
    parse::<P, A>(args).err().map(|e| e.kind())
}

#[test]
fn both_answer_help() {
    let help = Some(ErrorKind::DisplayHelp);
    assert_eq!(error_kind::<load_pytorch::Args, _>(&["--help"]), help);
    assert_eq!(error_kind::<bench_workloads::Args, _>(&["--help"]), help);
}

#[test]
fn a_non_utf8_argument_is_an_error() {
    for flag in ["--workloads", "--threads", "--warmup"] {
        let args = [flag.into(), not_utf8()];
        let kind = error_kind::<bench_workloads::Args, _>(&args);
        assert_eq!(kind, Some(ErrorKind::InvalidUtf8), "{flag}");
    }
}

#[test]
fn a_non_utf8_path_is_a_path_not_an_error() {
    let args = parse::<load_pytorch::Args, _>(&[not_utf8()]).unwrap();
    assert_eq!(args.weights, Some(PathBuf::from(not_utf8())));
    let args = parse::<bench_workloads::Args, _>(&["--data".into(), not_utf8()]).unwrap();
    assert_eq!(args.data, Some(PathBuf::from(not_utf8())));
}

#[test]
fn bench_workloads_keeps_its_flags_and_defaults() {
    let args = parse::<bench_workloads::Args, &str>(&[]).unwrap();
    assert_eq!(args.threads, [1]);
    assert_eq!(args.workloads, ["w1", "w2", "w3", "w4", "w5", "w6", "gemm"]);
    assert_eq!((args.warmup, args.iters), (5, 30));
    let flags = "--data d --threads 1 2 --warmup 2 --iters 3 --workloads w2 gemm --model-dir m";
    let flags: Vec<&str> = flags.split(' ').collect();
    let args = parse::<bench_workloads::Args, _>(&flags).unwrap();
    assert_eq!(args.threads, [1, 2]);
    assert_eq!(args.workloads, ["w2", "gemm"]);
    assert_eq!((args.warmup, args.iters), (2, 3));
    assert_eq!(args.data, Some(PathBuf::from("d")));
    assert_eq!(args.model_dir, Some(PathBuf::from("m")));
    let zero = error_kind::<bench_workloads::Args, _>(&["--threads", "0"]);
    assert_eq!(zero, Some(ErrorKind::ValueValidation));
}
