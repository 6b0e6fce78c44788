//! A forward pass allocates nothing once its scratch exists and the first call has grown the
//! kernels' buffers: counted by a global allocator, at one thread and at two.
//!
//! One test in its own binary, so no other test allocates while it counts.

mod counting;

use counting::allocations;
use transformer::runtime::{Batch, Mask, Options, Padding, threads};
use transformer::transformer;

transformer! {
    /// The benchmarks' W2 workload shape.
    Tiny < d_model: 64, heads: 4, layers: 2, d_ff: 256, max_len: 128 >
    /// Every other code path: pre-norm, GELU, learned positions, causal, final norm.
    Other < d_model: 96, heads: 3, layers: 2, d_ff: 160, max_len: 64, norm: pre,
            activation: gelu, positional: learned, final_norm: true, causal: true >
    /// Cross-attention.
    Cross < kind: decoder, cross_attention: true, d_model: 32, heads: 2, layers: 1, max_len: 40 >
    /// Token ids in, BERT style.
    Tokens < vocab: 100, token_types: 2, embed_norm: true, positional: learned, d_model: 32,
             heads: 2, layers: 1, max_len: 16, activation: gelu >
}

#[test]
fn forward_into_allocates_nothing_after_the_first_call() {
    let tiny = Tiny::init(1);
    let other = Other::init(2);
    let cross = Cross::init(3);
    let tokens = Tokens::init(4);
    for n_threads in [1, 2] {
        threads::set(n_threads);
        let (mut tiny_s, mut other_s, mut cross_s) =
            (Tiny::scratch(), Other::scratch(), Cross::scratch());
        let mut tokens_s = Tokens::scratch();
        let ids = [1u32, 5, 99, 2, 7];
        let mut hidden = [[0.0f32; 32]; 5];
        let memory = vec![[0.25f32; 32]; 40];
        // Inputs, outputs and options are made before counting.
        let xs: Vec<Vec<[f32; 64]>> = [32, 1, 128]
            .map(|n| (0..n).map(|t| [t as f32 * 0.01; 64]).collect())
            .into();
        let mut outs: Vec<Vec<[f32; 64]>> = [32, 1, 128].map(|n| vec![[0.0; 64]; n]).into();
        let (y, mut y_out) = (vec![[0.5f32; 96]; 64], vec![[0.0f32; 96]; 64]);
        let (z, mut z_out) = (vec![[0.5f32; 32]; 18], vec![[0.0f32; 32]; 18]);
        let plain = Options::new();
        // Two sequences of 16 (lengths 16 and 9), causal; two of 9 with 20-row memories
        // (lengths 20 and 3).
        let batch = Options::new()
            .mask(Mask::CAUSAL)
            .batch(Batch::lengths(16, &[16, 9]));
        let memory_batch = Options::new()
            .batch(Batch::full(9))
            .memory_padding(Padding::Lengths(&[20, 3]));
        let mut run = || {
            for (x, out) in xs.iter().zip(&mut outs) {
                tiny.forward_into(x, &plain, out, &mut tiny_s).unwrap();
            }
            tiny.forward_into(&xs[0], &batch, &mut outs[0], &mut tiny_s)
                .unwrap();
            other
                .forward_into(&y, &plain, &mut y_out, &mut other_s)
                .unwrap();
            cross
                .decode_into(&z[..17], &memory, &plain, &mut z_out[..17], &mut cross_s)
                .unwrap();
            cross
                .decode_into(&z, &memory, &memory_batch, &mut z_out, &mut cross_s)
                .unwrap();
            let tokens_in = transformer::runtime::Tokens::new(&ids);
            tokens
                .forward_tokens_into(tokens_in, &plain, &mut hidden, &mut tokens_s)
                .unwrap();
        };
        run();
        let counted = allocations(&mut run);
        assert_eq!(
            counted, 0,
            "allocations in a forward pass at {n_threads} thread(s)"
        );
    }
}
