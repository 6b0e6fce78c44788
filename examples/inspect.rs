//! Prints the `transformer!` declaration of the model in a weights file, ready to paste, with
//! its parameter count and weight bytes.
//!
//! ```text
//! cargo run --example inspect -- SmolLM2-135M-Instruct.Q4_1.gguf
//! cargo run --example inspect -- path/to/model.safetensors   # reads config.json beside it
//! ```
//! A GGUF file of llama.cpp's `llama` architecture declares a Llama-shaped decoder from its
//! metadata; a safetensors file is described by the Hugging Face `config.json` in its folder
//! (`model_type` `llama` or `gpt2`).

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use serde_json::Value;
use transformer::runtime::gguf::{GgufFile, LlamaSpec};

/// Prints the `transformer!` declaration that matches a weights file.
#[derive(Parser)]
#[command(name = "inspect")]
pub struct Args {
    /// A `.gguf` file, or a `.safetensors` file with its `config.json` beside it
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The model's name in the declaration [default: from the file's name]
    #[arg(long)]
    pub name: Option<String>,
}

/// `SmolLM2-135M-Instruct.Q4_1.gguf` → `SmolLM2135MInstruct`: the file's stem before its
/// first dot, its words capitalised and joined; `Model` if nothing is left or it starts
/// with a digit.
pub fn type_name(path: &Path) -> String {
    let stem = path
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.split('.').next())
        .unwrap_or_default();
    let name: String = stem
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    match name.chars().next() {
        Some(first) if first.is_ascii_alphabetic() => name,
        _ => format!("Model{name}"),
    }
}

/// What the declaration is followed by: learned numbers and bytes.
struct Sizes {
    parameters: u64,
    file_bytes: u64,
    /// Tensors by stored type, for the summary line.
    types: BTreeMap<String, usize>,
}

/// The declaration and sizes of a GGUF file.
fn gguf(path: &Path, name: &str) -> Result<(String, Sizes), Box<dyn Error>> {
    let file = GgufFile::open(path)?;
    let spec = LlamaSpec::read(&file)?;
    let mut types = BTreeMap::new();
    let (mut parameters, mut file_bytes) = (0u64, 0u64);
    for tensor in file.tensors() {
        parameters += tensor.n_values() as u64;
        file_bytes += tensor.byte_size() as u64;
        *types
            .entry(tensor.ggml_type().name().to_owned())
            .or_insert(0) += 1;
    }
    let sizes = Sizes {
        parameters,
        file_bytes,
        types,
    };
    Ok((spec.declaration(name), sizes))
}

/// `Err` naming what a Llama `config.json` asks for that a Llama-shaped spec does not have:
/// RoPE scaling, biases, another activation, a head width other than `d_model / heads`.
fn unsupported_llama(config: &Value) -> Result<(), Box<dyn Error>> {
    let rope_type = config["rope_parameters"]["rope_type"]
        .as_str()
        .or(config["rope_scaling"]["rope_type"].as_str())
        .or(config["rope_scaling"]["type"].as_str())
        .unwrap_or("default");
    let width = config["hidden_size"].as_u64().unwrap_or(0);
    let heads = config["num_attention_heads"].as_u64().unwrap_or(1).max(1);
    let problems = [
        (
            rope_type != "default",
            format!("RoPE scaling `{rope_type}`"),
        ),
        (
            config["attention_bias"].as_bool() == Some(true),
            "`attention_bias: true`".into(),
        ),
        (
            config["mlp_bias"].as_bool() == Some(true),
            "`mlp_bias: true`".into(),
        ),
        (
            config["hidden_act"]
                .as_str()
                .is_some_and(|act| act != "silu"),
            format!("`hidden_act: {}`", config["hidden_act"]),
        ),
        (
            config["head_dim"]
                .as_u64()
                .is_some_and(|d| d != width / heads),
            format!(
                "`head_dim: {}` (not hidden_size / num_attention_heads)",
                config["head_dim"]
            ),
        ),
    ];
    let found: Vec<String> = problems
        .into_iter()
        .filter_map(|(problem, what)| problem.then_some(what))
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "config.json asks for what a Llama-shaped spec cannot declare yet: {}",
            found.join(", ")
        )
        .into())
    }
}

/// The declaration and sizes of a safetensors file, from the `config.json` beside it.
fn safetensors(path: &Path, name: &str) -> Result<(String, Sizes), Box<dyn Error>> {
    let config_path = path.with_file_name("config.json");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).map_err(|e| {
            format!(
                "{}: {e} (a safetensors file is described by the config.json beside it)",
                config_path.display()
            )
        })?)?;
    let int = |key: &str| -> Result<u64, Box<dyn Error>> {
        config[key]
            .as_u64()
            .ok_or_else(|| format!("config.json has no integer `{key}`").into())
    };
    let tied = config["tie_word_embeddings"].as_bool().unwrap_or(true);
    let head = if tied { "tied" } else { "separate" };
    let model_type = config["model_type"].as_str().unwrap_or("none");
    let declaration = match model_type {
        "llama" => {
            unsupported_llama(&config)?;
            let rope = &config["rope_parameters"];
            let theta = config["rope_theta"]
                .as_f64()
                .or(rope["rope_theta"].as_f64());
            let spec = LlamaSpec {
                layers: int("num_hidden_layers")? as usize,
                d_model: int("hidden_size")? as usize,
                d_ff: int("intermediate_size")? as usize,
                heads: int("num_attention_heads")? as usize,
                kv_heads: int("num_key_value_heads").or_else(|_| int("num_attention_heads"))?
                    as usize,
                rope_theta: theta.unwrap_or(10_000.0) as f32,
                eps: config["rms_norm_eps"].as_f64().unwrap_or(1e-6) as f32,
                vocab: int("vocab_size")? as usize,
                max_len: int("max_position_embeddings")? as usize,
                tied_head: Some(tied),
            };
            spec.declaration(name)
        }
        "gpt2" => format!(
            "transformer! {{\n    pub {name} < kind: decoder, vocab: {}, d_model: {}, heads: {}, layers: {},\n        \
             d_ff: {}, max_len: {}, norm: pre, eps: {:e}, final_norm: true, positional: learned,\n        \
             activation: gelu_tanh, lm_head: {head}, weights: gpt2 >\n}}",
            int("vocab_size")?,
            int("n_embd")?,
            int("n_head")?,
            int("n_layer")?,
            config["n_inner"].as_u64().unwrap_or(4 * int("n_embd")?),
            int("n_positions")?,
            config["layer_norm_epsilon"].as_f64().unwrap_or(1e-5) as f32,
        ),
        other => {
            return Err(format!(
                "config.json's `model_type` is \"{other}\": inspect declares `llama` and `gpt2` decoders \
                 (for a BERT encoder see examples/minilm.rs)"
            )
            .into());
        }
    };
    let bytes = std::fs::read(path)?;
    let header = safetensors::SafeTensors::read_metadata(&bytes)?.1;
    let mut types = BTreeMap::new();
    let mut parameters = 0u64;
    for info in header.tensors().values() {
        parameters += info.shape.iter().product::<usize>() as u64;
        *types.entry(format!("{:?}", info.dtype)).or_insert(0) += 1;
    }
    let sizes = Sizes {
        parameters,
        file_bytes: bytes.len() as u64,
        types,
    };
    Ok((declaration, sizes))
}

/// The declaration of the model in `file`, named `name`, and the line that follows it.
pub fn describe(file: &Path, name: &str) -> Result<(String, String), Box<dyn Error>> {
    let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    let (declaration, sizes) = match extension {
        "gguf" => gguf(file, name)?,
        "safetensors" => safetensors(file, name)?,
        _ => {
            return Err(format!(
                "{}: not a .gguf or .safetensors file\nhelp: pass a GGUF file, or a \
                 model.safetensors with its config.json beside it",
                file.display()
            )
            .into());
        }
    };
    let types: Vec<String> = sizes
        .types
        .iter()
        .map(|(ty, count)| format!("{count} {ty}"))
        .collect();
    let summary = format!(
        "// {} parameters; {:.1} MB in the file ({}), {:.1} MB as f32 once loaded",
        sizes.parameters,
        sizes.file_bytes as f64 / 1e6,
        types.join(", "),
        sizes.parameters as f64 * 4.0 / 1e6,
    );
    Ok((declaration, summary))
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let name = args.name.clone().unwrap_or_else(|| type_name(&args.file));
    let (declaration, summary) = describe(&args.file, &name)?;
    println!("{declaration}\n{summary}");
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
