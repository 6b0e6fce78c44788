//! The worked self-attention example from the notes the project started from, declared with
//! `transformer!` and printed step by step: Q, K, V, scaled scores, softmax weights, the
//! attention output, and the residual output `X + attention`.
//!
//! Run with `cargo run --release --example seed_attention`; it takes no arguments.

use std::process::ExitCode;

use clap::Parser;
use transformer::runtime::ops::softmax;
use transformer::runtime::ops::{dot, linear};
use transformer::transformer;

transformer! {
    /// One head of self-attention over 4 features with a residual connection, and nothing
    /// else: no norms, no feed-forward, no output projection, no biases.
    pub SeedAttention < d_model: 4, heads: 1, layers: 1, max_len: 2,
                        norm: none, ffn: false, out_proj: false, bias: false >
}

/// The input embeddings: token 1 and token 2.
pub const X: [[f32; 4]; 2] = [[6.0, 1.0, 4.0, 4.0], [8.0, 4.0, 6.0, 3.0]];

/// The notes multiply row vectors on the right, `Q = X · W_Q`, so `W_Q` is `[in][out]`.
const W_Q: [[f32; 4]; 4] = [
    [1.0, 4.0, 3.0, 1.0],
    [1.0, 1.0, 3.0, 2.0],
    [3.0, 4.0, 4.0, 3.0],
    [1.0, 2.0, 2.0, 2.0],
];
const W_K: [[f32; 4]; 4] = [
    [2.0, 1.0, 2.0, 1.0],
    [4.0, 1.0, 4.0, 2.0],
    [3.0, 4.0, 4.0, 1.0],
    [3.0, 4.0, 1.0, 2.0],
];
const W_V: [[f32; 4]; 4] = [
    [4.0, 2.0, 4.0, 4.0],
    [3.0, 4.0, 1.0, 2.0],
    [2.0, 2.0, 4.0, 1.0],
    [4.0, 3.0, 1.0, 4.0],
];

/// `W` as the model stores it, `[out][in]` like PyTorch: the transpose of the notes' matrix.
fn transposed(w: &[[f32; 4]; 4]) -> [[f32; 4]; 4] {
    std::array::from_fn(|out| std::array::from_fn(|inp| w[inp][out]))
}

/// The model of the notes, with their three matrices.
pub fn seed_model() -> SeedAttention {
    let mut model = SeedAttention::zeroed();
    let attn = &mut model.layers[0].attn;
    *attn.w_q.weight = transposed(&W_Q);
    *attn.w_k.weight = transposed(&W_K);
    *attn.w_v.weight = transposed(&W_V);
    model
}

/// Every intermediate of the notes' computation, in their order.
pub struct Steps {
    /// `Q = X · W_Q`, one row per token.
    pub q: [[f32; 4]; 2],
    /// `K = X · W_K`.
    pub k: [[f32; 4]; 2],
    /// `V = X · W_V`.
    pub v: [[f32; 4]; 2],
    /// `Qi·Kj / √d_k` for token i (row) and key j (column).
    pub scores: [[f32; 2]; 2],
    /// `softmax` of each row of `scores`.
    pub weights: [[f32; 2]; 2],
    /// `Σj weights[i][j] · Vj`.
    pub attention: [[f32; 4]; 2],
    /// `X + attention`, from the generated `SeedAttention::forward`.
    pub output: [[f32; 4]; 2],
}

/// Runs the notes' steps one kernel at a time with the model's weights, then the model.
pub fn steps(model: &SeedAttention) -> Steps {
    let attn = &model.layers[0].attn;
    let (mut q, mut k, mut v) = ([[0.0; 4]; 2], [[0.0; 4]; 2], [[0.0; 4]; 2]);
    linear(&mut q, &attn.w_q.weight, None, &X);
    linear(&mut k, &attn.w_k.weight, None, &X);
    linear(&mut v, &attn.w_v.weight, None, &X);
    let scale = 1.0 / (SeedAttention::D_HEAD as f32).sqrt();
    let scores = q.map(|q_i| k.map(|k_j| dot(&q_i, &k_j) * scale));
    let mut weights = scores;
    let mut attention = [[0.0f32; 4]; 2];
    for (row, out) in weights.iter_mut().zip(&mut attention) {
        softmax(row);
        for (p, v_j) in row.iter().zip(&v) {
            for (a, x) in out.iter_mut().zip(v_j) {
                *a += p * x;
            }
        }
    }
    Steps {
        q,
        k,
        v,
        scores,
        weights,
        attention,
        output: *model.forward(&X),
    }
}

fn show(label: &str, rows: &[[f32; 4]]) {
    println!("{label} =");
    for (t, row) in rows.iter().enumerate() {
        println!("  {row:?}   ← token {}", t + 1);
    }
}

/// Prints the worked self-attention example of the notes step by step: Q, K, V, scaled
/// scores, softmax weights, attention, and the output of the generated `forward`.
#[derive(Parser)]
#[command(name = "seed_attention")]
pub struct Args {}

/// Answers `--help`, or rejects an argument, then runs the example.
pub fn main() -> ExitCode {
    Args::parse();
    run()
}

/// Prints every step the way the notes do.
pub fn run() -> ExitCode {
    // A TRANSFORMER_KERNEL this CPU cannot obey, or a TRANSFORMER_THREADS that is no thread
    // count, is an error here, before any kernel runs.
    let checked = || -> Result<(), Box<dyn std::error::Error>> {
        transformer::runtime::cpu::try_level()?;
        transformer::runtime::threads::try_get()?;
        Ok(())
    };
    if let Err(e) = checked() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let model = seed_model();
    let steps = steps(&model);
    println!("SeedAttention: {} parameters\n", SeedAttention::PARAMETERS);
    show("X", &X);
    show("\nQ = X·W_Q", &steps.q);
    show("K = X·W_K", &steps.k);
    show("V = X·W_V", &steps.v);
    for i in 0..2 {
        let t = i + 1;
        println!(
            "\ntoken {t}: scores Q{t}·Kj / √{} = {:?}",
            SeedAttention::D_HEAD,
            steps.scores[i]
        );
        println!("token {t}: softmax          = {:?}", steps.weights[i]);
        println!("token {t}: attention        = {:?}", steps.attention[i]);
    }
    println!();
    show("X + attention (SeedAttention::forward)", &steps.output);
    ExitCode::SUCCESS
}
