use transformer::transformer;

transformer! {
    #[transformer(krate = "tfm")]
    pub TinyLm < d_model: 64, heads: 4, layers: 2 >
}

fn main() {}
