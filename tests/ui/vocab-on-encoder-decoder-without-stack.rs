use transformer::transformer;

transformer! {
    pub Seq2Seq < kind: encoder_decoder, d_model: 64, heads: 4, encoder_layers: 2,
                  decoder_layers: 2, vocab: 100 >
}

fn main() {}
