use transformer::transformer;

transformer! {
    pub TinyLm < kind: decoder, d_model: 48, heads: 6, kv_heads: 4, layers: 2 >
}

fn main() {}
