use transformer::transformer;

transformer! {
    pub TinyLm < heads: 5, d_model: 64, layers: 2 >
}

fn main() {}
