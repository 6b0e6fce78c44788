//! Loads an `nn.Transformer` that PyTorch saved (`safetensors.torch.save_file(model.state_dict(),
//! …)`) into a model declared with `transformer!`, runs it, and compares the output with
//! PyTorch's. Trains nothing.
//!
//! ```text
//! cargo run --release --example load_pytorch [WEIGHTS [IO]]
//! ```
//! Defaults to the fixture `tests/fixtures/transformer_full.*.safetensors`, written by
//! `tools/reference/make_fixtures.py`: `nn.Transformer(d_model=16, nhead=2,
//! num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=20)`.

use std::error::Error;
use std::path::PathBuf;

use clap::Parser;
use transformer::runtime::Options;
use transformer::runtime::load::{Loader, Strictness, read_file};
use transformer::transformer;

transformer! {
    /// PyTorch's `nn.Transformer(d_model=16, nhead=2, num_encoder_layers=2,
    /// num_decoder_layers=1, dim_feedforward=20)`: post-norm, ReLU, final norms on both stacks.
    pub Translator < kind: encoder_decoder, d_model: 16, heads: 2, encoder_layers: 2,
                     decoder_layers: 1, d_ff: 20, max_len: 64 >
}

/// Reads tensor `name` of `rows` rows of width 16 from the inputs-and-outputs file.
fn rows(io: &[u8], name: &str, rows: usize) -> Result<Vec<[f32; 16]>, Box<dyn Error>> {
    let mut out = vec![[0.0f32; 16]; rows];
    let mut loader = Loader::new(io)?;
    loader.read(name, &[1, rows, 16], out.as_flattened_mut());
    loader.finish(Strictness::Lenient)?;
    Ok(out)
}

/// Loads a PyTorch `nn.Transformer(d_model=16, nhead=2, num_encoder_layers=2,
/// num_decoder_layers=1, dim_feedforward=20)` saved as safetensors, runs it, and compares the
/// output with PyTorch's.
#[derive(Parser)]
#[command(name = "load_pytorch")]
pub struct Args {
    /// The model's weights [default: tests/fixtures/transformer_full.weights.safetensors]
    pub weights: Option<PathBuf>,
    /// The inputs `src` and `tgt` and PyTorch's output `out`
    /// [default: tests/fixtures/transformer_full.io.safetensors]
    pub io: Option<PathBuf>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    // A TRANSFORMER_KERNEL this CPU cannot obey, or a TRANSFORMER_THREADS that is no thread
    // count, is an error here, before any kernel runs.
    transformer::runtime::cpu::try_level()?;
    transformer::runtime::threads::try_get()?;
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let weights = args
        .weights
        .unwrap_or_else(|| fixtures.join("transformer_full.weights.safetensors"));
    let io_path = args
        .io
        .unwrap_or_else(|| fixtures.join("transformer_full.io.safetensors"));

    let model = Translator::from_safetensors(&weights)?;
    println!(
        "loaded {} ({} parameters)\n",
        weights.display(),
        Translator::PARAMETERS
    );
    println!("{model}\n");

    let io = read_file(&io_path)?;
    let (source, target, expected) = (
        rows(&io, "src", 6)?,
        rows(&io, "tgt", 4)?,
        rows(&io, "out", 4)?,
    );
    let output = model.forward_with(&source, &target, &Options::new())?;
    let mut worst = 0.0f32;
    for (t, (got, want)) in output.iter().zip(&expected).enumerate() {
        let error = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        worst = worst.max(error);
        println!(
            "target token {t}: {:>9.5?}…  (max |Δ| vs PyTorch {error:.1e})",
            &got[..4]
        );
    }
    println!("\nlargest difference from PyTorch's output: {worst:.2e}");
    Ok(())
}
