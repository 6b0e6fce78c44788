use transformer::transformer;

transformer! {
    pub TinyLm < d_model: 64, heads: 4, layers: 2, norm: none, norm_kind: rms >
}

fn main() {}
