use transformer::transformer;

transformer! {
    pub TinyLm < kind: decoder, d_model: 16, heads: 4, layers: 2, lm_head: tied >
}

fn main() {}
