//! The benchmark workloads of `bench/README.md`, and a plain timer over them that
//! `bench/compare.py` runs next to PyTorch and ONNX Runtime:
//!
//! ```text
//! cargo run --release --example bench_workloads -- --threads 1 2 --workloads w1 w2 w3 w4 w5 w6 gemm \
//!     --data target/bench-data
//! ```
//!
//! For each thread count and workload: `--warmup` untimed runs, then `--iters` timed ones, and
//! one line `RESULT {json}` on stdout with the median, min and max in milliseconds, GFLOP/s
//! from the models' `flops(n)`, and the largest difference to PyTorch's output when the data
//! folder holds it. `benches/workloads.rs` runs the same workloads under criterion.
//!
//! | name | what runs |
//! |---|---|
//! | `w1` | the notes' one-head self-attention, 2 tokens of width 4 (`examples/seed_attention.rs`) |
//! | `w2` | `Tiny`, PyTorch's `nn.TransformerEncoder` of width 64, 32 tokens |
//! | `w3`, `w4`, `w5`, `w6` | all-MiniLM-L6-v2 to its last hidden states, 128, 16, 512 and 4 tokens |
//! | `gemm-NxKxM` | `out = x Wᵀ` with `matmul::linear`, `x` `[N][K]`, `W` `[M][K]` |
//!
//! `--workloads gemm` means every GEMM shape. The data folder (`--data`, else `$BENCH_DATA`,
//! else `target/bench-data`) is written by `bench/compare.py`; without it `w2` runs
//! `Tiny::init(W2_SEED)` on a seeded input and nothing is compared.

use std::error::Error;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Parser;
use safetensors::{Dtype, SafeTensors};
use transformer::runtime::Matrix;
use transformer::runtime::ops::linear;
use transformer::runtime::{Options, Rng, Tokens, cpu, threads};
use transformer::transformer;

#[path = "minilm.rs"]
#[expect(dead_code, reason = "only the model and its loader are benchmarked")]
mod minilm;
#[path = "seed_attention.rs"]
#[expect(dead_code, reason = "only the model and its input are benchmarked")]
mod seed;

use minilm::MiniLm;
pub use minilm::model_dir;
use seed::{SeedAttention, X, seed_model};

transformer! {
    /// W2: PyTorch's `nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 256), 2)`,
    /// post-norm, ReLU, LayerNorm eps 1e-5.
    pub Tiny < d_model: 64, heads: 4, layers: 2, d_ff: 256, max_len: 128 >
}

/// Tokens of the W2 input.
pub const W2_LEN: usize = 32;

/// The seed of `Tiny::init` and of the W2 input when the data folder has no PyTorch weights.
pub const W2_SEED: u64 = 0;

/// Every workload, in the order they run; `gemm` on the command line means the last four.
pub const NAMES: [&str; 10] = [
    "w1",
    "w2",
    "w3",
    "w4",
    "w5",
    "w6",
    "gemm-128x384x1536",
    "gemm-16x384x384",
    "gemm-128x1536x384",
    "gemm-1024x1024x1024",
];

/// One benchmark: the name the peers' scripts use for it, and a closure running it once.
pub struct Workload {
    /// One of [`NAMES`].
    pub name: &'static str,
    /// What runs, for the report.
    pub variant: &'static str,
    /// Floating-point operations of one run (a multiply-add counts 2, matrix products only).
    pub flops: u64,
    /// The largest `|ours - PyTorch|` over the output, if the data folder holds PyTorch's.
    pub max_abs_diff: Option<f32>,
    /// Runs the workload once.
    pub run: Box<dyn FnMut()>,
}

/// `--data`, else `$BENCH_DATA`, else `target/bench-data` in this workspace.
#[must_use]
pub fn data_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("BENCH_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data"))
}

/// The MiniLM token ids of `n` tokens: `[CLS]` (101), a fixed pseudo-random run in
/// `1000..30000`, `[SEP]` (102). `bench/workloads.py` draws the same numbers.
#[must_use]
pub fn minilm_ids(n: usize) -> Vec<u32> {
    // Knuth's MMIX linear congruential generator; the top bits are the well-mixed ones.
    let mut state: u64 = 2024;
    let mut ids = vec![101];
    for _ in 1..n.saturating_sub(1) {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ids.push(1000 + ((state >> 33) % 29_000) as u32);
    }
    ids.push(102);
    ids
}

/// The workloads in `names` (each one of [`NAMES`], or `gemm`), in the order of [`NAMES`].
/// `w3` to `w6` are left out, with a message, if the model is not in `model_dir`.
///
/// # Errors
///
/// An unknown name, an unreadable data file, or token ids different from PyTorch's.
pub fn workloads(
    names: &[String],
    data: &Path,
    model_dir: &Path,
) -> Result<Vec<Workload>, Box<dyn Error>> {
    if let Some(unknown) = names
        .iter()
        .find(|n| *n != "gemm" && !NAMES.contains(&n.as_str()))
    {
        return Err(format!(
            "unknown workload `{unknown}`; known: gemm, {}",
            NAMES.join(", ")
        )
        .into());
    }
    let wanted = |name: &str| {
        names
            .iter()
            .any(|n| n == name || (n == "gemm" && name.starts_with("gemm-")))
    };
    let mut list = Vec::new();
    if wanted("w1") {
        list.push(w1(data)?);
    }
    if wanted("w2") {
        list.push(w2(data)?);
    }
    let lens: Vec<_> = [("w3", 128), ("w4", 16), ("w5", 512), ("w6", 4)]
        .into_iter()
        .filter(|(name, _)| wanted(name))
        .collect();
    list.extend(minilm_workloads(&lens, data, model_dir)?);
    list.extend(gemms().into_iter().filter(|g| wanted(g.name)));
    Ok(list)
}

/// W1: `SeedAttention::forward` on the notes' two tokens.
fn w1(data: &Path) -> Result<Workload, Box<dyn Error>> {
    let model = seed_model();
    let out = model.forward(&X);
    let max_abs_diff = reference(&data.join("w1.io.safetensors"), "output")?
        .map(|want| max_abs_diff(out.as_flattened(), &want))
        .transpose()?;
    Ok(Workload {
        name: "w1",
        variant: "SeedAttention::forward",
        flops: SeedAttention::flops(X.len()),
        max_abs_diff,
        run: Box::new(move || {
            black_box(model.forward(black_box(&X)));
        }),
    })
}

/// W2: `Tiny::forward_into` over 32 tokens (in place, with a reused scratch: the
/// allocation-free path), with PyTorch's weights and input if they are in `data`.
fn w2(data: &Path) -> Result<Workload, Box<dyn Error>> {
    let weights = data.join("w2.weights.safetensors");
    let model = if weights.is_file() {
        Tiny::from_safetensors(&weights)?
    } else {
        Tiny::init(W2_SEED)
    };
    let io = data.join("w2.io.safetensors");
    let input = match reference(&io, "input")? {
        Some(flat) => flat,
        None => {
            let mut rng = Rng::new(W2_SEED);
            (0..W2_LEN * Tiny::D_MODEL)
                .map(|_| rng.symmetric(1.0))
                .collect()
        }
    };
    let x: [[f32; Tiny::D_MODEL]; W2_LEN] = input
        .as_chunks()
        .0
        .try_into()
        .map_err(|_| format!("{}: `input` is not {W2_LEN} × 64", io.display()))?;
    let out = model.forward(&x);
    let max_abs_diff = reference(&io, "output")?
        .map(|want| max_abs_diff(out.as_flattened(), &want))
        .transpose()?;
    let mut scratch = Tiny::scratch();
    let mut rows = [[0.0; Tiny::D_MODEL]; W2_LEN];
    Ok(Workload {
        name: "w2",
        variant: "Tiny::forward_into",
        flops: Tiny::flops(W2_LEN),
        max_abs_diff,
        run: Box::new(move || {
            model
                .forward_into(black_box(&x), &Options::new(), &mut rows, &mut scratch)
                .expect("32 tokens fit max_len");
            black_box(&rows);
        }),
    })
}

/// W3 to W6: `MiniLm::forward_tokens_into` (the allocation-free token path) for each
/// `(name, tokens)`; the model loads once.
fn minilm_workloads(
    lens: &[(&'static str, usize)],
    data: &Path,
    model_dir: &Path,
) -> Result<Vec<Workload>, Box<dyn Error>> {
    if lens.is_empty() {
        return Ok(Vec::new());
    }
    if !model_dir.join("model.safetensors").is_file() {
        eprintln!(
            "skipping w3 to w6: no all-MiniLM-L6-v2 in {} (run scripts/fetch-models.sh, or set $MINILM_DIR)",
            model_dir.display()
        );
        return Ok(Vec::new());
    }
    let model = Rc::new(minilm::load(model_dir)?.model);
    let reference_file = data.join("minilm.ref.safetensors");
    let mut list = Vec::new();
    for &(name, n) in lens {
        let ids = minilm_ids(n);
        if let Some(theirs) = reference(&reference_file, &format!("ids_{n}"))? {
            let ours: Vec<f32> = ids.iter().map(|&id| id as f32).collect();
            if theirs != ours {
                return Err(format!("{name}: token ids differ from PyTorch's").into());
            }
        }
        let out = model.forward_tokens_with(Tokens::new(&ids), &Options::new())?;
        let max_abs_diff = reference(&reference_file, &format!("out_{n}"))?
            .map(|want| max_abs_diff(out.as_flattened(), &want))
            .transpose()?;
        let model = Rc::clone(&model);
        let mut scratch = MiniLm::scratch();
        let mut hidden = vec![[0.0f32; MiniLm::D_MODEL]; n];
        list.push(Workload {
            name,
            variant: "MiniLm::forward_tokens_into",
            flops: MiniLm::flops(n),
            max_abs_diff,
            run: Box::new(move || {
                let tokens = Tokens::new(black_box(&ids));
                let ran =
                    model.forward_tokens_into(tokens, &Options::new(), &mut hidden, &mut scratch);
                ran.expect("the same ids ran once at setup");
                black_box(&hidden);
            }),
        });
    }
    Ok(list)
}

/// Every GEMM shape, in the order of [`NAMES`].
fn gemms() -> Vec<Workload> {
    vec![
        gemm::<384, 1536>("gemm-128x384x1536", 128),
        gemm::<384, 384>("gemm-16x384x384", 16),
        gemm::<1536, 384>("gemm-128x1536x384", 128),
        gemm::<1024, 1024>("gemm-1024x1024x1024", 1024),
    ]
}

/// `out = x Wᵀ` with `x` `[n][IN]` and `W` `[OUT][IN]`, both uniform in `[-1, 1)`.
fn gemm<const IN: usize, const OUT: usize>(name: &'static str, n: usize) -> Workload {
    let mut rng = Rng::new(1);
    let mut w = Matrix::<OUT, IN>::zeroed();
    w.as_flattened_mut().fill_with(|| rng.symmetric(1.0));
    let x: Vec<[f32; IN]> = (0..n)
        .map(|_| std::array::from_fn(|_| rng.symmetric(1.0)))
        .collect();
    let mut out = vec![[0.0f32; OUT]; n];
    Workload {
        name,
        variant: "matmul::linear",
        flops: 2 * (n * IN * OUT) as u64,
        max_abs_diff: None,
        run: Box::new(move || {
            linear(black_box(&mut out), black_box(&w), None, black_box(&x));
        }),
    }
}

/// The f32 (or integer, converted) tensor `name` of the safetensors file `path`, or `None`
/// if there is no such file.
fn reference(path: &Path, name: &str) -> Result<Option<Vec<f32>>, Box<dyn Error>> {
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(path)?;
    let file = SafeTensors::deserialize(&bytes)?;
    let tensor = file
        .tensor(name)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let data = tensor.data();
    let values = match tensor.dtype() {
        Dtype::F32 => data
            .as_chunks()
            .0
            .iter()
            .map(|b| f32::from_le_bytes(*b))
            .collect(),
        Dtype::I64 => data
            .as_chunks()
            .0
            .iter()
            .map(|b| i64::from_le_bytes(*b) as f32)
            .collect(),
        other => {
            return Err(format!(
                "{}: `{name}` is {other:?}, expected F32 or I64",
                path.display()
            )
            .into());
        }
    };
    Ok(Some(values))
}

/// `max |got - want|`, or an error if the lengths differ.
fn max_abs_diff(got: &[f32], want: &[f32]) -> Result<f32, String> {
    if got.len() != want.len() {
        return Err(format!(
            "output has {} numbers, PyTorch's {}",
            got.len(),
            want.len()
        ));
    }
    Ok(got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max))
}

/// A sample lasts at least this long: faster workloads run several times per sample, so the
/// clock's own cost stays out of the figure (`bench/peers.py` does the same).
pub const SAMPLE: Duration = Duration::from_micros(200);

/// Runs `run` `warmup` times untimed, then takes `iters` samples of `batch` runs each, where
/// `batch` makes a sample last about [`SAMPLE`]. Returns each sample's milliseconds per run,
/// and `batch`.
pub fn time(run: &mut dyn FnMut(), warmup: usize, iters: usize) -> (Vec<f64>, usize) {
    let mut warm: Vec<Duration> = (0..warmup.max(1))
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    warm.sort();
    let typical = warm[warm.len() / 2].as_nanos().max(1);
    let batch = usize::try_from(SAMPLE.as_nanos().div_ceil(typical)).unwrap_or(usize::MAX);
    let samples = (0..iters)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                run();
            }
            start.elapsed().as_secs_f64() * 1e3 / batch as f64
        })
        .collect();
    (samples, batch)
}

/// Times the workloads of bench/README.md and prints `META {json}`, then one line
/// `RESULT {json}` per thread count and workload, for bench/compare.py.
#[derive(Parser)]
#[command(name = "bench_workloads")]
pub struct Args {
    /// Thread counts, each running every workload in turn
    #[arg(long, num_args = 1.., default_value = "1", value_name = "N", value_parser = positive)]
    pub threads: Vec<usize>,
    /// Workloads: w1, w2, w3, w4, w5, w6, gemm (every GEMM shape) or one gemm-NxKxM of bench/README.md
    #[arg(long, num_args = 1.., default_values = ["w1", "w2", "w3", "w4", "w5", "w6", "gemm"], value_name = "NAME")]
    pub workloads: Vec<String>,
    /// The folder bench/compare.py writes PyTorch's weights and outputs to [default:
    /// $BENCH_DATA, else target/bench-data]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The all-MiniLM-L6-v2 folder [default: $MINILM_DIR, else where
    /// scripts/fetch-models.sh puts it]
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// Untimed runs of each workload before its samples
    #[arg(long, default_value = "5", value_name = "N", value_parser = positive)]
    pub warmup: usize,
    /// Timed samples of each workload
    #[arg(long, default_value = "30", value_name = "N", value_parser = positive)]
    pub iters: usize,
}

/// A count of at least 1.
fn positive(value: &str) -> Result<usize, String> {
    value
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{value}` is not a positive integer"))
}

/// `median, min, max` of `times`.
fn summary(times: &[f64]) -> (f64, f64, f64) {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let median = if sorted.len().is_multiple_of(2) {
        f64::midpoint(sorted[mid - 1], sorted[mid])
    } else {
        sorted[mid]
    };
    (median, sorted[0], sorted[sorted.len() - 1])
}

/// Times every workload at every thread count and prints the `RESULT` lines.
fn run() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    // A TRANSFORMER_KERNEL this CPU cannot obey, or a TRANSFORMER_THREADS that is no thread
    // count, is an error here, before any kernel runs.
    let level = cpu::try_level()?;
    threads::try_get()?;
    let meta = serde_json::json!({
        "peer": "transformer",
        "version": env!("CARGO_PKG_VERSION"),
        "kernel": level.name(),
    });
    println!("META {meta}");
    let data = data_dir(args.data);
    let model_dir = model_dir(args.model_dir);
    let mut list = workloads(&args.workloads, &data, &model_dir)?;
    for &n in &args.threads {
        threads::set(n);
        for workload in &mut list {
            let (times, batch) = time(&mut workload.run, args.warmup, args.iters);
            let (median, min, max) = summary(&times);
            let result = serde_json::json!({
                "peer": "transformer",
                "workload": workload.name,
                "variant": workload.variant,
                "threads": n,
                "iters": times.len(),
                "batch": batch,
                "median_ms": median,
                "min_ms": min,
                "max_ms": max,
                "gflops": workload.flops as f64 / median / 1e6,
                "max_abs_diff": workload.max_abs_diff,
            });
            println!("RESULT {result}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
