use transformer::transformer;

transformer! {
    pub TinyLm < d_model: 2000000, heads: 4, layers: 2 >
}

fn main() {}
