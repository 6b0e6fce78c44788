use transformer::transformer;

transformer! {
    pub TinyLm < d_model: 64, heads: 5, layers: 2, max_len: 0, activation: gleu, bias: yes, dropout: 0 >
    pub Seq2Seq < kind: encoder_decoder, d_model: 64, heads: 4, layers: 2, eps: -1 >
}

fn main() {}
