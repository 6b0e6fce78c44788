use transformer::transformer;

transformer! {
    pub Huge < d_model: 1048576, heads: 1, layers: 1048576 >
}

fn main() {}
