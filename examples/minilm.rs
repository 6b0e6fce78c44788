//! Sentence embeddings with all-MiniLM-L6-v2, declared with `transformer!` and loaded from
//! the model's own folder with `from_pretrained` (weights, tokenizer, pooling).
//!
//! ```text
//! scripts/fetch-models.sh
//! cargo run --release --example minilm -- "query" "first passage" "second passage" ...
//! cargo run --release --example minilm -- --json "a sentence" "another"
//! ```
//! Prints the cosine similarity of the first sentence to each other one, highest first; with
//! `--json`, one JSON array of embeddings (384 floats per sentence, in input order) and
//! nothing else. `--model-dir DIR` or `$MINILM_DIR` point at the model folder; by default it
//! is where `scripts/fetch-models.sh` puts it. `--help` says so too.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use transformer::prelude::*;
use transformer::runtime::pooling::cosine_similarity;
use transformer::text::{Pretrained, model_cache_dir};

transformer! {
    /// all-MiniLM-L6-v2: a 6-layer BERT encoder, as Hugging Face's `BertModel` names it.
    pub MiniLm < vocab: 30522, d_model: 384, heads: 12, layers: 6, d_ff: 1536, max_len: 512,
                 positional: learned, token_types: 2, embed_norm: true, activation: gelu,
                 eps: 1e-12, weights: bert >
}

/// The model's folder name in the cache of `scripts/fetch-models.sh`.
pub const MODEL: &str = "all-MiniLM-L6-v2";

/// `--model-dir`, else `$MINILM_DIR`, else the cache of `scripts/fetch-models.sh`.
pub fn model_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("MINILM_DIR").map(PathBuf::from))
        .unwrap_or_else(|| model_cache_dir(MODEL))
}

/// The model folder `dir`, loaded with `from_pretrained`, or which command fetches it.
pub fn load(dir: &Path) -> Result<Pretrained<MiniLm>, Box<dyn Error>> {
    let weights = dir.join("model.safetensors");
    if !weights.is_file() {
        return Err(format!(
            "{MODEL} not found: {} does not exist\nhelp: fetch it with `scripts/fetch-models.sh`, \
             or point --model-dir (or $MINILM_DIR) at a folder holding model.safetensors and tokenizer.json",
            weights.display()
        )
        .into());
    }
    Ok(MiniLm::from_pretrained(dir)?)
}

/// Embeds sentences with all-MiniLM-L6-v2 and prints the cosine similarity of the first to
/// each other one, highest first.
#[derive(Parser)]
#[command(name = "minilm")]
pub struct Args {
    /// Print one JSON array of embeddings (384 floats per sentence, in input order) instead
    #[arg(long)]
    pub json: bool,
    /// The model folder (model.safetensors, tokenizer.json, config.json, …) [default: $MINILM_DIR, else
    /// where scripts/fetch-models.sh puts it]
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// The query, then the sentences to compare with it; after `--`, sentences may start
    /// with `-`
    #[arg(required = true, value_name = "SENTENCE")]
    pub sentences: Vec<String>,
}

/// `[[0.1,-0.2,…],[…]]`: each float printed in the shortest form that reads back exactly.
fn to_json(embeddings: &[[f32; MiniLm::D_MODEL]]) -> String {
    let rows: Vec<String> = embeddings
        .iter()
        .map(|e| {
            format!(
                "[{}]",
                e.iter().map(f32::to_string).collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    format!("[{}]", rows.join(","))
}

/// Runs the example; `Err` is printed to stderr.
pub fn run() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    // A TRANSFORMER_KERNEL this CPU cannot obey, or a TRANSFORMER_THREADS that is no thread
    // count, is an error here, before any kernel runs.
    transformer::runtime::cpu::try_level()?;
    transformer::runtime::threads::try_get()?;
    let minilm = load(&model_dir(args.model_dir))?;
    let sentences: Vec<&str> = args.sentences.iter().map(String::as_str).collect();
    let embeddings = minilm.encode(&sentences)?;
    if args.json {
        println!("{}", to_json(&embeddings));
        return Ok(());
    }
    let mut ranked: Vec<(f32, &str)> = embeddings[1..]
        .iter()
        .zip(&sentences[1..])
        .map(|(e, s)| (cosine_similarity(&embeddings[0], e), *s))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("query: {:?}", sentences[0]);
    for (score, sentence) in ranked {
        println!("{score:>8.4}  {sentence:?}");
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
