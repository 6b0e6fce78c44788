//! Writing named `f32` tensors as a safetensors file, the inverse of the loader.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, View};

use super::shape::check_lengths;
use super::{LoadError, TensorFault};

/// Collects `f32` tensors by name and serialises them as safetensors (dtype F32, little
/// endian, row-major), so that [`Loader`](super::Loader) reads back the same bits.
///
/// Like the loader, `add*` never fail: a buffer of the wrong length or a repeated name is
/// recorded, and [`to_bytes`](Self::to_bytes) reports every such fault.
#[derive(Debug, Default)]
pub struct Writer {
    tensors: BTreeMap<String, Entry>,
    faults: Vec<TensorFault>,
}

/// One tensor, already in its on-disk bytes.
#[derive(Debug)]
struct Entry {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds tensor `name` of `shape` with row-major `data`: `data.len()` must be `Π shape[i]`.
    pub fn add(&mut self, name: &str, shape: &[usize], data: &[f32]) {
        self.add_concat(name, shape, &[data]);
    }

    /// Adds tensor `name` of `shape` made of `parts` stacked along dim 0, the inverse of
    /// [`Loader::read_split`](super::Loader::read_split): q, k and v of `D * D` values each
    /// make an `in_proj_weight` of shape `[3 * D, D]`. Each part must hold whole rows.
    pub fn add_concat(&mut self, name: &str, shape: &[usize], parts: &[&[f32]]) {
        let lengths: Vec<usize> = parts.iter().map(|part| part.len()).collect();
        if let Some(fault) = check_lengths(name, shape, &lengths) {
            self.faults.push(fault);
        } else if self.tensors.contains_key(name) {
            self.faults.push(TensorFault::Duplicate {
                name: name.to_owned(),
            });
        } else {
            let bytes = parts
                .iter()
                .copied()
                .flatten()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            self.tensors.insert(
                name.to_owned(),
                Entry {
                    shape: shape.to_vec(),
                    bytes,
                },
            );
        }
    }

    /// The safetensors file: `[n: u64 LE][JSON header][data]`. `Err` lists every fault that
    /// `add*` recorded.
    pub fn to_bytes(&self) -> Result<Vec<u8>, LoadError> {
        if !self.faults.is_empty() {
            return Err(LoadError::Tensors(self.faults.clone()));
        }
        safetensors::serialize(&self.tensors, None).map_err(|e| LoadError::Header {
            detail: format!("cannot write the header ({e})"),
            help: "split the tensors over several files",
        })
    }

    /// Writes [`to_bytes`](Self::to_bytes) to `path`, replacing any file there.
    pub fn write_file(&self, path: &Path) -> Result<(), LoadError> {
        let bytes = self.to_bytes()?;
        std::fs::write(path, bytes).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

impl View for &Entry {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Loader, Strictness};

    #[test]
    fn round_trip_is_bit_exact() {
        let special = [
            0.0,
            -0.0,
            f32::MIN_POSITIVE / 3.0,
            f32::MAX,
            f32::NEG_INFINITY,
            f32::from_bits(0x7FA0_0001),
        ];
        let mut writer = Writer::new();
        writer.add("special", &[2, 3], &special);
        writer.add("scalar", &[], &[0.1]);
        let bytes = writer.to_bytes().unwrap();

        let mut loader = Loader::new(&bytes).unwrap();
        let (mut out, mut scalar) = ([0.0f32; 6], [0.0]);
        loader.read("special", &[2, 3], &mut out);
        loader.read("scalar", &[], &mut scalar);
        loader.finish(Strictness::Strict).unwrap();
        assert_eq!(out.map(f32::to_bits), special.map(f32::to_bits));
        assert_eq!(scalar, [0.1]);
    }

    #[test]
    fn the_header_is_the_documented_layout() {
        let mut writer = Writer::new();
        writer.add("w", &[1], &[1.0]);
        let bytes = writer.to_bytes().unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
        assert_eq!(
            header.trim_end(),
            r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        );
        assert_eq!(&bytes[8 + n..], 1.0f32.to_le_bytes());
    }

    #[test]
    fn add_concat_is_the_inverse_of_read_split() {
        let (q, k, v) = ([1.0, 2.0], [3.0, 4.0], [5.0, 6.0]);
        let mut writer = Writer::new();
        writer.add_concat("qkv", &[3, 2], &[&q, &k, &v]);
        writer.add("flat", &[6], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let bytes = writer.to_bytes().unwrap();

        let mut loader = Loader::new(&bytes).unwrap();
        let (mut q2, mut k2, mut v2, mut flat) = ([0.0; 2], [0.0; 2], [0.0; 2], [0.0; 6]);
        loader.read_split("qkv", &[3, 2], &mut [&mut q2, &mut k2, &mut v2]);
        loader.read("qkv", &[3, 2], &mut flat);
        loader.ignore_prefix("flat");
        loader.finish(Strictness::Strict).unwrap();
        assert_eq!((q2, k2, v2), (q, k, v));
        assert_eq!(flat, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn wrong_lengths_and_duplicates_are_all_reported() {
        let mut writer = Writer::new();
        writer.add("w", &[2], &[1.0, 2.0]);
        writer.add("w", &[2], &[3.0, 4.0]);
        writer.add("short", &[3], &[1.0]);
        writer.add_concat("ragged", &[2, 2], &[&[1.0], &[2.0, 3.0, 4.0]]);
        let Err(LoadError::Tensors(faults)) = writer.to_bytes() else {
            panic!("expected faults");
        };
        assert_eq!(
            faults,
            [
                TensorFault::Duplicate { name: "w".into() },
                TensorFault::WrongLength {
                    name: "short".into(),
                    shape: vec![3],
                    lengths: vec![1]
                },
                TensorFault::WrongLength {
                    name: "ragged".into(),
                    shape: vec![2, 2],
                    lengths: vec![1, 3]
                },
            ]
        );
    }

    #[test]
    fn write_file_names_the_path_it_cannot_write() {
        let path = Path::new("/nonexistent/transformer/out.safetensors");
        let err = Writer::new().write_file(path).unwrap_err();
        assert!(matches!(err, LoadError::Io { path: p, .. } if p == path));
    }
}
