//! Tests of the whole expansion: snapshots of generated code, each model's `EXPANSION` (that
//! code as text), and a fuzz test that no input makes the macro panic.

mod expansion;
mod fuzz;
mod snapshots;

use proc_macro2::TokenStream;

use crate::codegen;

/// The code generated for a valid spec, pretty-printed as a person would read it in
/// `cargo expand`, by the printer of the `EXPANSION` consts, which it leaves out: for a
/// one-model spec, the text of that model's `EXPANSION`.
pub fn pretty(input: TokenStream) -> String {
    let models = syn::parse2::<crate::spec::Specs>(input)
        .and_then(|specs| crate::validate::validate(&specs))
        .unwrap_or_else(|e| panic!("not a valid spec: {e}"));
    let code: TokenStream = models.iter().map(codegen::generate_model).collect();
    codegen::expansion::try_pretty(&code)
        .unwrap_or_else(|e| panic!("expansion is not valid Rust ({e}):\n{code}"))
}

/// Not a test but a measurement for `scripts/compile-time.sh`: the median time `expand` takes
/// for MiniLM's spec and for SmolLM2's (30 layers, unrolled). Ignored by default; the script runs it in release mode.
#[test]
#[ignore = "a measurement, run by scripts/compile-time.sh"]
fn expansion_time() {
    let specs = [
        (
            "MiniLM (6 layers)",
            quote::quote! {
                pub MiniLm < vocab: 30522, d_model: 384, heads: 12, layers: 6, d_ff: 1536, max_len: 512,
                             positional: learned, token_types: 2, embed_norm: true, activation: gelu,
                             eps: 1e-12, weights: bert >
            },
        ),
        (
            "SmolLM2 (30 layers)",
            quote::quote! {
                pub SmolLm2 < kind: decoder, vocab: 49152, d_model: 576, heads: 9, kv_heads: 3,
                              layers: 30, d_ff: 1536, max_len: 8192, norm: pre, norm_kind: rms,
                              eps: 1e-5, final_norm: true, positional: rope, rope_theta: 100000,
                              gated: true, activation: silu, bias: false, lm_head: tied,
                              weights: llama >
            },
        ),
    ];
    for (name, spec) in specs {
        let mut times: Vec<f64> = (0..20)
            .map(|_| {
                let start = std::time::Instant::now();
                let tokens = crate::expand(spec.clone());
                std::hint::black_box(tokens);
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("expansion of {name}: {:.2} ms (median of 20)", times[10]);
    }
}
