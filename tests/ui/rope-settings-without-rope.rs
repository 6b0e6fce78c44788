use transformer::transformer;

transformer! {
    pub TinyLm < kind: decoder, d_model: 16, heads: 4, layers: 2, positional: learned,
                 rope_theta: 500000, rope_pairs: adjacent >
}

fn main() {}
