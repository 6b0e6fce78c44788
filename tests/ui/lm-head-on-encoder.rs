use transformer::transformer;

transformer! {
    pub TinyLm < vocab: 100, d_model: 16, heads: 4, layers: 2, lm_head: separate >
}

fn main() {}
