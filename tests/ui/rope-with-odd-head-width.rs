use transformer::transformer;

transformer! {
    pub TinyLm < kind: decoder, d_model: 12, heads: 4, layers: 2, positional: rope >
}

fn main() {}
