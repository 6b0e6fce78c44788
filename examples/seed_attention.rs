//! The worked self-attention example from the notes the project started from, declared with
//! `transformer!` and printed step by step: Q, K, V, scaled scores, softmax weights, the
//! attention output, and the residual output `X + attention`.
//!
//! Run with `cargo run --release --example seed_attention`.

use transformer::runtime::matmul::{dot, linear};
use transformer::runtime::softmax::softmax;
use transformer::transformer;

transformer! {
    /// One head of self-attention over 4 features with a residual connection, and nothing
    /// else: no norms, no feed-forward, no output projection, no biases.
    pub SeedAttention < d_model: 4, heads: 1, layers: 1, max_len: 2,
                        norm: none, ffn: false, out_proj: false, bias: false >
}

/// The input embeddings: token 1 and token 2.
const X: [[f32; 4]; 2] = [[6.0, 1.0, 4.0, 4.0], [8.0, 4.0, 6.0, 3.0]];

/// The notes multiply row vectors on the right, `Q = X · W_Q`, so `W_Q` is `[in][out]`.
const W_Q: [[f32; 4]; 4] = [[1.0, 4.0, 3.0, 1.0], [1.0, 1.0, 3.0, 2.0], [3.0, 4.0, 4.0, 3.0], [1.0, 2.0, 2.0, 2.0]];
const W_K: [[f32; 4]; 4] = [[2.0, 1.0, 2.0, 1.0], [4.0, 1.0, 4.0, 2.0], [3.0, 4.0, 4.0, 1.0], [3.0, 4.0, 1.0, 2.0]];
const W_V: [[f32; 4]; 4] = [[4.0, 2.0, 4.0, 4.0], [3.0, 4.0, 1.0, 2.0], [2.0, 2.0, 4.0, 1.0], [4.0, 3.0, 1.0, 4.0]];

/// `W` as the model stores it, `[out][in]` like PyTorch: the transpose of the notes' matrix.
fn transposed(w: &[[f32; 4]; 4]) -> [[f32; 4]; 4] {
    std::array::from_fn(|out| std::array::from_fn(|inp| w[inp][out]))
}

/// The model of the notes, with their three matrices.
fn seed_model() -> SeedAttention {
    let mut model = SeedAttention::zeroed();
    let attn = &mut model.layers[0].attn;
    *attn.w_q.weight = transposed(&W_Q);
    *attn.w_k.weight = transposed(&W_K);
    *attn.w_v.weight = transposed(&W_V);
    model
}

fn show(label: &str, rows: &[[f32; 4]]) {
    println!("{label} =");
    for (t, row) in rows.iter().enumerate() {
        println!("  {row:?}   ← token {}", t + 1);
    }
}

fn main() {
    let model = seed_model();
    let attn = &model.layers[0].attn;
    println!("SeedAttention: {} parameters\n", SeedAttention::PARAMETERS);
    show("X", &X);

    // Step 1: project every token to its query, key and value.
    let (mut q, mut k, mut v) = ([[0.0; 4]; 2], [[0.0; 4]; 2], [[0.0; 4]; 2]);
    linear(&mut q, &attn.w_q.weight, None, &X);
    linear(&mut k, &attn.w_k.weight, None, &X);
    linear(&mut v, &attn.w_v.weight, None, &X);
    show("\nQ", &q);
    show("K", &k);
    show("V", &v);

    // Steps 2–4, for each token i: scores Qi·Kj / √d_k, softmax, weighted sum of values.
    let scale = 1.0 / (SeedAttention::D_HEAD as f32).sqrt();
    let mut attention = [[0.0f32; 4]; 2];
    for (i, q_i) in q.iter().enumerate() {
        let mut scores = k.map(|k_j| dot(q_i, &k_j) * scale);
        println!("\ntoken {}: scores Q{}·Kj / √{} = {scores:?}", i + 1, i + 1, SeedAttention::D_HEAD);
        softmax(&mut scores);
        println!("token {}: softmax = {scores:?}", i + 1);
        for (p, v_j) in scores.iter().zip(&v) {
            for (a, x) in attention[i].iter_mut().zip(v_j) {
                *a += p * x;
            }
        }
        println!("token {}: attention = {:?}", i + 1, attention[i]);
    }

    // Step 5: the residual connection, computed by the generated forward pass.
    let out = model.forward(&X);
    println!();
    show("X + attention (SeedAttention::forward)", &out[..]);
    let mut by_hand = X;
    for (row, a) in by_hand.iter_mut().zip(&attention) {
        for (x, a) in row.iter_mut().zip(a) {
            *x += a;
        }
    }
    assert_eq!(*out, by_hand, "the forward pass agrees with the steps above");
}
