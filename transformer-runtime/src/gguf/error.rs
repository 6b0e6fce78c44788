//! The one error type of `gguf`.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::GgmlType;

const DAMAGED: &str = "the file is damaged or was cut short; download it again";

/// Why a GGUF file could not be read, or a value or tensor could not be had from it.
///
/// [`GgufFile::open`](super::GgufFile::open) and [`GgufFile::from_bytes`](super::GgufFile::from_bytes)
/// return `Io`, `NotGguf`, `Version` and `Corrupt`: they check every count, length, offset and
/// type of the header before they return. The getters return `MissingKey` and `WrongType`;
/// the tensor reads `MissingTensor`, `Unsupported` and `WrongLength`.
#[derive(Debug)]
pub enum GgufError {
    /// Reading the file failed.
    Io {
        /// The file, if the bytes came from one.
        path: Option<PathBuf>,
        /// What the operating system reported.
        source: io::Error,
    },
    /// The bytes do not start with the magic `GGUF`.
    NotGguf {
        /// What the file starts with instead.
        detail: String,
    },
    /// A GGUF version other than 2 and 3, or a big-endian file.
    Version {
        /// The version field, read little endian.
        version: u32,
    },
    /// The file contradicts itself or ends early: a count, length, dimension, type or offset
    /// that cannot be right.
    Corrupt {
        /// Where in the file the faulty field starts, in bytes.
        offset: u64,
        /// What is wrong, naming the key or tensor.
        detail: String,
    },
    /// The file has no metadata under this key.
    MissingKey {
        /// The key.
        key: String,
    },
    /// The metadata value has a type (or, for integers, a value) the getter cannot return.
    WrongType {
        /// The key.
        key: String,
        /// What the getter returns: `an integer that fits u32`, `a string`, ...
        expected: &'static str,
        /// The value's type, and its value for numbers: `INT32 -1`, `ARRAY of STRING`.
        found: String,
    },
    /// The file has no tensor by this name.
    MissingTensor {
        /// The name.
        name: String,
    },
    /// The tensor's type has no conversion to `f32` here.
    Unsupported {
        /// The tensor.
        name: String,
        /// Its type.
        ggml_type: GgmlType,
    },
    /// A buffer's length differs from the values it must hold: the caller's `out` for a
    /// tensor, or a [`Writer`](super::Writer)'s input. A bug in the calling code.
    WrongLength {
        /// The tensor.
        name: String,
        /// The values (or bytes, for raw data) needed.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A [`Writer`](super::Writer) was given a key or tensor name twice, or a shape whose
    /// rows do not hold whole blocks of the tensor's type.
    Writer {
        /// The key or tensor name.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// [`unpermute_rope_rows`](super::unpermute_rope_rows) or
    /// [`permute_rope_rows`](super::permute_rope_rows) got a matrix that does not split
    /// into `heads` blocks of an even number of rows.
    RopeShape {
        /// The slice's length.
        len: usize,
        /// Rows given.
        rows: usize,
        /// Columns given.
        cols: usize,
        /// Heads given.
        heads: usize,
    },
}

impl fmt::Display for GgufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io {
                path: Some(path),
                source,
            } => write!(f, "cannot read \"{}\": {source}", path.display()),
            Self::Io { path: None, source } => write!(f, "cannot read the GGUF data: {source}"),
            Self::NotGguf { detail } => write!(
                f,
                "not a GGUF file: {detail}\n\
                 help: pass a `.gguf` file, as llama.cpp's convert_hf_to_gguf.py writes"
            ),
            Self::Version { version } => write_version(f, *version),
            Self::Corrupt { offset, detail } => write!(
                f,
                "corrupt GGUF file at byte {offset}: {detail}\nhelp: {DAMAGED}"
            ),
            Self::MissingKey { key } => write!(
                f,
                "the GGUF file has no metadata key `{key}`\n\
                 help: the file may be for another architecture; list its keys with \
                 `GgufFile::metadata_entries`"
            ),
            Self::WrongType {
                key,
                expected,
                found,
            } => write!(f, "metadata key `{key}` holds {found}, expected {expected}"),
            Self::MissingTensor { name } => write!(
                f,
                "the GGUF file has no tensor \"{name}\"\n\
                 help: list its tensors with `GgufFile::tensors`"
            ),
            Self::Unsupported { name, ggml_type } => write!(
                f,
                "tensor \"{name}\" is {ggml_type}, which is not converted to f32\n\
                 help: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K and Q6_K are; \
                 requantize the model to one of them with llama.cpp's llama-quantize"
            ),
            Self::WrongLength {
                name,
                expected,
                found,
            } => write!(
                f,
                "tensor \"{name}\" has {expected} values (or bytes), but the buffer given \
                 has {found}\nhelp: this is a bug in the code calling `gguf`, not in the file"
            ),
            Self::Writer { name, detail } => write!(
                f,
                "cannot write \"{name}\": {detail}\n\
                 help: this is a bug in the code calling `gguf::Writer`"
            ),
            Self::RopeShape {
                len,
                rows,
                cols,
                heads,
            } => write!(
                f,
                "cannot permute the rows of a {rows} x {cols} matrix ({len} values given) \
                 for {heads} heads\nhelp: the rows must split into {heads} heads of an even \
                 number of rows each, and the slice must hold rows * cols values"
            ),
        }
    }
}

/// Version 1 (whose counts were 32-bit), big-endian files, and versions from the future.
fn write_version(f: &mut fmt::Formatter<'_>, version: u32) -> fmt::Result {
    if matches!(version.swap_bytes(), 1..=3) {
        return write!(
            f,
            "the GGUF file is big-endian (version field {version:#010x}), which is not \
             supported\nhelp: convert the model again on a little-endian machine"
        );
    }
    let help = if version < 2 {
        "convert the model again with a current llama.cpp, which writes version 3"
    } else {
        "this reader knows versions 2 and 3; the file may come from a newer llama.cpp"
    };
    write!(
        f,
        "GGUF version {version} is not supported (versions 2 and 3 are)\nhelp: {help}"
    )
}

impl std::error::Error for GgufError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_errors_say_which_versions_work() {
        let v1 = GgufError::Version { version: 1 }.to_string();
        assert_eq!(
            v1,
            "GGUF version 1 is not supported (versions 2 and 3 are)\n\
             help: convert the model again with a current llama.cpp, which writes version 3"
        );
        let big = GgufError::Version {
            version: 3u32.swap_bytes(),
        };
        assert!(big.to_string().starts_with("the GGUF file is big-endian"));
        let future = GgufError::Version { version: 4 }.to_string();
        assert!(future.contains("newer llama.cpp"), "{future}");
    }

    #[test]
    fn corrupt_names_the_offset_and_the_fix() {
        let err = GgufError::Corrupt {
            offset: 24,
            detail: "the header claims 9 tensors".into(),
        };
        assert_eq!(
            err.to_string(),
            "corrupt GGUF file at byte 24: the header claims 9 tensors\n\
             help: the file is damaged or was cut short; download it again"
        );
    }

    #[test]
    fn unsupported_names_the_tensor_and_the_type() {
        let err = GgufError::Unsupported {
            name: "blk.0.ffn_down.weight".into(),
            ggml_type: GgmlType::Q2_K,
        };
        assert!(
            err.to_string()
                .starts_with("tensor \"blk.0.ffn_down.weight\" is Q2_K, which is not converted")
        );
    }

    #[test]
    fn io_error_keeps_its_source() {
        use std::error::Error as _;
        let err = GgufError::Io {
            path: Some(PathBuf::from("m.gguf")),
            source: io::Error::new(io::ErrorKind::PermissionDenied, "denied"),
        };
        assert_eq!(err.to_string(), "cannot read \"m.gguf\": denied");
        assert!(err.source().is_some());
    }
}
