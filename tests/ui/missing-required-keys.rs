use transformer::transformer;

transformer! {
    pub TinyLm < d_model: 64 >
}

fn main() {}
