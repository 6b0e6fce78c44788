use transformer::transformer;

transformer! {
    pub Decoder < kind: decoder, cross_attention: true, d_model: 64, heads: 4, layers: 2 >
}

fn main() {
    let model = Decoder::zeroed();
    let target = [[0.0f32; Decoder::D_MODEL]; 4];
    let memory = [[0.0f32; 32]; 6];
    let _ = model.decode(&target, &memory);
}
