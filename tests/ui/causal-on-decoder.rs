use transformer::transformer;

transformer! {
    pub TinyLm < kind: decoder, d_model: 64, heads: 4, layers: 2, causal: true >
}

fn main() {}
