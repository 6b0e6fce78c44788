//! `PARAMETERS` against PyTorch's `sum(p.numel() for p in module.parameters())` for the same
//! architectures, as `tools/reference/param_counts.py` printed them (and wrote to
//! `tests/fixtures/param_counts.json`), and `WEIGHT_BYTES` and `flops` against hand counts.

use transformer::transformer;

transformer! {
    E64 < d_model: 64, heads: 4, layers: 2, d_ff: 256 >
    E384 < d_model: 384, heads: 12, layers: 6, d_ff: 1536 >
    E64NoBias < d_model: 64, heads: 4, layers: 2, d_ff: 256, bias: false >
    E384NoBias < d_model: 384, heads: 12, layers: 6, d_ff: 1536, bias: false >
    E64PreFinal < d_model: 64, heads: 4, layers: 2, d_ff: 256, norm: pre, final_norm: true >
    E384PreFinal < d_model: 384, heads: 12, layers: 6, d_ff: 1536, norm: pre, final_norm: true >
    E64NoBiasPreFinal < d_model: 64, heads: 4, layers: 2, d_ff: 256, bias: false, norm: pre, final_norm: true >
    D32 < kind: decoder, cross_attention: true, d_model: 32, heads: 4, layers: 2, d_ff: 64 >
    D32Final < kind: decoder, cross_attention: true, d_model: 32, heads: 4, layers: 2, d_ff: 64, final_norm: true >
    T32 < kind: encoder_decoder, d_model: 32, heads: 4, encoder_layers: 2, decoder_layers: 3, d_ff: 64 >
    Tok32 < vocab: 50, token_types: 2, embed_norm: true, positional: learned, d_model: 32, heads: 4,
            layers: 2, d_ff: 64, weights: bert >
}

#[test]
fn parameters_equal_pytorch_s_counts() {
    // (model, PARAMETERS, PyTorch's count from param_counts.json)
    let cases = [
        ("nn.TransformerEncoder d64", E64::PARAMETERS, 99_968),
        ("nn.TransformerEncoder d384", E384::PARAMETERS, 10_646_784),
        ("bias=False d64", E64NoBias::PARAMETERS, 98_560),
        ("bias=False d384", E384NoBias::PARAMETERS, 10_621_440),
        (
            "norm_first + final LayerNorm d64",
            E64PreFinal::PARAMETERS,
            100_096,
        ),
        (
            "norm_first + final LayerNorm d384",
            E384PreFinal::PARAMETERS,
            10_647_552,
        ),
        (
            "bias=False, norm_first, final norm",
            E64NoBiasPreFinal::PARAMETERS,
            98_624,
        ),
        ("nn.TransformerDecoder", D32::PARAMETERS, 25_664),
        (
            "nn.TransformerDecoder + final norm",
            D32Final::PARAMETERS,
            25_728,
        ),
        ("nn.Transformer", T32::PARAMETERS, 55_712),
    ];
    for (name, ours, pytorch) in cases {
        assert_eq!(ours, pytorch, "{name}");
    }
}

#[test]
fn weight_bytes_and_flops_follow_the_hand_count() {
    assert_eq!(E384::WEIGHT_BYTES, 4 * 10_646_784);
    // One layer at n tokens: projections 4·2·n·d², QKᵀ and PV 2·2·n²·d, feed-forward 2·2·n·d·ff.
    let (n, d, ff) = (128u64, 384u64, 1536u64);
    assert_eq!(
        E384::flops(128),
        6 * (8 * n * d * d + 4 * n * n * d + 4 * n * d * ff)
    );
}

#[test]
fn every_summary_has_a_row_for_every_learned_number() {
    // Top-level rows (tables, positions, layers, final norms) sum to `PARAMETERS`.
    for (summary, parameters) in [
        (E64::summary(), E64::PARAMETERS),
        (E384PreFinal::summary(), E384PreFinal::PARAMETERS),
        (D32Final::summary(), D32Final::PARAMETERS),
        (T32::summary(), T32::PARAMETERS),
        (Tok32::summary(), Tok32::PARAMETERS),
    ] {
        let rows: usize = summary
            .rows
            .iter()
            .filter(|row| row.depth == 0)
            .map(|row| row.parameters)
            .sum();
        assert_eq!(rows, parameters, "{summary}");
    }
    // The token model's tables each have their row.
    let summary = Tok32::summary();
    for (name, kind, numbers) in [
        ("token_embedding", "token embedding", 50 * 32),
        ("token_type_embedding", "token-type embedding", 2 * 32),
        ("embedding_norm", "embedding layer norm", 2 * 32),
        ("positions", "learned positions", 512 * 32),
    ] {
        let row = summary.rows.iter().find(|row| row.name == name);
        let row = row.unwrap_or_else(|| panic!("no {name:?} in\n{summary}"));
        assert_eq!((row.depth, row.kind, row.parameters), (0, kind, numbers));
    }
}
