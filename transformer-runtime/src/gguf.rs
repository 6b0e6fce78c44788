//! GGUF files (llama.cpp's format, versions 2 and 3): metadata, tensor infos, and tensors
//! converted to `f32`.
//!
//! A GGUF file is a header, metadata (typed key-value pairs such as `llama.block_count` or
//! the tokenizer's `tokenizer.ggml.tokens`), one info per tensor, then the data section:
//!
//! ```text
//! magic "GGUF" | version: u32 (2, 3) | tensor_count: u64 | kv_count: u64
//! kv_count × { key: string | value_type: u32 | value }
//! tensor_count × { name: string | n_dims: u32 | dims: n_dims × u64 | ggml_type: u32 | offset: u64 }
//! padding to `general.alignment` (default 32) | data section: each tensor at `offset` from here
//! ```
//!
//! All numbers are little endian; a string is a `u64` length then that many UTF-8 bytes; an
//! array value is an element type (`u32`), a count (`u64`) and the elements ([`Value`],
//! [`Array`]). [`GgufFile::open`] reads and checks everything but the
//! tensor data, which is read one tensor at a time when asked for;
//! [`GgufFile::from_bytes`] takes a file already in memory. A truncated, corrupt or lying
//! file is a [`GgufError`] naming the byte, key or tensor at fault, never a panic or a huge
//! allocation.
//!
//! Tensors come out as `f32` in row-major order of [`TensorInfo::shape`], PyTorch's order:
//! GGUF lists dims fastest first (`ne0`), so a PyTorch `[out, in]` weight has dims
//! `[in, out]` and shape `[out, in]`. F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K and Q6_K
//! convert (bit for bit as ggml does); other types are an error naming the tensor and type.
//! llama.cpp's converter reorders the rows of Llama query and key weights;
//! [`unpermute_rope_rows`] restores Hugging Face's order.
//!
//! ```
//! use transformer_runtime::gguf::{Array, GgmlType, GgufFile, Value, Writer};
//!
//! let mut writer = Writer::new();
//! writer.add_metadata("general.architecture", Value::String("llama".into()))?;
//! writer.add_metadata("llama.attention.head_count", Value::U32(4))?;
//! writer.add_metadata(
//!     "tokenizer.ggml.tokens",
//!     Value::Array(Array::String(vec!["<s>".into(), "hi".into()])),
//! )?;
//! writer.add_f16("blk.0.attn_q.weight", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
//! let file = GgufFile::from_bytes(writer.to_bytes())?;
//!
//! assert_eq!(file.get_str("general.architecture")?, "llama");
//! assert_eq!(file.get_u64("llama.attention.head_count")?, 4);
//! assert_eq!(file.get_str_array("tokenizer.ggml.tokens")?, ["<s>", "hi"]);
//! let q = file.tensor("blk.0.attn_q.weight").expect("the tensor was written");
//! assert_eq!((q.dims(), q.shape(), q.ggml_type()), (&[3, 2][..], vec![2, 3], GgmlType::F16));
//! assert_eq!(file.tensor_f32("blk.0.attn_q.weight")?, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//! # Ok::<(), transformer_runtime::gguf::GgufError>(())
//! ```

mod error;
mod ggml_type;
mod parse;
mod quant;
mod rope;
mod spec;
mod tensor;
mod value;
mod writer;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

pub use error::GgufError;
pub use ggml_type::GgmlType;
pub use rope::{permute_rope_rows, unpermute_rope_rows};
pub use spec::{LlamaSpec, Mismatch};
pub use tensor::TensorInfo;
pub use value::{Array, Value};
pub use writer::Writer;

/// A GGUF file whose header, metadata and tensor infos were read and checked.
pub struct GgufFile {
    version: u32,
    metadata: Vec<(String, Value)>,
    keys: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    names: HashMap<String, usize>,
    alignment: u64,
    data_start: u64,
    data: Data,
}

/// Where the tensor bytes are.
enum Data {
    /// The whole file, in memory.
    Memory(Vec<u8>),
    /// The file on disk, read a tensor at a time (a lock, since reading moves its cursor).
    File { path: PathBuf, file: Mutex<File> },
}

impl GgufFile {
    /// Opens the file at `path` and reads its header, metadata and tensor infos, not its
    /// tensor data.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref();
        let io = |source| GgufError::Io {
            path: Some(path.to_path_buf()),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let header = parse::parse(BufReader::new(&file), len, Some(path))?;
        let data = Data::File {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        };
        Ok(Self::new(header, data))
    }

    /// Reads the header, metadata and tensor infos of the file in `bytes`, and keeps the
    /// bytes for the tensors.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GgufError> {
        let header = parse::parse(bytes.as_slice(), bytes.len() as u64, None)?;
        Ok(Self::new(header, Data::Memory(bytes)))
    }

    fn new(header: parse::Header, data: Data) -> Self {
        let index = |names: Vec<&str>| -> HashMap<String, usize> {
            names
                .into_iter()
                .enumerate()
                .map(|(i, n)| (n.to_owned(), i))
                .collect()
        };
        let keys = index(header.metadata.iter().map(|(k, _)| k.as_str()).collect());
        let names = index(header.tensors.iter().map(TensorInfo::name).collect());
        Self {
            version: header.version,
            metadata: header.metadata,
            keys,
            tensors: header.tensors,
            names,
            alignment: header.alignment,
            data_start: header.data_start,
            data,
        }
    }

    /// The format version: 2 or 3.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The alignment of the data section and of each tensor in it, in bytes.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Where the data section starts in the file; tensor offsets count from here.
    pub fn data_start(&self) -> u64 {
        self.data_start
    }

    /// The value of metadata `key`, if the file has it.
    pub fn metadata(&self, key: &str) -> Option<&Value> {
        self.keys.get(key).map(|&i| &self.metadata[i].1)
    }

    /// Every metadata key and value, in file order.
    pub fn metadata_entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.metadata.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Every tensor, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor called `name`, if the file has it.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.names.get(name).map(|&i| &self.tensors[i])
    }

    /// Metadata `key` as a `u32`: an integer of any type whose value fits.
    pub fn get_u32(&self, key: &str) -> Result<u32, GgufError> {
        self.integer(key, "an integer that fits u32")
    }

    /// Metadata `key` as a `u64`: an integer of any type whose value fits.
    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        self.integer(key, "an integer that fits u64")
    }

    /// Metadata `key` as a `usize`: an integer of any type whose value fits.
    pub fn get_usize(&self, key: &str) -> Result<usize, GgufError> {
        self.integer(key, "an integer that fits usize")
    }

    /// Metadata `key` as an `i32`: an integer of any type whose value fits.
    pub fn get_i32(&self, key: &str) -> Result<i32, GgufError> {
        self.integer(key, "an integer that fits i32")
    }

    /// Metadata `key` as an `i64`: an integer of any type whose value fits.
    pub fn get_i64(&self, key: &str) -> Result<i64, GgufError> {
        self.integer(key, "an integer that fits i64")
    }

    /// Metadata `key` as an `f32`: a `FLOAT32`, or a `FLOAT64` rounded to the nearest f32.
    pub fn get_f32(&self, key: &str) -> Result<f32, GgufError> {
        match self.value(key)? {
            Value::F32(v) => Ok(*v),
            Value::F64(v) => Ok(*v as f32),
            other => Err(wrong_type(key, "a FLOAT32 or FLOAT64", other)),
        }
    }

    /// Metadata `key` as an `f64`: a `FLOAT32` or `FLOAT64`.
    pub fn get_f64(&self, key: &str) -> Result<f64, GgufError> {
        match self.value(key)? {
            Value::F32(v) => Ok(f64::from(*v)),
            Value::F64(v) => Ok(*v),
            other => Err(wrong_type(key, "a FLOAT32 or FLOAT64", other)),
        }
    }

    /// Metadata `key` as a `bool`.
    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        match self.value(key)? {
            Value::Bool(v) => Ok(*v),
            other => Err(wrong_type(key, "a BOOL", other)),
        }
    }

    /// Metadata `key` as a string.
    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        match self.value(key)? {
            Value::String(s) => Ok(s),
            other => Err(wrong_type(key, "a STRING", other)),
        }
    }

    /// Metadata `key` as an array of any element type.
    pub fn get_array(&self, key: &str) -> Result<&Array, GgufError> {
        match self.value(key)? {
            Value::Array(a) => Ok(a),
            other => Err(wrong_type(key, "an ARRAY", other)),
        }
    }

    /// Metadata `key` as an array of strings, such as `tokenizer.ggml.tokens`.
    pub fn get_str_array(&self, key: &str) -> Result<&[String], GgufError> {
        match self.value(key)? {
            Value::Array(Array::String(a)) => Ok(a),
            other => Err(wrong_type(key, "an ARRAY of STRING", other)),
        }
    }

    /// The value of `key`, or an error naming it.
    fn value(&self, key: &str) -> Result<&Value, GgufError> {
        self.metadata(key).ok_or_else(|| GgufError::MissingKey {
            key: key.to_owned(),
        })
    }

    fn integer<T: TryFrom<i128>>(&self, key: &str, expected: &'static str) -> Result<T, GgufError> {
        let value = self.value(key)?;
        value
            .as_integer()
            .and_then(|v| T::try_from(v).ok())
            .ok_or_else(|| wrong_type(key, expected, value))
    }

    /// The bytes of tensor `name`, as stored: borrowed from memory, or read from the file.
    pub fn tensor_bytes(&self, name: &str) -> Result<Cow<'_, [u8]>, GgufError> {
        let info = self.find(name)?;
        // Opening checked that the bytes lie inside the file, so neither sum overflows.
        let start = self.data_start + info.offset;
        match &self.data {
            Data::Memory(bytes) => {
                let start = start as usize;
                Ok(Cow::Borrowed(&bytes[start..start + info.byte_size]))
            }
            Data::File { path, file } => {
                let io = |source| GgufError::Io {
                    path: Some(path.clone()),
                    source,
                };
                let mut bytes = Vec::new();
                bytes
                    .try_reserve_exact(info.byte_size)
                    .map_err(out_of_memory)
                    .map_err(io)?;
                bytes.resize(info.byte_size, 0);
                let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
                file.seek(SeekFrom::Start(start)).map_err(io)?;
                file.read_exact(&mut bytes).map_err(io)?;
                Ok(Cow::Owned(bytes))
            }
        }
    }

    /// Fills `out` with tensor `name` as `f32`, row-major in the order of
    /// [`TensorInfo::shape`]. Fails if the file has no such tensor, its type does not
    /// convert ([`GgmlType::converts_to_f32`]), or `out` does not hold exactly its values.
    pub fn read_f32(&self, name: &str, out: &mut [f32]) -> Result<(), GgufError> {
        let info = self.find(name)?;
        let dequantize = dequantizer(info)?;
        if out.len() != info.n_values {
            return Err(GgufError::WrongLength {
                name: name.to_owned(),
                expected: info.n_values,
                found: out.len(),
            });
        }
        dequantize(&self.tensor_bytes(name)?, out);
        Ok(())
    }

    /// Tensor `name` as `f32`, row-major in the order of [`TensorInfo::shape`].
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>, GgufError> {
        let info = self.find(name)?;
        dequantizer(info)?;
        let mut out = Vec::new();
        out.try_reserve_exact(info.n_values)
            .map_err(|e| GgufError::Io {
                path: self.path().map(Path::to_path_buf),
                source: out_of_memory(e),
            })?;
        out.resize(info.n_values, 0.0);
        self.read_f32(name, &mut out)?;
        Ok(out)
    }

    fn find(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.tensor(name).ok_or_else(|| GgufError::MissingTensor {
            name: name.to_owned(),
        })
    }

    fn path(&self) -> Option<&Path> {
        match &self.data {
            Data::Memory(_) => None,
            Data::File { path, .. } => Some(path),
        }
    }
}

impl fmt::Debug for GgufFile {
    /// The source, version and counts; the metadata and tensors are too long to print whole.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path())
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("alignment", &self.alignment)
            .field("data_start", &self.data_start)
            .finish()
    }
}

fn dequantizer(info: &TensorInfo) -> Result<quant::Dequantize, GgufError> {
    quant::dequantizer(info.ggml_type).ok_or_else(|| GgufError::Unsupported {
        name: info.name.clone(),
        ggml_type: info.ggml_type,
    })
}

fn wrong_type(key: &str, expected: &'static str, found: &Value) -> GgufError {
    GgufError::WrongType {
        key: key.to_owned(),
        expected,
        found: found.describe(),
    }
}

/// A tensor too large for memory, as the I/O error it is to the caller.
fn out_of_memory(e: std::collections::TryReserveError) -> io::Error {
    io::Error::new(io::ErrorKind::OutOfMemory, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two tensors and a key, in memory.
    fn small_file() -> Vec<u8> {
        let mut writer = Writer::new();
        writer
            .add_metadata("llama.context_length", Value::U64(8192))
            .unwrap();
        writer
            .add_metadata("llama.rope.freq_base", Value::F32(1e5))
            .unwrap();
        writer
            .add_f32("w", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
            .unwrap();
        writer.add_f16("b", &[3], &[0.5, -0.25, 65504.0]).unwrap();
        writer.to_bytes()
    }

    #[test]
    fn open_reads_tensors_from_disk_as_from_bytes_does_from_memory() {
        let bytes = small_file();
        let path =
            std::env::temp_dir().join(format!("transformer-gguf-{}.gguf", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let on_disk = GgufFile::open(&path);
        std::fs::remove_file(&path).unwrap();
        let on_disk = on_disk.unwrap();
        let in_memory = GgufFile::from_bytes(bytes).unwrap();
        for file in [&on_disk, &in_memory] {
            assert_eq!(
                file.tensor_f32("w").unwrap(),
                [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
            );
            assert_eq!(file.tensor_f32("b").unwrap(), [0.5, -0.25, 65504.0]);
            assert_eq!(file.tensor("w").unwrap().shape(), [2, 3]);
            assert_eq!(
                file.tensors()
                    .iter()
                    .map(TensorInfo::name)
                    .collect::<Vec<_>>(),
                ["w", "b"]
            );
        }
        assert_eq!(
            on_disk.tensor_bytes("b").unwrap(),
            in_memory.tensor_bytes("b").unwrap()
        );
        assert!(format!("{on_disk:?}").contains("transformer-gguf-"));
        assert_eq!(
            format!("{in_memory:?}"),
            "GgufFile { path: None, version: 3, metadata: 2, tensors: 2, alignment: 32, \
             data_start: 192 }"
        );
    }

    #[test]
    fn open_names_the_missing_path() {
        let err = GgufFile::open("/nonexistent/transformer/model.gguf").unwrap_err();
        assert!(matches!(&err, GgufError::Io { path: Some(p), .. } if p.ends_with("model.gguf")));
        assert!(
            err.to_string()
                .starts_with("cannot read \"/nonexistent/transformer/model.gguf\": ")
        );
    }

    #[test]
    fn getters_widen_and_narrow_integers_that_fit() {
        let file = GgufFile::from_bytes(small_file()).unwrap();
        assert_eq!(file.get_u32("llama.context_length").unwrap(), 8192);
        assert_eq!(file.get_usize("llama.context_length").unwrap(), 8192);
        assert_eq!(file.get_i32("llama.context_length").unwrap(), 8192);
        assert_eq!(file.get_f64("llama.rope.freq_base").unwrap(), 1e5);
        assert!(matches!(
            file.get_f32("llama.context_length"),
            Err(GgufError::WrongType { found, .. }) if found == "UINT64 8192"
        ));
        let keys: Vec<&str> = file.metadata_entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["llama.context_length", "llama.rope.freq_base"]);
    }

    #[test]
    fn reads_check_the_name_and_the_buffer() {
        let file = GgufFile::from_bytes(small_file()).unwrap();
        let mut out = [0.0; 5];
        let err = file.read_f32("w", &mut out).unwrap_err();
        assert!(matches!(
            err,
            GgufError::WrongLength {
                expected: 6,
                found: 5,
                ..
            }
        ));
        assert!(
            err.to_string()
                .starts_with("tensor \"w\" has 6 values (or bytes), but the buffer given has 5")
        );
        let err = file.tensor_f32("output.weight").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the GGUF file has no tensor \"output.weight\"\nhelp: list its tensors with `GgufFile::tensors`"
        );
    }
}
