use transformer::transformer;

transformer! {
    < d_model: 8, heads: 2, layers: 1 >
}

fn main() {
    let y = Transformer::init(0).forward(&[[0.5; Transformer::D_MODEL]; 3]);
    assert_eq!(y.len(), 3);
}
