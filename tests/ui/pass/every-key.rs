use transformer::transformer;

transformer! {
    Encoder <
        kind: encoder,
        d_model: 8,
        heads: 2,
        layers: 2,
        d_ff: 16,
        max_len: 4,
        norm: pre,
        norm_kind: rms,
        final_norm: true,
        eps: 1e-6,
        activation: gelu_tanh,
        positional: learned,
        bias: false,
        ffn: true,
        out_proj: false,
        causal: true,
        vocab: 16,
        token_types: 2,
        embed_norm: true,
        weights: pytorch,
    >
    Decoder < kind: decoder, d_model: 8, heads: 2, layers: 1, cross_attention: true, positional: sinusoidal >
    Seq2Seq < kind: encoder_decoder, d_model: 8, heads: 2, encoder_layers: 1, decoder_layers: 1, norm: none, ffn: false >
    Speech < kind: encoder_decoder, d_model: 8, heads: 2, encoder_layers: 1, decoder_layers: 1,
             encoder: { positional: sinusoidal }, decoder: { vocab: 10, positional: learned } >
    Llm < kind: decoder, vocab: 32, d_model: 16, heads: 4, kv_heads: 2, layers: 2, d_ff: 24,
          norm: pre, norm_kind: rms, final_norm: true, positional: rope, rope_theta: 500000,
          rope_pairs: adjacent, gated: true, activation: silu, bias: false, lm_head: separate >
}

fn main() {
    let encoder = Encoder::init(0);
    let hidden = encoder.forward_tokens(&[1, 15, 3]).expect("ids < VOCAB");
    assert_eq!(hidden.len(), 3);
    let memory = encoder.forward(&[[0.5; Encoder::D_MODEL]; 4]);
    let y = Decoder::init(1).decode(&[[0.5; Decoder::D_MODEL]; 2], &memory);
    assert_eq!(y.len(), 2);
    let z = Seq2Seq::init(2).forward(&[[0.5; Seq2Seq::D_MODEL]; 3], &[[0.5; Seq2Seq::D_MODEL]; 2]);
    assert_eq!(z.len(), 2);
    let speech = Speech::init(3);
    let memory = speech.encode(&[[0.5; Speech::D_MODEL]; 3]);
    let w = speech.decode_tokens(&[1, 9], &memory).expect("ids < DECODER_VOCAB");
    assert_eq!(w.len(), 2);
    let llm = Llm::init(4);
    let hidden = llm.forward_tokens(&[3, 1, 4, 1, 5]).expect("ids < VOCAB");
    assert_eq!((hidden.len(), Llm::KV_HEADS), (5, 2));
    let mut cache = Llm::cache(8).expect("8 ≤ MAX_LEN");
    let logits = llm.prefill(&mut cache, &[3, 1, 4]).expect("room for 3");
    let next = llm.step(&mut cache, 1).expect("room for 1");
    assert_eq!((logits.len(), next.len(), cache.len()), (Llm::VOCAB, Llm::VOCAB, 4));
}
