use transformer::transformer;

transformer! {
    Tiny < d_model: 1, heads: 1, layers: 1 >
}

fn main() {
    let y = Tiny::init(0).forward(&[[1.0]]);
    assert_eq!(y.len(), 1);
}
