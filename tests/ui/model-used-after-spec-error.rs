use transformer::transformer;

transformer! {
    pub TinyLm < d_model: 64, heads: 5, layers: 2 >
}

fn main() {
    let model = TinyLm::init(42);
    let x = [[0.0f32; TinyLm::D_MODEL]; 8];
    let _ = model.forward(&x);
}
