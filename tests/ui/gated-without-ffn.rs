use transformer::transformer;

transformer! {
    pub TinyLm < d_model: 16, heads: 4, layers: 2, ffn: false, gated: true >
}

fn main() {}
