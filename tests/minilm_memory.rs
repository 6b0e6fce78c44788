//! Loading all-MiniLM-L6-v2 keeps at most 1.2x its weights on the heap: tensors stream from
//! the file into the model, with no second copy of the file. Ignored without the model, as in
//! `tests/minilm.rs`; CI fetches it and runs this.

mod counting;

#[path = "../examples/minilm.rs"]
#[expect(dead_code, reason = "only the model type is used here")]
mod minilm;

use minilm::{MiniLm, model_dir};

#[test]
#[ignore = "needs all-MiniLM-L6-v2: run scripts/fetch-models.sh"]
fn loading_peaks_below_1_2x_the_weights() {
    let path = model_dir(None).join("model.safetensors");
    let (model, peak) = counting::peak_bytes(|| MiniLm::from_safetensors(&path));
    let model = model.unwrap_or_else(|e| panic!("{e}\n(run scripts/fetch-models.sh)"));
    let weights = MiniLm::WEIGHT_BYTES;
    println!(
        "peak heap while loading: {peak} bytes, {:.3}x the {weights} bytes of weights",
        peak as f64 / weights as f64
    );
    assert!((peak as f64) <= 1.2 * weights as f64, "peak {peak} bytes");
    drop(model);
}
