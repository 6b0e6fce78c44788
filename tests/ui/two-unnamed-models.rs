use transformer::transformer;

transformer! {
    < d_model: 64, heads: 4, layers: 2 >
    < d_model: 32, heads: 2, layers: 1 >
}

fn main() {}
