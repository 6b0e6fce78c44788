//! Tests of the whole expansion: snapshots of generated code, and a fuzz test that no input
//! makes the macro panic.

mod fuzz;
mod snapshots;

use proc_macro2::TokenStream;

/// `expand`'s output, pretty-printed as a person would read it in `cargo expand`.
pub fn pretty(input: TokenStream) -> String {
    let output = crate::expand(input);
    match syn::parse2::<syn::File>(output.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(e) => panic!("expansion is not valid Rust ({e}):\n{output}"),
    }
}

/// Not a test but a measurement for `scripts/compile-time.sh`: the median time `expand` takes
/// for a MiniLM-sized spec. Ignored by default; the script runs it in release mode.
#[test]
#[ignore = "a measurement, run by scripts/compile-time.sh"]
fn expansion_time() {
    let spec = quote::quote! {
        pub MiniLm < vocab: 30522, d_model: 384, heads: 12, layers: 6, d_ff: 1536, max_len: 512,
                     positional: learned, token_types: 2, embed_norm: true, activation: gelu,
                     eps: 1e-12, weights: bert >
    };
    let mut times: Vec<f64> = (0..20)
        .map(|_| {
            let start = std::time::Instant::now();
            let tokens = crate::expand(spec.clone());
            std::hint::black_box(tokens);
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("expansion: {:.2} ms (median of 20)", times[10]);
}
