//! An `encoder_decoder` whose stacks read different inputs (`encoder: { … }`,
//! `decoder: { … }`): a speech model in Whisper's shape, audio features with sinusoidal
//! positions into the encoder, token ids with learned positions into the decoder.

use transformer::runtime::{Batch, Options, Padding, Rng, Tokens};
use transformer::transformer;

transformer! {
    Speech < kind: encoder_decoder, d_model: 16, heads: 2, encoder_layers: 2, decoder_layers: 1,
             d_ff: 32, max_len: 12, norm: pre, activation: gelu,
             encoder: { positional: sinusoidal },
             decoder: { vocab: 40, positional: learned, embed_norm: true } >
    /// Both stacks read token ids, each from its own table (a translation model).
    Translate < kind: encoder_decoder, d_model: 8, heads: 2, encoder_layers: 1, decoder_layers: 1,
                d_ff: 16, max_len: 8, positional: learned,
                encoder: { vocab: 30, token_types: 2 }, decoder: { vocab: 20 } >
}

fn features<const N: usize>(seed: u64) -> [[f32; 16]; N] {
    let mut rng = Rng::new(seed);
    std::array::from_fn(|_| std::array::from_fn(|_| rng.symmetric(1.0)))
}

fn assert_close(got: &[[f32; 16]], want: &[[f32; 16]]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
        assert!((g - w).abs() <= 1e-6, "{g} vs {w}");
    }
}

#[test]
fn each_stack_has_its_own_input_and_positions() {
    // Seeded weights: the decoder's tables and learned positions are random too.
    let model = Speech::init(1);
    assert_eq!(Speech::DECODER_VOCAB, 40);
    assert_eq!(model.decoder_positions, Speech::init(1).decoder_positions);
    let (audio, ids) = (features::<6>(3), [3u32, 1, 4]);
    let memory = model.encode(&audio);
    // Token ids in equal their embeddings in: the table lookup, then the same stack.
    let mut embedded = [[0.0f32; 16]; 3];
    model.decoder_embed(&mut embedded, &ids, None).unwrap();
    let by_ids = model.decode_tokens(&ids, &memory).unwrap();
    assert_close(&by_ids[..], &model.decode(&embedded, &memory)[..]);
    // And through the run-time and caller-owned forms, alone and in a padded batch.
    let plain = Options::new();
    let with = model
        .decode_tokens_with(Tokens::new(&ids), &memory[..], &plain)
        .unwrap();
    assert_close(&with, &by_ids[..]);
    let mut out = [[0.0f32; 16]; 3];
    model
        .decode_tokens_into(
            Tokens::new(&ids),
            &memory[..],
            &plain,
            &mut out,
            &mut Speech::scratch(),
        )
        .unwrap();
    assert_close(&out, &by_ids[..]);
    let batch_ids = [3u32, 1, 4, 9, 0, 0];
    let mut memories = memory.to_vec();
    memories.extend_from_slice(&memory[..]);
    let options = Options::new()
        .batch(Batch::lengths(3, &[3, 1]))
        .memory_padding(Padding::Lengths(&[6, 6]));
    let both = model
        .decode_tokens_with(Tokens::new(&batch_ids), &memories, &options)
        .unwrap();
    assert_close(&both[..3], &by_ids[..]);
    assert_close(
        &both[3..4],
        &model.decode_tokens(&[9], &memory).unwrap()[..],
    );
}

#[test]
fn sizes_names_and_files_follow_each_stack() {
    // Learned positions and a table of 40 for the decoder, 3 norms a pre-norm decoder layer.
    let d = 16;
    let attention = 4 * (d * d + d);
    let ffn = (d * 32 + 32) + (32 * d + d);
    let norm = 2 * d;
    let encoder_layer = attention + ffn + 2 * norm;
    let decoder_layer = 2 * attention + ffn + 3 * norm;
    let decoder_inputs = 40 * d + norm + 12 * d;
    assert_eq!(
        Speech::PARAMETERS,
        2 * encoder_layer + norm + decoder_inputs + decoder_layer + norm
    );
    let summary = Speech::summary();
    let rows: usize = summary
        .rows
        .iter()
        .filter(|r| r.depth == 0)
        .map(|r| r.parameters)
        .sum();
    assert_eq!(rows, Speech::PARAMETERS);
    let model = Translate::init(5);
    let bytes = model.to_safetensors_bytes().unwrap();
    let again = Translate::from_safetensors_bytes(&bytes).unwrap();
    assert!(again == model);
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for name in [
        "encoder.token_embedding.weight",
        "encoder.token_type_embedding.weight",
        "encoder.positions.weight",
        "decoder.token_embedding.weight",
        "decoder.positions.weight",
    ] {
        assert!(tensors.tensor(name).is_ok(), "no {name}");
    }
    // Encoder token types go through the encoder's table only.
    let typed = model
        .encode_tokens_with(Tokens::with_types(&[1, 2], &[1, 1]), &Options::new())
        .unwrap();
    let untyped = model.encode_tokens(&[1, 2]).unwrap();
    assert!(typed[0] != untyped[0]);
    assert!(
        model
            .decoder_embed(&mut [[0.0; 8]], &[1], Some(&[1]))
            .is_err()
    );
}

transformer! {
    /// `embed_norm` without `vocab`: the norm applies to the features given.
    NormedInput < d_model: 16, heads: 2, layers: 1, d_ff: 32, max_len: 8, embed_norm: true >
    PlainInput < d_model: 16, heads: 2, layers: 1, d_ff: 32, max_len: 8 >
}

#[test]
fn an_input_norm_applies_to_features_too() {
    let normed = NormedInput::init(7);
    let bytes = normed.to_safetensors_bytes().unwrap();
    let plain = PlainInput::from_safetensors_bytes_with(
        &bytes,
        transformer::runtime::load::LoadOptions::lenient(),
    )
    .unwrap();
    assert_eq!(
        NormedInput::PARAMETERS,
        PlainInput::PARAMETERS + 2 * 16,
        "the norm's weight and bias"
    );
    let x = features::<5>(8);
    let mut normalised = x;
    normed.embedding_norm.forward(&mut normalised);
    assert_close(&normed.forward(&x)[..], &plain.forward(&normalised)[..]);
}
