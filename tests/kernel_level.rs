//! One kernel level per process: every routine a forward pass runs asks `cpu::level`, and
//! only the level it names runs. Run under `TRANSFORMER_KERNEL=portable` (as CI does), this
//! is the proof that the portable run runs no AVX; under `avx2`, no AVX-512.
//! The counts are per thread, so tests running beside it do not disturb them.

use transformer::runtime::{cpu, threads};
use transformer::transformer;

transformer! {
    /// Products, softmax, LayerNorm, GELU, learned positions, a final norm.
    Every < d_model: 64, heads: 4, layers: 2, d_ff: 128, max_len: 64, norm: pre,
            activation: gelu, positional: learned, final_norm: true >
}

#[test]
fn a_forward_pass_runs_only_the_chosen_level() {
    // On this thread only: the counts are per thread.
    threads::set(1);
    let level = cpu::try_level().expect("TRANSFORMER_KERNEL names a level this CPU runs");
    let model = Every::init(7);
    // 40 tokens run the tiles, 4 the path of a few tokens, 1 that of one.
    let before = cpu::dispatches();
    let tiles = model.forward(&[[0.25f32; Every::D_MODEL]; 40]);
    let few = model.forward(&[[0.25f32; Every::D_MODEL]; 4]);
    let one = model.forward(&[[0.25f32; Every::D_MODEL]; 1]);
    let after = cpu::dispatches();
    let outputs = tiles.iter().chain(few.iter()).chain(one.iter());
    assert!(outputs.flatten().all(|v| v.is_finite()));
    for (other, (b, a)) in cpu::Level::ALL.into_iter().zip(before.iter().zip(after)) {
        if other == level {
            assert!(a > *b, "no kernel asked for {level}");
        } else {
            assert_eq!(a, *b, "a kernel ran {other} in a {level} process");
        }
    }
}

#[test]
fn the_default_level_is_the_widest_the_cpu_has() {
    if std::env::var_os(cpu::ENV).is_none_or(|v| v.is_empty()) {
        assert_eq!(cpu::try_level(), Ok(cpu::supported()[0]));
    }
}
