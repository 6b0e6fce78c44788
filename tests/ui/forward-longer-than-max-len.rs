use transformer::transformer;

transformer! {
    pub TinyLm < d_model: 64, heads: 4, layers: 2, max_len: 16 >
}

fn main() {
    let model = TinyLm::zeroed();
    let x = [[0.0f32; TinyLm::D_MODEL]; 20];
    let _ = model.forward(&x);
}
