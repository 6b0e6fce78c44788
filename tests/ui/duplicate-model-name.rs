use transformer::transformer;

transformer! {
    pub TinyLm < d_model: 64, heads: 4, layers: 2 >
    pub TinyLm < d_model: 32, heads: 2, layers: 1 >
}

fn main() {}
