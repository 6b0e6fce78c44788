use transformer::transformer;

transformer! {
    pub Seq2Seq < kind: encoder_decoder, d_model: 64, heads: 4 >
}

fn main() {}
