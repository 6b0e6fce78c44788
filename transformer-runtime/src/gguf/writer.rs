//! Writing small GGUF files (version 3): metadata of any type, and tensors in F32, F16 or the
//! raw blocks of any ggml type. For tests and fixtures; it holds everything in memory.

use std::path::Path;

use half::f16;

use super::parse::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT};
use super::tensor::sizes;
use super::value::{Array, Value};
use super::{GgmlType, GgufError};

/// Collects metadata and tensors, then lays them out as a GGUF file: header, metadata, tensor
/// infos, and each tensor's bytes at the next multiple of the alignment (`general.alignment`
/// if added as a valid power of two, else 32).
///
/// ```
/// use transformer_runtime::gguf::{GgufFile, Value, Writer};
///
/// let mut writer = Writer::new();
/// writer.add_metadata("llama.block_count", Value::U32(2))?;
/// writer.add_f32("output_norm.weight", &[3], &[1.0, 2.0, 3.0])?;
/// let file = GgufFile::from_bytes(writer.to_bytes())?;
/// assert_eq!(file.get_u32("llama.block_count")?, 2);
/// assert_eq!(file.tensor_f32("output_norm.weight")?, [1.0, 2.0, 3.0]);
/// # Ok::<(), transformer_runtime::gguf::GgufError>(())
/// ```
#[derive(Debug, Default)]
pub struct Writer {
    metadata: Vec<(String, Value)>,
    tensors: Vec<Tensor>,
}

#[derive(Debug)]
struct Tensor {
    name: String,
    dims: Vec<u64>,
    ggml_type: GgmlType,
    bytes: Vec<u8>,
}

impl Writer {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds metadata `key`. Fails if the key was added before.
    pub fn add_metadata(&mut self, key: &str, value: Value) -> Result<&mut Self, GgufError> {
        if self.metadata.iter().any(|(k, _)| k == key) {
            return Err(twice(key));
        }
        self.metadata.push((key.to_owned(), value));
        Ok(self)
    }

    /// Adds an F32 tensor of row-major `shape` (PyTorch order; the file stores the dims
    /// reversed). Fails if `values` does not hold the shape or the name was added before.
    pub fn add_f32(
        &mut self,
        name: &str,
        shape: &[usize],
        values: &[f32],
    ) -> Result<&mut Self, GgufError> {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add_values(name, shape, values.len(), GgmlType::F32, bytes)
    }

    /// Adds an F16 tensor of row-major `shape`, each value rounded to the nearest f16.
    pub fn add_f16(
        &mut self,
        name: &str,
        shape: &[usize],
        values: &[f32],
    ) -> Result<&mut Self, GgufError> {
        let bytes = values
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect();
        self.add_values(name, shape, values.len(), GgmlType::F16, bytes)
    }

    /// Adds a tensor of row-major `shape` whose bytes are already in `ggml_type`'s layout
    /// (whole blocks along the last axis). Fails if the rows do not hold whole blocks, `bytes`
    /// has the wrong length, or the name was added before.
    pub fn add_raw(
        &mut self,
        name: &str,
        shape: &[usize],
        ggml_type: GgmlType,
        bytes: &[u8],
    ) -> Result<&mut Self, GgufError> {
        let dims = dims(shape);
        let (_, byte_size) = sizes(name, &dims, ggml_type).map_err(|detail| GgufError::Writer {
            name: name.to_owned(),
            detail,
        })?;
        if bytes.len() != byte_size {
            return Err(GgufError::WrongLength {
                name: name.to_owned(),
                expected: byte_size,
                found: bytes.len(),
            });
        }
        self.push(name, dims, ggml_type, bytes.to_vec())
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let alignment = self.alignment();
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend((self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_string(&mut out, key);
            out.extend(value.value_type().code().to_le_bytes());
            put_value(&mut out, value);
        }
        let mut offset = 0u64;
        for tensor in &self.tensors {
            put_string(&mut out, &tensor.name);
            out.extend((tensor.dims.len() as u32).to_le_bytes());
            for d in &tensor.dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(tensor.ggml_type.code().to_le_bytes());
            out.extend(offset.to_le_bytes());
            offset = (offset + tensor.bytes.len() as u64).next_multiple_of(alignment);
        }
        for tensor in &self.tensors {
            pad(&mut out, alignment);
            out.extend(&tensor.bytes);
        }
        pad(&mut out, alignment);
        out
    }

    /// Writes the file to `path`.
    pub fn write_file(&self, path: &Path) -> Result<(), GgufError> {
        std::fs::write(path, self.to_bytes()).map_err(|source| GgufError::Io {
            path: Some(path.to_path_buf()),
            source,
        })
    }

    fn add_values(
        &mut self,
        name: &str,
        shape: &[usize],
        len: usize,
        ggml_type: GgmlType,
        bytes: Vec<u8>,
    ) -> Result<&mut Self, GgufError> {
        let n: Option<usize> = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if n != Some(len) {
            return Err(GgufError::WrongLength {
                name: name.to_owned(),
                expected: n.unwrap_or(usize::MAX),
                found: len,
            });
        }
        self.push(name, dims(shape), ggml_type, bytes)
    }

    fn push(
        &mut self,
        name: &str,
        dims: Vec<u64>,
        ggml_type: GgmlType,
        bytes: Vec<u8>,
    ) -> Result<&mut Self, GgufError> {
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(twice(name));
        }
        self.tensors.push(Tensor {
            name: name.to_owned(),
            dims,
            ggml_type,
            bytes,
        });
        Ok(self)
    }

    /// `general.alignment` when it is a power of two, else the default.
    fn alignment(&self) -> u64 {
        self.metadata
            .iter()
            .find(|(key, _)| key == ALIGNMENT_KEY)
            .and_then(|(_, value)| u64::try_from(value.as_integer()?).ok())
            .filter(|a| a.is_power_of_two())
            .unwrap_or(DEFAULT_ALIGNMENT)
    }
}

fn twice(name: &str) -> GgufError {
    GgufError::Writer {
        name: name.to_owned(),
        detail: "the name was added twice".to_owned(),
    }
}

/// A row-major shape as GGUF dims: reversed, `ne0` first.
fn dims(shape: &[usize]) -> Vec<u64> {
    shape.iter().rev().map(|&d| d as u64).collect()
}

fn pad(out: &mut Vec<u8>, alignment: u64) {
    let len = (out.len() as u64).next_multiple_of(alignment);
    out.resize(len as usize, 0);
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => out.extend(v.to_le_bytes()),
        Value::I8(v) => out.extend(v.to_le_bytes()),
        Value::U16(v) => out.extend(v.to_le_bytes()),
        Value::I16(v) => out.extend(v.to_le_bytes()),
        Value::U32(v) => out.extend(v.to_le_bytes()),
        Value::I32(v) => out.extend(v.to_le_bytes()),
        Value::F32(v) => out.extend(v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(s) => put_string(out, s),
        Value::Array(a) => put_array(out, a),
        Value::U64(v) => out.extend(v.to_le_bytes()),
        Value::I64(v) => out.extend(v.to_le_bytes()),
        Value::F64(v) => out.extend(v.to_le_bytes()),
    }
}

/// Element type, count, then each element as [`put_value`] writes it.
fn put_array(out: &mut Vec<u8>, array: &Array) {
    out.extend(array.element_type().code().to_le_bytes());
    out.extend((array.len() as u64).to_le_bytes());
    fn each<T: Copy>(out: &mut Vec<u8>, items: &[T], wrap: fn(T) -> Value) {
        for &item in items {
            put_value(out, &wrap(item));
        }
    }
    match array {
        Array::U8(v) => each(out, v, Value::U8),
        Array::I8(v) => each(out, v, Value::I8),
        Array::U16(v) => each(out, v, Value::U16),
        Array::I16(v) => each(out, v, Value::I16),
        Array::U32(v) => each(out, v, Value::U32),
        Array::I32(v) => each(out, v, Value::I32),
        Array::F32(v) => each(out, v, Value::F32),
        Array::Bool(v) => each(out, v, Value::Bool),
        Array::U64(v) => each(out, v, Value::U64),
        Array::I64(v) => each(out, v, Value::I64),
        Array::F64(v) => each(out, v, Value::F64),
        Array::String(v) => v.iter().for_each(|s| put_string(out, s)),
        Array::Array(v) => v.iter().for_each(|a| put_array(out, a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::GgufFile;

    #[test]
    fn every_value_type_round_trips() {
        let values = [
            Value::U8(1),
            Value::I8(-2),
            Value::U16(3),
            Value::I16(-4),
            Value::U32(5),
            Value::I32(-6),
            Value::F32(0.5),
            Value::Bool(true),
            Value::String("seven".into()),
            Value::Array(Array::Array(vec![
                Array::U64(vec![8, 9]),
                Array::Bool(vec![false]),
                Array::String(vec![]),
            ])),
            Value::U64(u64::MAX),
            Value::I64(i64::MIN),
            Value::F64(-0.125),
        ];
        let mut writer = Writer::new();
        for (i, value) in values.iter().enumerate() {
            writer
                .add_metadata(&format!("k{i}"), value.clone())
                .unwrap();
        }
        let file = GgufFile::from_bytes(writer.to_bytes()).unwrap();
        for (i, value) in values.iter().enumerate() {
            assert_eq!(file.metadata(&format!("k{i}")), Some(value));
        }
    }

    #[test]
    fn alignment_from_metadata_places_the_data() {
        let mut writer = Writer::new();
        writer.add_metadata(ALIGNMENT_KEY, Value::U32(128)).unwrap();
        writer.add_f32("a", &[1], &[1.0]).unwrap();
        writer.add_f32("b", &[1], &[2.0]).unwrap();
        let file = GgufFile::from_bytes(writer.to_bytes()).unwrap();
        assert_eq!(file.data_start() % 128, 0);
        assert_eq!(file.tensor("b").unwrap().offset(), 128);
        assert_eq!(file.tensor_f32("b").unwrap(), [2.0]);
    }

    #[test]
    fn mistakes_of_the_caller_are_errors() {
        let mut writer = Writer::new();
        writer.add_metadata("k", Value::U8(1)).unwrap();
        let err = writer.add_metadata("k", Value::U8(2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot write \"k\": the name was added twice\n\
             help: this is a bug in the code calling `gguf::Writer`"
        );
        assert!(matches!(
            writer.add_f32("w", &[2, 2], &[1.0; 3]),
            Err(GgufError::WrongLength {
                expected: 4,
                found: 3,
                ..
            })
        ));
        let err = writer
            .add_raw("q", &[16], GgmlType::Q8_0, &[0; 17])
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("blocks of 32 values, but its rows (dims[0]) have 16")
        );
        assert!(matches!(
            writer.add_raw("q", &[32], GgmlType::Q8_0, &[0; 33]),
            Err(GgufError::WrongLength {
                expected: 34,
                found: 33,
                ..
            })
        ));
        writer
            .add_raw("q", &[32], GgmlType::Q8_0, &[0; 34])
            .unwrap();
        assert!(writer.add_f16("q", &[1], &[0.0]).is_err());
    }
}
