//! Times SmolLM2-135M-Instruct's prefill and decoding, for `bench/decode.py`: prints one JSON
//! object with the median prefill time of 16 and 128 tokens and the median time of a decoding
//! step (greedy, after a 16-token prompt), over `--iters` runs.
//!
//! ```text
//! scripts/fetch-models.sh
//! TRANSFORMER_THREADS=1 cargo run --release --example bench_decode
//! ```

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use transformer::text::model_cache_dir;
use transformer::transformer;

transformer! {
    /// SmolLM2-135M-Instruct.
    pub SmolLm2 < kind: decoder, vocab: 49152, d_model: 576, heads: 9, kv_heads: 3, layers: 30,
                  d_ff: 1536, max_len: 8192, norm: pre, norm_kind: rms, eps: 1e-5,
                  final_norm: true, positional: rope, rope_theta: 100000, gated: true,
                  activation: silu, bias: false, lm_head: tied, weights: llama >
}

/// Times SmolLM2's prefill and decoding.
#[derive(Parser)]
#[command(name = "bench_decode")]
pub struct Args {
    /// The GGUF file [default: where scripts/fetch-models.sh puts SmolLM2-135M-Instruct]
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Timed runs of each measurement (the median is printed)
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Decoding steps per run
    #[arg(long, default_value_t = 64)]
    pub steps: usize,
}

/// The prompt: `n` fixed ids, as `bench/decode.py` gives PyTorch.
fn prompt(n: usize) -> Vec<u32> {
    (0..n as u32).map(|i| 100 + 7 * i).collect()
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The first index of the largest logit.
fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let threads = transformer::runtime::threads::try_get()?;
    let path = args.model.clone().unwrap_or_else(|| {
        model_cache_dir("SmolLM2-135M-Instruct").join("SmolLM2-135M-Instruct.Q4_1.gguf")
    });
    let model = SmolLm2::from_gguf(&path)
        .map_err(|e| format!("{}: {e}\nhelp: run scripts/fetch-models.sh", path.display()))?;
    let iters = args.iters.max(1);
    let mut prefill = Vec::new();
    for n in [16, 128] {
        let ids = prompt(n);
        let mut samples = Vec::new();
        for _ in 0..iters + 1 {
            let mut cache = SmolLm2::cache(n)?;
            let start = Instant::now();
            model.prefill(&mut cache, &ids)?;
            samples.push(start.elapsed().as_secs_f64());
        }
        samples.remove(0); // the first run warms up
        prefill.push(median(samples));
    }
    let mut step = Vec::new();
    for _ in 0..iters {
        let mut cache = SmolLm2::cache(16 + args.steps)?;
        let mut logits = model.prefill(&mut cache, &prompt(16))?;
        let start = Instant::now();
        for _ in 0..args.steps {
            logits = model.step(&mut cache, argmax(&logits[..]))?;
        }
        step.push(start.elapsed().as_secs_f64() / args.steps as f64);
    }
    println!(
        "{}",
        serde_json::json!({
            "threads": threads,
            "kernel": transformer::runtime::cpu::level().to_string(),
            "prefill_16_ms": prefill[0] * 1e3,
            "prefill_128_ms": prefill[1] * 1e3,
            "step_ms": median(step) * 1e3,
        })
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
