//! `gguf` against the `gguf` Python package: `tests/fixtures/gguf/quants.gguf` was written by
//! its `GGUFWriter`, and `quants.json` holds what its reader and `gguf.quants.dequantize` make
//! of it (`tools/reference/gguf_quants.py`). Values must match bit for bit.

use std::path::PathBuf;

use serde_json::Value as Json;
use transformer_runtime::gguf::{Array, GgmlType, GgufError, GgufFile, Value};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gguf")
        .join(name)
}

fn reference() -> Json {
    let text = std::fs::read_to_string(fixture("quants.json")).expect("the fixture is committed");
    serde_json::from_str(&text).expect("the fixture is JSON")
}

/// Little-endian f32 values from hex.
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

#[test]
fn every_supported_type_dequantizes_as_the_python_package_does() {
    let file = GgufFile::open(fixture("quants.gguf")).unwrap();
    let reference = reference();
    let tensors = reference["tensors"].as_object().unwrap();
    assert_eq!(file.tensors().len(), tensors.len());
    let mut compared = Vec::new();
    for (name, entry) in tensors {
        let info = file.tensor(name).unwrap();
        assert_eq!(info.ggml_type().name(), entry["type"].as_str().unwrap());
        let shape: Vec<usize> = entry["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(info.shape(), shape, "{name}");
        let Some(hex) = entry["values_f32_le_hex"].as_str() else {
            continue;
        };
        let expected = f32s_from_hex(hex);
        let got = file.tensor_f32(name).unwrap();
        assert_eq!(got.len(), expected.len(), "{name}");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g.to_bits(), e.to_bits(), "{name}[{i}]: {g} vs {e}");
        }
        compared.push(info.ggml_type());
    }
    use GgmlType::*;
    for ty in [F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K] {
        assert!(compared.contains(&ty), "no {ty} tensor compared");
    }
}

#[test]
fn a_type_without_conversion_is_an_error_naming_tensor_and_type() {
    let file = GgufFile::open(fixture("quants.gguf")).unwrap();
    let err = file.tensor_f32("q5_0").unwrap_err();
    assert!(
        matches!(&err, GgufError::Unsupported { name, ggml_type: GgmlType::Q5_0 } if name == "q5_0")
    );
    assert!(
        err.to_string()
            .starts_with("tensor \"q5_0\" is Q5_0, which is not converted")
    );
    // The raw blocks are still there.
    assert_eq!(file.tensor_bytes("q5_0").unwrap().len(), 22);
}

#[test]
fn metadata_of_every_type_reads_as_python_wrote_it() {
    let file = GgufFile::open(fixture("quants.gguf")).unwrap();
    assert_eq!((file.version(), file.alignment()), (3, 64));
    assert_eq!(file.data_start() % 64, 0);
    assert_eq!(file.get_str("general.architecture").unwrap(), "test");
    assert_eq!(file.metadata("test.u8"), Some(&Value::U8(200)));
    assert_eq!(file.get_i32("test.i8").unwrap(), -100);
    assert_eq!(file.get_u32("test.u16").unwrap(), 60000);
    assert_eq!(file.get_i64("test.i16").unwrap(), -30000);
    assert_eq!(file.get_u32("test.u32").unwrap(), 4_000_000_000);
    assert_eq!(file.get_i32("test.i32").unwrap(), -2_000_000_000);
    assert_eq!(file.get_f32("test.f32").unwrap(), 0.1);
    assert!(file.get_bool("test.bool").unwrap());
    assert_eq!(file.get_str("test.string").unwrap(), "héllo, GGUF ✓");
    assert_eq!(file.get_u64("test.u64").unwrap(), (1 << 63) + 5);
    assert_eq!(file.get_i64("test.i64").unwrap(), -(1 << 62));
    assert_eq!(file.get_f64("test.f64").unwrap(), 0.1);
    let array = |key| file.get_array(key).unwrap().clone();
    assert_eq!(array("test.array_i16"), Array::I16(vec![-1, 2, -3]));
    assert_eq!(array("test.array_f32"), Array::F32(vec![0.5, -2.25]));
    assert_eq!(
        array("test.array_bool"),
        Array::Bool(vec![true, false, true])
    );
    assert_eq!(
        file.get_str_array("test.array_string").unwrap(),
        ["a", "", "ü"]
    );
    // [[1, 2], ["x"], [[True]]]: Python ints are INT32 in the package's writer.
    assert_eq!(
        array("test.nested"),
        Array::Array(vec![
            Array::I32(vec![1, 2]),
            Array::String(vec!["x".into()]),
            Array::Array(vec![Array::Bool(vec![true])]),
        ])
    );
    // Everything the JSON lists is in the file.
    let reference = reference();
    for key in reference["metadata"].as_object().unwrap().keys() {
        assert!(file.metadata(key).is_some(), "{key}");
    }
}

#[test]
fn wrong_types_and_missing_keys_name_the_key() {
    let file = GgufFile::open(fixture("quants.gguf")).unwrap();
    let message = |err: GgufError| err.to_string();
    assert_eq!(
        message(file.get_u32("test.i8").unwrap_err()),
        "metadata key `test.i8` holds INT8 -100, expected an integer that fits u32"
    );
    assert_eq!(
        message(file.get_u32("test.u64").unwrap_err()),
        "metadata key `test.u64` holds UINT64 9223372036854775813, expected an integer \
         that fits u32"
    );
    assert_eq!(
        message(file.get_str("test.array_string").unwrap_err()),
        "metadata key `test.array_string` holds ARRAY of STRING, expected a STRING"
    );
    assert_eq!(
        message(file.get_str_array("test.array_i16").unwrap_err()),
        "metadata key `test.array_i16` holds ARRAY of INT16, expected an ARRAY of STRING"
    );
    assert_eq!(
        message(file.get_f32("test.string").unwrap_err()),
        "metadata key `test.string` holds STRING, expected a FLOAT32 or FLOAT64"
    );
    assert!(
        message(file.get_u32("llama.block_count").unwrap_err())
            .starts_with("the GGUF file has no metadata key `llama.block_count`")
    );
}
