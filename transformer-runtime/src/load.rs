//! Weights in and out: safetensors bytes to `f32` slices, and `f32` slices to safetensors bytes.
//!
//! A safetensors file is laid out as
//!
//! ```text
//! [n: u64, little endian][n bytes of JSON header][data]
//! header: {"<name>": {"dtype": "F32", "shape": [192, 64], "data_offsets": [start, end]}, ...}
//! ```
//!
//! with `start..end` counted from the first byte of `data`, and each tensor stored row-major
//! and little endian. [`Loader`] checks the whole header when it opens the file, then each
//! `read` checks one tensor's name, dtype and shape against what the model expects. Faults are
//! collected rather than returned, so [`Loader::finish`] reports every one of them at once.
//!
//! [`Loader::open`] reads a file on disk: the header when it opens it, then each tensor's
//! bytes when it is read, a chunk at a time, straight into the destination. Loading a model
//! from a path so takes little more memory than the model; [`Loader::new`] reads a file
//! already in memory, as [`read_file`] returns it.
//!
//! ```
//! use transformer_runtime::load::{Loader, Strictness, Writer};
//!
//! let mut writer = Writer::new();
//! writer.add("norm.weight", &[2], &[1.0, 2.0]);
//! writer.add_concat("attn.in_proj_weight", &[3, 1], &[&[1.0], &[2.0], &[3.0]]);
//! let bytes = writer.to_bytes()?;
//!
//! let (mut norm, mut wq, mut wk, mut wv) = ([0.0; 2], [0.0; 1], [0.0; 1], [0.0; 1]);
//! let mut loader = Loader::new(&bytes)?;
//! loader.read("norm.weight", &[2], &mut norm);
//! loader.read_split("attn.in_proj_weight", &[3, 1], &mut [&mut wq, &mut wk, &mut wv]);
//! loader.finish(Strictness::Strict)?;
//! assert_eq!((norm, wq, wk, wv), ([1.0, 2.0], [1.0], [2.0], [3.0]));
//! # Ok::<(), transformer_runtime::load::LoadError>(())
//! ```

mod decode;
mod error;
mod header;
mod loader;
mod modules;
mod shape;
mod similar;
mod source;
mod stored;
#[cfg(test)]
mod temp;
mod writer;

use std::path::Path;

pub use error::{LoadError, TensorFault};
pub use loader::{LoadOptions, Loader, Strictness};
pub use stored::{Element, StoredTensor};
pub use writer::Writer;

/// Reads the whole file at `path` into memory, for [`Loader::new`]. To load weights from a
/// path, [`Loader::open`] needs no copy of the file in memory.
pub fn read_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_file_names_the_missing_path() {
        let path = Path::new("/nonexistent/transformer/weights.safetensors");
        let err = read_file(path).unwrap_err();
        assert!(matches!(&err, LoadError::Io { path: p, .. } if p == path));
        let message = err.to_string();
        assert!(
            message.starts_with("cannot access \"/nonexistent/transformer/weights.safetensors\": ")
        );
    }

    #[test]
    fn written_file_reads_back() {
        let dir = std::env::temp_dir().join(format!("transformer-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.safetensors");
        let mut writer = Writer::new();
        writer.add("w", &[3], &[1.5, -2.0, 0.25]);
        writer.write_file(&path).unwrap();

        let bytes = read_file(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let mut loader = Loader::new(&bytes).unwrap();
        let mut w = [0.0; 3];
        loader.read("w", &[3], &mut w);
        loader.finish(Strictness::Strict).unwrap();
        assert_eq!(w, [1.5, -2.0, 0.25]);
    }
}
