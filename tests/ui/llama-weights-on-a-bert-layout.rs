use transformer::transformer;

transformer! {
    pub NotLlama < kind: decoder, vocab: 100, d_model: 16, heads: 4, layers: 2, norm: post,
                   positional: rope, rope_pairs: adjacent, gated: true, activation: silu,
                   bias: false, weights: llama >
}

fn main() {}
