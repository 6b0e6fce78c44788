#!/usr/bin/env bash
# Measures what a `transformer!` user pays at compile time, for a crate declaring a 6-layer,
# d_model 384 encoder (MiniLM's shape):
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
write_model() {
    cat > "$work/src/main.rs" <<RUST
use transformer::transformer;
transformer! {
    /// A MiniLM-sized encoder.
    pub Encoder < d_model: 384, heads: 12, layers: 6, d_ff: $1, max_len: 512, activation: gelu >
}
fn main() {
    let model = Encoder::init(0);
    let out = model.forward(&[[0.1f32; 384]; 8]);
    println!("{}", out[0][0]);
}
RUST
}
write_model 1536
export CARGO_TARGET_DIR="$work/target"
cargo build --release --manifest-path "$work/Cargo.toml" >/dev/null   # dependencies
cargo clean --release -p compile-time-probe --manifest-path "$work/Cargo.toml" >/dev/null 2>&1

echo "== (b) clean release build of the model crate (dependencies built)"
start=$(date +%s%N)
cargo build --release --manifest-path "$work/Cargo.toml" >/dev/null
end=$(date +%s%N)
echo "clean build: $(( (end - start) / 1000000 )) ms"

echo "== (c) incremental release rebuild after changing d_ff"
write_model 1532
start=$(date +%s%N)
cargo build --release --manifest-path "$work/Cargo.toml" >/dev/null
end=$(date +%s%N)
echo "incremental rebuild: $(( (end - start) / 1000000 )) ms"
