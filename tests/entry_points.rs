//! Every cell of the README's table of entry points: each input kind (features, token ids
//! with types, an encoder memory, and an `encoder_decoder`'s source and target) with each
//! option (none, a mask, a padded batch, caller-owned output and scratch), checked against
//! the plain const-length `forward` (`forward_tokens`, `decode`) to 1e-6. The row of token
//! ids with an encoder memory (`decode_tokens…`) is in `tests/stacks.rs`.

use transformer::runtime::{
    Batch, ForwardError, Mask, MemoryMask, Options, Padding, Rng, Sequence, Tokens,
};
use transformer::transformer;

transformer! {
    Enc < d_model: 16, heads: 2, layers: 2, d_ff: 24, max_len: 8, positional: learned >
    EncCausal < d_model: 16, heads: 2, layers: 2, d_ff: 24, max_len: 8, positional: learned,
                causal: true >
    Tok < vocab: 20, token_types: 2, embed_norm: true, positional: learned, d_model: 16,
          heads: 2, layers: 1, d_ff: 24, max_len: 8 >
    TokCausal < vocab: 20, token_types: 2, embed_norm: true, positional: learned, d_model: 16,
                heads: 2, layers: 1, d_ff: 24, max_len: 8, causal: true >
    Dec < kind: decoder, cross_attention: true, d_model: 16, heads: 2, layers: 2, d_ff: 24,
          max_len: 8, positional: sinusoidal >
    Seq < kind: encoder_decoder, d_model: 16, heads: 2, encoder_layers: 1, decoder_layers: 2,
          d_ff: 24, max_len: 8 >
}

const TOL: f32 = 1e-6;

fn rows<const N: usize>(seed: u64) -> [[f32; 16]; N] {
    let mut rng = Rng::new(seed);
    std::array::from_fn(|_| std::array::from_fn(|_| rng.symmetric(1.0)))
}

fn assert_close(got: &[[f32; 16]], want: &[[f32; 16]]) {
    assert_eq!(got.len(), want.len(), "row counts");
    for (t, (g, w)) in got.iter().zip(want).enumerate() {
        for (i, (a, b)) in g.iter().zip(w).enumerate() {
            assert!((a - b).abs() <= TOL, "row {t}, column {i}: {a} vs {b}");
        }
    }
}

fn zero(rows: &[[f32; 16]]) -> bool {
    rows.iter().flatten().all(|&v| v == 0.0)
}

/// `[n][n]` additive terms hiding every later key: a causal mask spelled out.
fn additive_causal(n: usize) -> Vec<f32> {
    (0..n * n)
        .map(|k| {
            if k % n > k / n {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect()
}

/// Two sequences of 5 and 3 rows, padded to 5: `[a, b, b, padding, padding]`.
fn padded<T: Copy>(a: &[T; 5], b: &[T; 3], pad: T) -> Vec<T> {
    let mut out = a.to_vec();
    out.extend_from_slice(b);
    out.extend([pad; 2]);
    out
}

#[test]
fn features() {
    let model = Enc::init(1);
    let causal_twin = EncCausal::from_safetensors_bytes(&model.to_safetensors_bytes().unwrap())
        .expect("the same architecture but for the mask");
    let (a, b): ([[f32; 16]; 5], [[f32; 16]; 3]) = (rows(2), rows(3));
    let plain = model.forward(&a);

    // No option.
    assert_close(
        &model.forward_with(&a, &Options::new()).unwrap(),
        &plain[..],
    );
    // A mask: the causal flag and the same mask spelled out.
    let want = causal_twin.forward(&a);
    assert_close(
        &model
            .forward_with(&a, &Options::new().mask(Mask::CAUSAL))
            .unwrap(),
        &want[..],
    );
    let additive = additive_causal(5);
    let options = Options::new().mask(Mask::additive(&additive));
    assert_close(&model.forward_with(&a, &options).unwrap(), &want[..]);
    // A padded batch, by lengths and by flags: each sequence as if alone, zero padding.
    let batch = padded(&a, &b, [9.0; 16]);
    let flags = padded(&[true; 5], &[true; 3], false);
    for options in [
        Options::new().batch(Batch::lengths(5, &[5, 3])),
        Options::new().batch(Batch::keep(5, &flags)),
    ] {
        let out = model.forward_with(&batch, &options).unwrap();
        assert_close(&out[..5], &plain[..]);
        assert_close(&out[5..8], &model.forward(&b)[..]);
        assert!(zero(&out[8..]));
    }
    // Caller-owned output and scratch, alone and with each option.
    let mut scratch = Enc::scratch();
    let mut out = [[0.0; 16]; 5];
    model
        .forward_into(&a, &Options::new(), &mut out, &mut scratch)
        .unwrap();
    assert_close(&out, &plain[..]);
    model
        .forward_into(
            &a,
            &Options::new().mask(Mask::CAUSAL),
            &mut out,
            &mut scratch,
        )
        .unwrap();
    assert_close(&out, &want[..]);
    let mut out = vec![[1.0; 16]; 10];
    let options = Options::new().batch(Batch::lengths(5, &[5, 3]));
    model
        .forward_into(&batch, &options, &mut out, &mut scratch)
        .unwrap();
    assert_close(&out[5..8], &model.forward(&b)[..]);
    assert!(zero(&out[8..]));
}

#[test]
fn token_ids_with_types() {
    let model = Tok::init(4);
    let causal_twin = TokCausal::from_safetensors_bytes(&model.to_safetensors_bytes().unwrap())
        .expect("the same architecture but for the mask");
    let (a, b) = ([3u32, 1, 4, 1, 5], [9u32, 2, 6]);
    let plain = model.forward_tokens(&a).unwrap();
    let types = [0u32; 5];

    // No option; explicit type 0 is the default; other types change the output.
    let with = |tokens, options: &Options| model.forward_tokens_with(tokens, options).unwrap();
    assert_close(&with(Tokens::new(&a), &Options::new()), &plain[..]);
    assert_close(
        &with(Tokens::with_types(&a, &types), &Options::new()),
        &plain[..],
    );
    let other_types = with(Tokens::with_types(&a, &[1, 1, 0, 0, 1]), &Options::new());
    assert!(other_types[0] != plain[0] && other_types[2] != plain[2]);
    // A mask.
    let want = causal_twin.forward_tokens(&a).unwrap();
    let options = Options::new().mask(Mask::CAUSAL);
    assert_close(&with(Tokens::new(&a), &options), &want[..]);
    // A padded batch, with types: each sequence as if alone.
    let ids = padded(&a, &b, 0);
    let batch_types = padded(&[1, 1, 0, 0, 1], &[0; 3], 0);
    let options = Options::new().batch(Batch::lengths(5, &[5, 3]));
    let out = with(Tokens::with_types(&ids, &batch_types), &options);
    assert_close(&out[..5], &other_types);
    assert_close(&out[5..8], &model.forward_tokens(&b).unwrap()[..]);
    assert!(zero(&out[8..]));
    // Caller-owned output and scratch.
    let (mut out, mut scratch) = ([[0.0; 16]; 5], Tok::scratch());
    model
        .forward_tokens_into(Tokens::new(&a), &Options::new(), &mut out, &mut scratch)
        .unwrap();
    assert_close(&out, &plain[..]);
    let tokens = Tokens::with_types(&a, &[1, 1, 0, 0, 1]);
    model
        .forward_tokens_into(tokens, &Options::new(), &mut out, &mut scratch)
        .unwrap();
    assert_close(&out, &other_types);
}

#[test]
fn a_memory() {
    let model = Dec::init(5);
    let (t, u): ([[f32; 16]; 4], [[f32; 16]; 2]) = (rows(6), rows(7));
    let (m, n): ([[f32; 16]; 6], [[f32; 16]; 3]) = (rows(8), rows(9));
    let plain = model.decode(&t, &m);

    // No option; a causal flag changes nothing, a decoder is causal already.
    assert_close(
        &model.decode_with(&t, &m, &Options::new()).unwrap(),
        &plain[..],
    );
    let options = Options::new().mask(Mask::CAUSAL);
    assert_close(&model.decode_with(&t, &m, &options).unwrap(), &plain[..]);
    // A memory mask hiding the last 2 memory rows, and memory padding saying the same.
    let prefix: [[f32; 16]; 4] = m[..4].try_into().unwrap();
    let want = model.decode(&t, &prefix);
    let hide: Vec<f32> = (0..4 * 6)
        .map(|k| if k % 6 >= 4 { f32::NEG_INFINITY } else { 0.0 })
        .collect();
    let options = Options::new().memory_mask(MemoryMask::additive(&hide));
    assert_close(&model.decode_with(&t, &m, &options).unwrap(), &want[..]);
    let options = Options::new().memory_padding(Padding::Lengths(&[4]));
    assert_close(&model.decode_with(&t, &m, &options).unwrap(), &want[..]);
    let keep = [true, true, true, true, false, false];
    let options = Options::new().memory_padding(Padding::Keep(&keep));
    assert_close(&model.decode_with(&t, &m, &options).unwrap(), &want[..]);
    // A padded batch of targets, each with its own padded memory.
    let mut targets = t.to_vec();
    targets.extend_from_slice(&u);
    targets.extend([[9.0; 16]; 2]);
    let mut memories = m.to_vec();
    memories.extend_from_slice(&n);
    memories.extend([[9.0; 16]; 3]);
    let options = Options::new()
        .batch(Batch::lengths(4, &[4, 2]))
        .memory_padding(Padding::Lengths(&[6, 3]));
    let out = model.decode_with(&targets, &memories, &options).unwrap();
    assert_close(&out[..4], &plain[..]);
    assert_close(&out[4..6], &model.decode(&u, &n)[..]);
    assert!(zero(&out[6..]));
    // Caller-owned output and scratch.
    let (mut out, mut scratch) = ([[0.0; 16]; 4], Dec::scratch());
    model
        .decode_into(&t, &m, &Options::new(), &mut out, &mut scratch)
        .unwrap();
    assert_close(&out, &plain[..]);
    let options = Options::new().memory_padding(Padding::Lengths(&[4]));
    model
        .decode_into(&t, &m, &options, &mut out, &mut scratch)
        .unwrap();
    assert_close(&out, &want[..]);
}

#[test]
fn source_and_target() {
    let model = Seq::init(10);
    let (s, r): ([[f32; 16]; 5], [[f32; 16]; 3]) = (rows(11), rows(12));
    let (t, u): ([[f32; 16]; 4], [[f32; 16]; 2]) = (rows(13), rows(14));
    let plain: Sequence<16, 4> = model.forward(&s, &t);
    assert_close(
        &model.forward_with(&s, &t, &Options::new()).unwrap(),
        &plain[..],
    );
    // `memory_padding` pads the source for the encoder and the decoder alike.
    let mut sources = s.to_vec();
    sources.extend_from_slice(&r);
    sources.extend([[9.0; 16]; 2]);
    let mut targets = t.to_vec();
    targets.extend_from_slice(&u);
    targets.extend([[9.0; 16]; 2]);
    let options = Options::new()
        .batch(Batch::lengths(4, &[4, 2]))
        .memory_padding(Padding::Lengths(&[5, 3]));
    let out = model.forward_with(&sources, &targets, &options).unwrap();
    assert_close(&out[..4], &plain[..]);
    assert_close(&out[4..6], &model.forward(&r, &u)[..]);
    assert!(zero(&out[6..]));
    // And through the two halves, with caller-owned memory.
    let (mut memory, mut out) = ([[0.0; 16]; 5], [[0.0; 16]; 4]);
    let mut scratch = Seq::scratch();
    model
        .encode_into(&s, &Options::new(), &mut memory, &mut scratch)
        .unwrap();
    model
        .decode_into(&t, &memory, &Options::new(), &mut out, &mut scratch)
        .unwrap();
    assert_close(&out, &plain[..]);
}

#[test]
fn options_that_do_not_fit_are_errors_never_ignored() {
    let enc = Enc::init(1);
    let x = [[0.5f32; 16]; 4];
    let hide = [0.0f32; 4];
    let memory_mask = Options::new().memory_mask(MemoryMask::additive(&hide));
    assert_eq!(
        enc.forward_with(&x, &memory_mask).unwrap_err(),
        ForwardError::NoMemory {
            option: "memory_mask"
        }
    );
    let memory_padding = Options::new().memory_padding(Padding::Lengths(&[1]));
    assert_eq!(
        enc.forward_with(&x, &memory_padding).unwrap_err(),
        ForwardError::NoMemory {
            option: "memory_padding"
        }
    );
    let mut out = [[0.0f32; 16]; 3];
    let err = enc
        .forward_into(&x, &Options::new(), &mut out, &mut Enc::scratch())
        .unwrap_err();
    assert_eq!(
        err,
        ForwardError::LengthMismatch {
            input: "out",
            len: 3,
            expected: 4
        }
    );
    let short = [0.0f32; 15];
    let err = enc
        .forward_with(&x, &Options::new().mask(Mask::additive(&short)))
        .unwrap_err();
    assert_eq!(
        err,
        ForwardError::LengthMismatch {
            input: "mask",
            len: 15,
            expected: 16
        }
    );
    let err = enc
        .forward_with(&x, &Options::new().batch(Batch::lengths(3, &[1])))
        .unwrap_err();
    assert!(
        err.to_string().contains("input has 4 entries, expected 6"),
        "{err}"
    );
    let dec = Dec::init(1);
    let err = dec.decode_with(&x, &[], &Options::new()).unwrap_err();
    assert_eq!(err, ForwardError::Empty { input: "memory" });
    let tok = Tok::init(1);
    let err = tok
        .forward_tokens_with(Tokens::with_types(&[1, 2], &[0]), &Options::new())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("token types has 1 entries, expected 2"),
        "{err}"
    );
}
