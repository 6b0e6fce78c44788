use transformer::transformer;

transformer! {
    pub TinyLm < d_model: 99999999999999999999999, heads: 4, layers: 2 >
}

fn main() {}
