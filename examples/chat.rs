//! Chat with SmolLM2-135M-Instruct, declared with `transformer!` and loaded from its GGUF
//! file: the prompt goes through the file's own chat template, the answer streams as it is
//! generated, token by token through the key/value cache.
//!
//! ```text
//! scripts/fetch-models.sh
//! cargo run --release --example chat -- "What is the capital of France?"
//! cargo run --release --example chat -- --raw --max-new-tokens 40 "Once upon a time"
//! cargo run --release --example chat -- --temperature 0.7 --top-p 0.9 --seed 3 "Tell me a joke"
//! cargo run --release --example chat -- --json "What is 2 + 2?"
//! ```
//! The answer goes to stdout as it comes; the prefill time and the tokens per second go to
//! stderr. With `--json`, stdout holds one JSON object instead: `prompt_ids`,
//! `generated_ids` (up to and including the stop token, if one came), `text`, `stop`
//! (`eos` or `max_new_tokens`), and the timings. `--model PATH` points at another file of
//! the same model; by default it is where `scripts/fetch-models.sh` puts it.

use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use transformer::runtime::gguf::GgufFile;
use transformer::runtime::sample::{Sampler, SamplingOptions, Stop, StopReason};
use transformer::text::{GgufVocab, Message, Tokenizer, model_cache_dir};
use transformer::transformer;

transformer! {
    /// SmolLM2-135M-Instruct: a 30-layer Llama-shaped decoder with grouped-query attention.
    pub SmolLm2 < kind: decoder, vocab: 49152, d_model: 576, heads: 9, kv_heads: 3, layers: 30,
                  d_ff: 1536, max_len: 8192, norm: pre, norm_kind: rms, eps: 1e-5,
                  final_norm: true, positional: rope, rope_theta: 100000, gated: true,
                  activation: silu, bias: false, lm_head: tied, weights: llama >
}

/// The file `scripts/fetch-models.sh` fetches, in its cache folder.
const FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Chats with SmolLM2-135M-Instruct, streaming its answer.
#[derive(Parser)]
#[command(name = "chat")]
pub struct Args {
    /// The message to answer (with --raw, the text to continue)
    #[arg(value_name = "PROMPT")]
    pub prompt: String,
    /// Continue the prompt as given, without the chat template
    #[arg(long)]
    pub raw: bool,
    /// The most tokens to generate
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_new_tokens: usize,
    /// Sampling temperature; 0 picks the most likely token every time (greedy)
    #[arg(long, default_value_t = 0.0, value_name = "T")]
    pub temperature: f32,
    /// Sample among the K most likely tokens only (0: all)
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub top_k: usize,
    /// Sample among the most likely tokens whose probabilities add up to P
    #[arg(long, default_value_t = 1.0, value_name = "P")]
    pub top_p: f32,
    /// Drop tokens less likely than this fraction of the most likely one
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub min_p: f32,
    /// Divide (multiply, if negative) the logits of tokens already seen by this
    #[arg(long, default_value_t = 1.0, value_name = "R")]
    pub repetition_penalty: f32,
    /// Seed of the sampler: the same seed gives the same tokens on every platform
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub seed: u64,
    /// The GGUF file [default: where scripts/fetch-models.sh puts SmolLM2-135M-Instruct]
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Print one JSON object (ids, text, timings) instead of streaming the text
    #[arg(long)]
    pub json: bool,
}

impl Args {
    fn sampling(&self) -> SamplingOptions {
        SamplingOptions {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repetition_penalty: self.repetition_penalty,
            seed: self.seed,
        }
    }
}

/// `--model`, else the file in the cache of `scripts/fetch-models.sh`.
pub fn model_path(arg: Option<PathBuf>) -> PathBuf {
    arg.unwrap_or_else(|| model_cache_dir("SmolLM2-135M-Instruct").join(FILE))
}

/// The model, its tokenizer and its end-of-sequence ids, from one GGUF file.
pub struct Chat {
    /// The weights, dequantized to `f32`.
    pub model: SmolLm2,
    /// The file's byte-level BPE vocabulary and chat template.
    pub tokenizer: Tokenizer,
    /// The file's `tokenizer.ggml.eos_token_id`, if it has one.
    pub eos: Vec<u32>,
}

/// The model and its tokenizer from the GGUF file at `path`, or which command fetches it.
pub fn load(path: &Path) -> Result<Chat, Box<dyn Error>> {
    if !path.is_file() {
        return Err(format!(
            "SmolLM2-135M-Instruct not found: {} does not exist\nhelp: fetch it with \
             `scripts/fetch-models.sh`, or point --model at the GGUF file",
            path.display()
        )
        .into());
    }
    let vocab = GgufVocab::from_gguf(&GgufFile::open(path)?)?;
    Ok(Chat {
        tokenizer: Tokenizer::from_gguf_metadata(&vocab)?,
        eos: vocab.eos.into_iter().collect(),
        model: SmolLm2::from_gguf(path)?,
    })
}

/// What one generation produced.
pub struct Generation {
    /// The prompt's ids (the chat template rendered, unless `--raw`).
    pub prompt_ids: Vec<u32>,
    /// The ids generated, up to and including the stop token if one came.
    pub generated_ids: Vec<u32>,
    /// Their text, special tokens left out.
    pub text: String,
    /// Why generation stopped.
    pub stop: StopReason,
    /// Reading the prompt.
    pub prefill_seconds: f64,
    /// Generating, after the prompt.
    pub decode_seconds: f64,
}

/// Generates the answer to `args.prompt`, calling `on_text` with each piece of text as it
/// comes (whole characters only).
pub fn generate(
    chat: &Chat,
    args: &Args,
    mut on_text: impl FnMut(&str) -> std::io::Result<()>,
) -> Result<Generation, Box<dyn Error>> {
    let Chat {
        model,
        tokenizer,
        eos,
    } = chat;
    let prompt_ids = if args.raw {
        tokenizer.encode(&args.prompt, true)?
    } else {
        let rendered = tokenizer
            .chat_template()?
            .render(&[Message::user(&args.prompt)], true)?;
        tokenizer.encode(&rendered, false)?
    };
    let capacity = prompt_ids.len() + args.max_new_tokens;
    if capacity > SmolLm2::MAX_LEN {
        return Err(format!(
            "the prompt ({} tokens) and --max-new-tokens ({}) add up to {capacity} tokens, \
             more than the model's {}\nhelp: shorten the prompt or lower --max-new-tokens",
            prompt_ids.len(),
            args.max_new_tokens,
            SmolLm2::MAX_LEN
        )
        .into());
    }
    let mut sampler = Sampler::new(args.sampling())?;
    let stop = Stop {
        eos: eos.clone(),
        max_new_tokens: args.max_new_tokens,
    };
    let mut cache = SmolLm2::cache(capacity.max(1))?;
    let mut stream = tokenizer.stream(true);
    let mut text = String::new();
    let mut seen = prompt_ids.clone();
    let mut generated_ids = Vec::new();

    let start = Instant::now();
    let mut logits = model.prefill(&mut cache, &prompt_ids)?;
    let prefill_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let reason = loop {
        if let Some(reason) = stop.reason(&generated_ids) {
            break reason;
        }
        let id = sampler.sample(&logits[..], &seen)?;
        generated_ids.push(id);
        seen.push(id);
        if let Some(piece) = stream.push(id)? {
            on_text(&piece)?;
            text += &piece;
        }
        if stop.should_stop(&generated_ids) {
            continue;
        }
        logits = model.step(&mut cache, id)?;
    };
    if let Some(rest) = stream.flush()? {
        on_text(&rest)?;
        text += &rest;
    }
    Ok(Generation {
        prompt_ids,
        generated_ids,
        text,
        stop: reason,
        prefill_seconds,
        decode_seconds: start.elapsed().as_secs_f64(),
    })
}

fn json(generation: &Generation) -> String {
    let stop = match generation.stop {
        StopReason::Eos(_) => "eos",
        StopReason::MaxNewTokens => "max_new_tokens",
    };
    serde_json::json!({
        "prompt_ids": generation.prompt_ids,
        "generated_ids": generation.generated_ids,
        "text": generation.text,
        "stop": stop,
        "prefill_seconds": generation.prefill_seconds,
        "decode_seconds": generation.decode_seconds,
    })
    .to_string()
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    transformer::runtime::threads::try_get()?;
    let chat = load(&model_path(args.model.clone()))?;
    let stdout = std::io::stdout();
    let generation = generate(&chat, args, |piece| {
        if args.json {
            return Ok(());
        }
        let mut out = stdout.lock();
        out.write_all(piece.as_bytes())?;
        out.flush()
    })?;
    if args.json {
        println!("{}", json(&generation));
    } else {
        println!();
    }
    let tokens = generation.generated_ids.len();
    eprintln!(
        "prefill: {} tokens in {:.1} ms; decode: {tokens} tokens in {:.2} s, {:.1} tokens/s ({} threads, {} kernels)",
        generation.prompt_ids.len(),
        generation.prefill_seconds * 1e3,
        generation.decode_seconds,
        tokens as f64 / generation.decode_seconds.max(1e-9),
        transformer::runtime::threads::get(),
        transformer::runtime::cpu::level(),
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
