use transformer::transformer;

transformer! {
    pub Encoder < d_model: 32, heads: 4, layers: 2 >
    pub Seq2Seq < kind: encoder_decoder, d_model: 64, heads: 4, encoder_layers: 2, decoder_layers: 2 >
}

fn main() {
    let (encoder, seq2seq) = (Encoder::zeroed(), Seq2Seq::zeroed());
    let memory = encoder.forward(&[[0.0f32; Encoder::D_MODEL]; 6]);
    let target = [[0.0f32; Seq2Seq::D_MODEL]; 4];
    let _ = seq2seq.decode(&target, &memory);
}
