use transformer::transformer;

transformer! {
    pub A < d_model: 8, heads: 2, layers: 1, >;
    pub(crate) B < d_model: 8, heads: 4, layers: 2, d_ff: 16, >,
    C < d_model: 4, heads: 1, layers: 1 >
    < d_model: 4, heads: 2, layers: 1 >,
}

fn main() {
    let x = [[0.5; A::D_MODEL]; 3];
    let y = B::init(1).forward(&A::init(0).forward(&x));
    assert_eq!(y.len(), 3);
    let z = Transformer::init(3).forward(&C::init(2).forward(&[[0.5; C::D_MODEL]; 2]));
    assert_eq!(z.len(), 2);
}
