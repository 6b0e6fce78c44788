use transformer::transformer;

transformer! {
    pub TinyLm < d_model: 64, heads: 4, layers: 2, norm_kind: rsm >
}

fn main() {}
