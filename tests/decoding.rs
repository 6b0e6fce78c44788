//! Decoding one token at a time: `prefill` and `step` through the key/value cache give the
//! logits of one causal pass over the whole sequence, and the cache's limits are errors.

mod common;

use common::*;
use transformer::runtime::{ForwardError, Rng};
use transformer::transformer;

transformer! {
    /// Llama's layout: grouped-query attention with rotary positions, RMS norms, SwiGLU, a
    /// head of its own.
    Llama < kind: decoder, vocab: 40, d_model: 16, heads: 4, kv_heads: 2, layers: 2, d_ff: 24,
            max_len: 32, norm: pre, norm_kind: rms, final_norm: true, positional: rope,
            rope_theta: 1000, gated: true, activation: silu, bias: false, lm_head: separate >
    /// GPT-2's layout: learned positions, layer norms with biases, a tied head.
    Gpt < kind: decoder, vocab: 30, d_model: 12, heads: 3, layers: 2, max_len: 20, norm: pre,
          final_norm: true, positional: learned, activation: gelu_tanh, lm_head: tied >
}

const IDS: [u32; 11] = [3, 17, 0, 39, 8, 8, 21, 5, 30, 12, 1];

/// A model's weights random (biases and norms too): the named parts of every layer of its
/// `layers` field, then the named tables, in the order given.
macro_rules! randomized {
    ($model:ident, $seed:expr, $layers:ident [$($part:ident),*]; $($table:ident),*) => {{
        let rng = &mut Rng::new($seed);
        let mut m = $model::init($seed);
        for layer in m.$layers.iter_mut() {
            $( layer.$part.randomize(rng); )*
        }
        $( m.$table.randomize(rng); )*
        m
    }};
}

fn llama(seed: u64) -> Llama {
    randomized!(Llama, seed, layers [attn, norm1, ffn, norm2]; norm, token_embedding, lm_head)
}

fn gpt(seed: u64) -> Gpt {
    randomized!(Gpt, seed, layers [attn, norm1, ffn, norm2]; norm, token_embedding, positions)
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Logits of every position from one causal pass: the hidden states through the head.
macro_rules! full_pass_logits {
    ($model:expr, $ids:expr) => {{
        let hidden = $model
            .forward_tokens_with(
                transformer::runtime::Tokens::new($ids),
                &transformer::runtime::Options::new(),
            )
            .unwrap();
        hidden
            .iter()
            .map(|row| $model.logits(row).to_vec())
            .collect::<Vec<_>>()
    }};
}

/// Prefill of the first `split` ids, then one step per id: every logit row against the
/// causal pass.
macro_rules! check_decoding {
    ($model:expr, $cache:expr, $ids:expr, $split:expr) => {{
        let want = full_pass_logits!($model, $ids);
        let mut got = vec![
            $model
                .prefill(&mut $cache, &$ids[..$split])
                .unwrap()
                .to_vec(),
        ];
        for &id in &$ids[$split..] {
            got.push($model.step(&mut $cache, id).unwrap().to_vec());
        }
        assert_eq!($cache.len(), $ids.len());
        for (i, row) in got.iter().enumerate() {
            let position = $split - 1 + i;
            let diff = max_difference(row, &want[position]);
            assert!(diff < 1e-4, "position {position}: logits differ by {diff}");
        }
    }};
}

#[test]
fn prefill_then_steps_equal_one_causal_pass() {
    let model = llama(1);
    for split in [1, 4, IDS.len()] {
        let mut cache = Llama::cache(Llama::MAX_LEN).unwrap();
        check_decoding!(model, cache, &IDS, split);
    }
    let model = gpt(2);
    let ids: Vec<u32> = IDS.iter().map(|id| id % 30).collect();
    let mut cache = Gpt::cache(16).unwrap();
    check_decoding!(model, cache, &ids, 3);
}

#[test]
fn the_logits_are_the_head_on_the_last_hidden_state_of_the_reference() {
    let model = llama(3);
    let naive_layers: Vec<NaiveLayer> = model
        .layers
        .iter()
        .map(|layer| NaiveLayer {
            attn: NaiveAttention::of(&layer.attn),
            cross: None,
            ffn: Some(NaiveFfn::of(&layer.ffn)),
            norms: vec![NaiveNorm::of(&layer.norm1), NaiveNorm::of(&layer.norm2)],
        })
        .collect();
    let naive = NaiveStack {
        layers: naive_layers,
        final_norm: Some(NaiveNorm::of(&model.norm)),
        positions: Positions::None,
        norm: Norm::Pre,
        act: Act::Silu,
        causal: true,
    };
    let embedded: Vec<[f32; 16]> = IDS
        .iter()
        .map(|&id| model.token_embedding.weight[id as usize])
        .collect();
    let hidden = naive.apply(&rows(&embedded), None);
    let head = NaiveLinear::of(&model.lm_head);
    let want = head.apply(&vec![hidden[IDS.len() - 1].clone()]);
    let mut cache = Llama::cache(IDS.len()).unwrap();
    let got = model.prefill(&mut cache, &IDS).unwrap();
    assert_close(&[&got[..]], &want, 1e-4);
}

#[test]
fn truncating_the_cache_takes_tokens_back() {
    let model = llama(4);
    let mut cache = Llama::cache(20).unwrap();
    let first = model.prefill(&mut cache, &IDS[..6]).unwrap();
    model.prefill(&mut cache, &IDS[6..]).unwrap();
    // Back to 5 tokens, then the 6th again: the same logits as the first time.
    cache.truncate(5);
    assert_eq!(cache.len(), 5);
    let again = model.step(&mut cache, IDS[5]).unwrap();
    assert!(max_difference(&first[..], &again[..]) < 1e-5);
    cache.clear();
    let fresh = model.prefill(&mut cache, &IDS[..6]).unwrap();
    assert!(max_difference(&first[..], &fresh[..]) < 1e-5);
}

#[test]
fn a_full_cache_bad_ids_and_bad_capacities_are_errors() {
    let model = llama(5);
    let mut cache = Llama::cache(4).unwrap();
    assert_eq!(cache.capacity(), 4);
    assert_eq!(cache.bytes(), 4 * Llama::KV_BYTES_PER_TOKEN);
    // 2 layers · keys and values · 2 key/value heads of 4 lanes · 4 bytes.
    assert_eq!(Llama::KV_BYTES_PER_TOKEN, 2 * 2 * 8 * 4);
    let summary = Llama::summary().to_string();
    assert!(
        summary.ends_with(
            "key/value cache: 128 bytes per token of capacity (0.1 MiB for 1024 tokens)"
        ),
        "{summary}"
    );
    model.prefill(&mut cache, &IDS[..3]).unwrap();
    let full = model.prefill(&mut cache, &IDS[3..5]).unwrap_err();
    assert_eq!(
        full,
        ForwardError::CacheFull {
            capacity: 4,
            len: 3,
            adding: 2
        }
    );
    assert!(full.to_string().contains("holds 3 of 4 tokens"), "{full}");
    let bad_id = model.step(&mut cache, 40).unwrap_err();
    assert!(matches!(bad_id, ForwardError::IdOutOfRange { id: 40, .. }));
    // Neither error changed the cache: one more token still fits.
    assert_eq!(cache.len(), 3);
    model.step(&mut cache, 2).unwrap();
    assert!(matches!(
        model.step(&mut cache, 2),
        Err(ForwardError::CacheFull { .. })
    ));
    assert_eq!(
        model.prefill(&mut cache, &[]).unwrap_err(),
        ForwardError::Empty { input: "ids" }
    );
    assert!(matches!(Llama::cache(0), Err(ForwardError::Empty { .. })));
    assert!(matches!(
        Llama::cache(33),
        Err(ForwardError::TooLong {
            len: 33,
            max_len: 32,
            ..
        })
    ));
}

transformer! {
    /// A decoder attending to an encoder memory, as a translation or speech model's decoder
    /// does, with a head: its cache holds the memory's keys and values too.
    Listener < kind: decoder, cross_attention: true, vocab: 24, d_model: 12, heads: 3,
               layers: 2, d_ff: 20, max_len: 16, norm: pre, final_norm: true,
               positional: learned, lm_head: separate >
}

fn listener(seed: u64) -> Listener {
    randomized!(Listener, seed, layers [attn, cross_attn, ffn, norm1, norm2, norm3];
                norm, token_embedding, positions, lm_head)
}

fn memory(seed: u64, len: usize) -> Vec<[f32; 12]> {
    let rng = &mut Rng::new(seed);
    (0..len)
        .map(|_| std::array::from_fn(|_| rng.symmetric(1.0)))
        .collect()
}

#[test]
fn a_cross_attending_decoder_generates_against_a_memory_remembered_once() {
    let model = listener(6);
    let ids: Vec<u32> = IDS.iter().map(|id| id % 24).collect();
    let mut cache = Listener::cache(Listener::MAX_LEN).unwrap();
    for (seed, m) in [(7, 5), (8, 16), (9, 1)] {
        let memory = memory(seed, m);
        let hidden = model
            .decode_tokens_with(
                transformer::runtime::Tokens::new(&ids),
                &memory,
                &transformer::runtime::Options::new(),
            )
            .unwrap();
        let want: Vec<Vec<f32>> = hidden
            .iter()
            .map(|row| model.logits(row).to_vec())
            .collect();
        // A new memory forgets the tokens of the last one.
        model.remember(&mut cache, &memory).unwrap();
        assert_eq!((cache.len(), cache.memory_len()), (0, Some(m)));
        let mut got = vec![model.prefill(&mut cache, &ids[..3]).unwrap().to_vec()];
        for &id in &ids[3..] {
            got.push(model.step(&mut cache, id).unwrap().to_vec());
        }
        for (i, row) in got.iter().enumerate() {
            let diff = max_difference(row, &want[2 + i]);
            assert!(
                diff < 1e-4,
                "memory of {m}, position {}: logits differ by {diff}",
                2 + i
            );
        }
        // Cleared, the cache keeps its memory: the same answer again.
        cache.clear();
        let again = model.prefill(&mut cache, &ids).unwrap();
        assert!(max_difference(&again[..], &want[ids.len() - 1]) < 1e-4);
    }
}

#[test]
fn a_cross_attending_decoder_needs_a_memory_of_one_to_max_len_tokens() {
    let model = listener(10);
    let mut cache = Listener::cache(8).unwrap();
    assert_eq!(cache.memory_len(), None);
    let no_memory = model.prefill(&mut cache, &[1, 2]).unwrap_err();
    assert_eq!(no_memory, ForwardError::NothingRemembered);
    assert!(
        no_memory
            .to_string()
            .contains("`remember(&mut cache, &memory)`"),
        "{no_memory}"
    );
    assert_eq!(
        model.remember(&mut cache, &[]).unwrap_err(),
        ForwardError::Empty { input: "memory" }
    );
    assert!(matches!(
        model.remember(&mut cache, &memory(1, 17)),
        Err(ForwardError::TooLong {
            input: "memory",
            len: 17,
            max_len: 16
        })
    ));
    assert_eq!(cache.memory_len(), None);
    model.remember(&mut cache, &memory(1, 4)).unwrap();
    model.prefill(&mut cache, &[1, 2]).unwrap();
}

transformer! {
    /// Whisper's shape with a head: audio features into the encoder, token ids into a
    /// decoder that predicts the next one, its head tied to the decoder's token table.
    Speaker < kind: encoder_decoder, d_model: 12, heads: 2, encoder_layers: 1,
              decoder_layers: 2, d_ff: 16, max_len: 16, norm: pre,
              encoder: { positional: sinusoidal },
              decoder: { vocab: 24, positional: learned }, lm_head: tied >
}

#[test]
fn an_encoder_decoder_generates_from_what_it_encoded() {
    let model = randomized!(Speaker, 11, decoder_layers [norm1, norm2, norm3, attn, cross_attn];
                            decoder_token_embedding, decoder_positions);
    let audio: [[f32; 12]; 7] = std::array::from_fn(|t| memory(20 + t as u64, 1)[0]);
    let memory = model.encode(&audio);
    let ids: Vec<u32> = IDS.iter().map(|id| id % 24).collect();
    let hidden = model
        .decode_tokens_with(
            transformer::runtime::Tokens::new(&ids),
            &memory[..],
            &transformer::runtime::Options::new(),
        )
        .unwrap();
    let mut cache = Speaker::cache(12).unwrap();
    assert_eq!(Speaker::KV_BYTES_PER_TOKEN, 2 * 2 * 12 * 4);
    model.remember(&mut cache, &memory[..]).unwrap();
    let mut got = vec![model.prefill(&mut cache, &ids[..1]).unwrap()];
    for &id in &ids[1..] {
        got.push(model.step(&mut cache, id).unwrap());
    }
    for (position, (row, hidden)) in got.iter().zip(hidden.iter()).enumerate() {
        let diff = max_difference(&row[..], &model.logits(hidden)[..]);
        assert!(diff < 1e-4, "position {position}: logits differ by {diff}");
    }
}
