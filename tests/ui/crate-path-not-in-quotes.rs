use transformer::transformer;

transformer! {
    #[transformer(crate = tfm)]
    pub TinyLm < d_model: 64, heads: 4, layers: 2 >
}

fn main() {}
