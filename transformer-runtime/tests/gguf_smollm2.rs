//! The real SmolLM2-135M-Instruct.Q4_1.gguf (llama.cpp's converter; F32, Q4_1 and Q8_0
//! tensors) read as the `gguf` Python package reads it: `tests/fixtures/gguf/smollm2.json`,
//! from `tools/reference/gguf_smollm2.py`. The file (98 MB) comes from
//! `scripts/fetch-models.sh`.

use std::path::PathBuf;

use serde_json::Value as Json;
use transformer_runtime::gguf::{GgmlType, GgufFile, unpermute_rope_rows};

/// Where `scripts/fetch-models.sh` puts the file:
/// `$TRANSFORMER_MODELS/SmolLM2-135M-Instruct/`, by default under `~/.cache/transformer-models`.
fn model_path() -> PathBuf {
    let root = std::env::var_os("TRANSFORMER_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
            home.join(".cache").join("transformer-models")
        });
    root.join("SmolLM2-135M-Instruct")
        .join("SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn reference() -> Json {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gguf/smollm2.json"
    );
    let text = std::fs::read_to_string(path).expect("the fixture is committed");
    serde_json::from_str(&text).expect("the fixture is JSON")
}

fn f32s_from_hex(hex: &str) -> Vec<f32> {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("the fixture holds hex"))
        .collect();
    bytes
        .as_chunks::<4>()
        .0
        .iter()
        .map(|b| f32::from_le_bytes(*b))
        .collect()
}

fn open() -> GgufFile {
    let path = model_path();
    GgufFile::open(&path).unwrap_or_else(|e| panic!("{e}\nrun scripts/fetch-models.sh"))
}

#[test]
#[ignore = "needs SmolLM2-135M-Instruct.Q4_1.gguf: run scripts/fetch-models.sh"]
fn smollm2_metadata_matches_the_python_reader() {
    let file = open();
    let reference = reference();
    assert_eq!(file.version(), 3);
    assert_eq!(
        file.tensors().len() as u64,
        reference["tensor_count"].as_u64().unwrap()
    );
    assert_eq!(
        file.metadata_entries().count() as u64,
        reference["kv_count"].as_u64().unwrap()
    );
    let meta = &reference["metadata"];
    assert_eq!(file.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(file.get_str("tokenizer.ggml.model").unwrap(), "gpt2");
    for key in [
        "llama.block_count",
        "llama.embedding_length",
        "llama.attention.head_count",
        "llama.attention.head_count_kv",
        "tokenizer.ggml.bos_token_id",
    ] {
        assert_eq!(
            u64::from(file.get_u32(key).unwrap()),
            meta[key].as_u64().unwrap(),
            "{key}"
        );
    }
    for key in [
        "llama.rope.freq_base",
        "llama.attention.layer_norm_rms_epsilon",
    ] {
        assert_eq!(
            f64::from(file.get_f32(key).unwrap()),
            meta[key].as_f64().unwrap(),
            "{key}"
        );
    }
    let tokens = file.get_str_array("tokenizer.ggml.tokens").unwrap();
    let vocab = &reference["vocab"];
    assert_eq!(tokens.len() as u64, vocab["len"].as_u64().unwrap());
    for (token, expected) in tokens.iter().zip(vocab["first"].as_array().unwrap()) {
        assert_eq!(token, expected.as_str().unwrap());
    }
    assert_eq!(tokens.last().unwrap(), vocab["last"].as_str().unwrap());
}

#[test]
#[ignore = "needs SmolLM2-135M-Instruct.Q4_1.gguf: run scripts/fetch-models.sh"]
fn smollm2_tensors_dequantize_as_the_python_package_does() {
    let file = open();
    for (name, entry) in reference()["tensors"].as_object().unwrap() {
        let info = file.tensor(name).unwrap();
        assert_eq!(
            info.ggml_type().name(),
            entry["type"].as_str().unwrap(),
            "{name}"
        );
        let shape: Vec<u64> = info.shape().iter().map(|&d| d as u64).collect();
        let expected_shape: Vec<u64> = entry["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(shape, expected_shape, "{name}");
        let values = file.tensor_f32(name).unwrap();
        let first = f32s_from_hex(entry["first_64_f32_le_hex"].as_str().unwrap());
        assert_eq!(
            values[..first.len()]
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            first.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{name}"
        );
        // The same f32 values summed in another order: equal to far below f32 precision.
        let sum: f64 = values.iter().map(|&v| f64::from(v)).sum();
        let abs_sum: f64 = values.iter().map(|&v| f64::from(v).abs()).sum();
        let expected_abs = entry["abs_sum_f64"].as_f64().unwrap();
        assert!(
            (abs_sum - expected_abs).abs() <= 1e-9 * expected_abs,
            "{name}"
        );
        let expected_sum = entry["sum_f64"].as_f64().unwrap();
        assert!(
            (sum - expected_sum).abs() <= 1e-9 * expected_abs,
            "{name}: {sum}"
        );
    }
}

#[test]
#[ignore = "needs SmolLM2-135M-Instruct.Q4_1.gguf: run scripts/fetch-models.sh"]
fn every_smollm2_tensor_converts_to_finite_values() {
    let file = open();
    let heads = file.get_usize("llama.attention.head_count").unwrap();
    let kv_heads = file.get_usize("llama.attention.head_count_kv").unwrap();
    let mut types = Vec::new();
    for info in file.tensors() {
        let mut values = file.tensor_f32(info.name()).unwrap();
        assert_eq!(values.len(), info.shape().iter().product::<usize>());
        assert!(values.iter().all(|v| v.is_finite()), "{}", info.name());
        // Query and key rows un-permute for their head counts.
        let heads = match info.name() {
            n if n.ends_with("attn_q.weight") => Some(heads),
            n if n.ends_with("attn_k.weight") => Some(kv_heads),
            _ => None,
        };
        if let (Some(heads), &[rows, cols]) = (heads, info.shape().as_slice()) {
            unpermute_rope_rows(&mut values, rows, cols, heads).unwrap();
        }
        if !types.contains(&info.ggml_type()) {
            types.push(info.ggml_type());
        }
    }
    types.sort_by_key(|t| t.code());
    assert_eq!(types, [GgmlType::F32, GgmlType::Q4_1, GgmlType::Q8_0]);
}
