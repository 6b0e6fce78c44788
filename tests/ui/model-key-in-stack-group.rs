use transformer::transformer;

transformer! {
    pub Seq2Seq < kind: encoder_decoder, d_model: 64, heads: 4, encoder_layers: 2,
                  decoder_layers: 2, decoder: { vocab: 100, heads: 8, vocabb: 3 }, encoder: 4 >
}

fn main() {}
