#!/usr/bin/env bash
# Measures what a `transformer!` user pays at compile time, for a crate declaring a 6-layer,
# d_model 384 encoder (MiniLM's shape), then one declaring SmolLM2-135M (30 decoder layers):
#   (a) the macro's expansion time (the median of 20 `expand` calls, in the macro crate),
#   (b) a clean `cargo build --release` of that crate, its dependencies already built,
#   (c) an incremental release rebuild after changing one spec value.
# Usage: scripts/compile-time.sh   (prints one line per figure)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/transformer-compile-time.XXXXXX)"
trap 'rm -rf "$work"' EXIT

echo "== (a) expansion time"
cargo test --manifest-path "$root/Cargo.toml" -p transformer-macros --release --lib \
    -- --ignored --nocapture expansion_time 2>/dev/null | grep '^expansion'

mkdir -p "$work/src"
cat > "$work/Cargo.toml" <<TOML
[package]
name = "compile-time-probe"
version = "0.1.0"
edition = "2024"
[dependencies]
transformer = { path = "$root", default-features = false }
TOML
# write_model MODEL D_FF: a crate declaring MiniLM's encoder or SmolLM2's decoder (30 layers).
write_model() {
    if [ "$1" = minilm ]; then
        spec="pub Encoder < d_model: 384, heads: 12, layers: 6, d_ff: $2, max_len: 512, activation: gelu >"
        use="let out = Encoder::init(0).forward(&[[0.1f32; 384]; 8]); println!(\"{}\", out[0][0]);"
    else
        spec="pub SmolLm2 < kind: decoder, vocab: 49152, d_model: 576, heads: 9, kv_heads: 3, layers: 30,
                  d_ff: $2, max_len: 8192, norm: pre, norm_kind: rms, eps: 1e-5, final_norm: true,
                  positional: rope, rope_theta: 100000, gated: true, activation: silu, bias: false,
                  lm_head: tied, weights: llama >"
        use="let model = SmolLm2::zeroed(); let mut cache = SmolLm2::cache(8).unwrap();
    println!(\"{}\", model.prefill(&mut cache, &[1, 2]).unwrap()[0]);"
    fi
    cat > "$work/src/main.rs" <<RUST
use transformer::transformer;
transformer! {
    $spec
}
fn main() {
    $use
}
RUST
}
export CARGO_TARGET_DIR="$work/target"
for model in minilm smollm2; do
    write_model $model 1536
    cargo build --release --manifest-path "$work/Cargo.toml" >/dev/null   # dependencies
    cargo clean --release -p compile-time-probe --manifest-path "$work/Cargo.toml" >/dev/null 2>&1

    echo "== (b) $model: clean release build of the model crate (dependencies built)"
    start=$(date +%s%N)
    cargo build --release --manifest-path "$work/Cargo.toml" >/dev/null
    end=$(date +%s%N)
    echo "clean build: $(( (end - start) / 1000000 )) ms"

    echo "== (c) $model: incremental release rebuild after changing d_ff"
    write_model $model 1532
    start=$(date +%s%N)
    cargo build --release --manifest-path "$work/Cargo.toml" >/dev/null
    end=$(date +%s%N)
    echo "incremental rebuild: $(( (end - start) / 1000000 )) ms"
done
