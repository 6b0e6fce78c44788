use transformer::transformer;

transformer! {
    pub < d_model: 64, heads: 4, layers: 2 >
}

fn main() {}
