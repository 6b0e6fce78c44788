use transformer::transformer;

transformer! {
    pub Wide < d_model: 64, heads: 4, layers: 2 >
    pub Narrow < d_model: 32, heads: 4, layers: 2 >
}

fn main() {
    let (wide, narrow) = (Wide::zeroed(), Narrow::zeroed());
    let x = [[0.0f32; Wide::D_MODEL]; 8];
    let y = wide.forward(&x);
    let _ = narrow.forward(&y);
}
