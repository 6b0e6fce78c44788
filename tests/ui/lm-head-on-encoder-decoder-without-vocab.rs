use transformer::transformer;

transformer! {
    pub Speaker < kind: encoder_decoder, d_model: 16, heads: 4, encoder_layers: 1,
                  decoder_layers: 1, encoder: { vocab: 100 }, lm_head: tied >
}

fn main() {}
