//! The one error type of `load`, and the per-tensor faults it collects.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why weights could not be loaded or saved.
///
/// `Format` and `Header` come from [`Loader::new`](super::Loader::new) and
/// [`Loader::open`](super::Loader::open), which stop at once on a file they cannot read.
/// `Tensors` comes from [`Loader::finish`](super::Loader::finish) and
/// [`Writer::to_bytes`](super::Writer::to_bytes), and lists every fault found. `Io` comes
/// from whatever touches a file on disk, `finish` included after `open`.
#[derive(Debug)]
pub enum LoadError {
    /// The bytes are not a safetensors file: too short, an impossible header length, or a
    /// header that is not a JSON object (a PyTorch pickle, a zip archive, a text file, ...).
    Format {
        /// What is wrong, or what the file is instead.
        detail: String,
        /// How to get a safetensors file.
        help: &'static str,
    },
    /// The file starts like safetensors, but its header does not describe its data: the file
    /// was cut short, or offsets, shapes and dtypes disagree.
    Header {
        /// What is wrong; one line per tensor where tensors are to blame.
        detail: String,
        /// What to do about it.
        help: &'static str,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system reported.
        source: io::Error,
    },
    /// Every tensor that could not be read or written, in the order found.
    Tensors(Vec<TensorFault>),
    /// A GGUF file could not be read: not GGUF, corrupt, or its data unreadable.
    Gguf(crate::gguf::GgufError),
    /// A GGUF file's metadata describes another model than the spec: every difference.
    Mismatch(Vec<crate::gguf::Mismatch>),
}

/// What is wrong with one tensor. Each fault names the tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TensorFault {
    /// The file has no tensor by this name, nor by any alternative name tried.
    Missing {
        /// The name looked for first.
        name: String,
        /// Alternative names also looked for, in order.
        also_tried: Vec<String>,
        /// The shape the model expects.
        expected: Vec<usize>,
        /// An unread name in the file that is probably the one meant: the same name under
        /// another prefix (`model.`, `encoder.`, ...) or a name a couple of edits away.
        similar: Option<String>,
    },
    /// The tensor's shape in the file differs from the model's.
    WrongShape {
        /// The tensor.
        name: String,
        /// The shape the model expects.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// The tensor is stored in a dtype that is not converted to `f32`; F32, F16, BF16 and F64
    /// are.
    UnsupportedDtype {
        /// The tensor.
        name: String,
        /// The dtype in the file, as safetensors spells it (`I64`, `F8_E4M3`, ...).
        dtype: String,
    },
    /// The file has a tensor the model never read, outside every ignored prefix. Reported in
    /// strict mode only.
    Unexpected {
        /// The tensor.
        name: String,
    },
    /// The caller's buffers cannot hold the tensor: their lengths do not add up to the values
    /// of `shape`, or one of several parts does not hold whole rows along dim 0. A bug in the
    /// calling code, not in the file.
    WrongLength {
        /// The tensor.
        name: String,
        /// The shape the caller gave.
        shape: Vec<usize>,
        /// The length of each buffer the caller passed, in values.
        lengths: Vec<usize>,
    },
    /// The same name was added to a [`Writer`](super::Writer) twice; the first data is kept.
    Duplicate {
        /// The tensor.
        name: String,
    },
}

impl TensorFault {
    /// The fix, where one sentence gives it; shared by every fault of the same kind.
    fn help(&self) -> Option<&'static str> {
        match self {
            Self::Missing { .. } => None,
            Self::WrongShape { .. } => Some(
                "the checkpoint was trained with other dimensions; \
                 make the model's settings match the checkpoint's config",
            ),
            Self::UnsupportedDtype { .. } => {
                Some("convert the checkpoint's tensors to float32, float16 or bfloat16")
            }
            Self::Unexpected { .. } => Some(
                "the file may be for another architecture; load leniently to ignore extra tensors",
            ),
            Self::WrongLength { .. } | Self::Duplicate { .. } => {
                Some("this is a bug in the code calling `load`, not in the file")
            }
        }
    }
}

impl fmt::Display for TensorFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing {
                name,
                also_tried,
                expected,
                similar,
            } => {
                write!(
                    f,
                    "tensor \"{name}\" is missing, expected shape {expected:?}"
                )?;
                for other in also_tried {
                    write!(f, "; also looked for \"{other}\"")?;
                }
                if let Some(similar) = similar {
                    write!(f, "; the file has \"{similar}\"")?;
                }
                Ok(())
            }
            Self::WrongShape {
                name,
                expected,
                found,
            } => {
                write!(
                    f,
                    "tensor \"{name}\" has shape {found:?}, expected {expected:?}"
                )
            }
            Self::UnsupportedDtype { name, dtype } => write!(
                f,
                "tensor \"{name}\" has dtype {dtype}, expected F32, F16, BF16 or F64"
            ),
            Self::Unexpected { name } => {
                write!(f, "tensor \"{name}\" is in the file but not in the model")
            }
            Self::WrongLength {
                name,
                shape,
                lengths,
            } => {
                let values = super::shape::numel(shape)
                    .map_or_else(|| "too many".to_owned(), |n| n.to_string());
                match lengths.as_slice() {
                    [len] => write!(
                        f,
                        "tensor \"{name}\" of shape {shape:?} ({values} values) \
                         does not fit a buffer of {len}"
                    ),
                    _ => write!(
                        f,
                        "tensor \"{name}\" of shape {shape:?} ({values} values) \
                         does not split into whole rows of lengths {lengths:?}"
                    ),
                }
            }
            Self::Duplicate { name } => write!(f, "tensor \"{name}\" was added twice"),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format { detail, help } => {
                write!(f, "not a safetensors file: {detail}\nhelp: {help}")
            }
            Self::Header { detail, help } => {
                write!(f, "corrupt safetensors header: {detail}\nhelp: {help}")
            }
            Self::Io { path, source } => {
                write!(f, "cannot access \"{}\": {source}", path.display())
            }
            Self::Tensors(faults) => write_faults(f, faults),
            Self::Gguf(error) => write!(f, "{error}"),
            Self::Mismatch(mismatches) => {
                f.write_str("the GGUF file holds another model than the spec declares:")?;
                for mismatch in mismatches {
                    write!(f, "\n  {mismatch}")?;
                }
                f.write_str(
                    "\nhelp: declare the model as the file describes it \
                     (`cargo run --example inspect -- FILE` prints the declaration), or load a file of this model",
                )
            }
        }
    }
}

/// One fault per line, then one `help:` line per kind of fault that has one.
fn write_faults(f: &mut fmt::Formatter<'_>, faults: &[TensorFault]) -> fmt::Result {
    let mut helps = Vec::new();
    for (i, fault) in faults.iter().enumerate() {
        if i > 0 {
            f.write_str("\n")?;
        }
        write!(f, "{fault}")?;
        if let Some(help) = fault.help()
            && !helps.contains(&help)
        {
            helps.push(help);
        }
    }
    for help in helps {
        write!(f, "\nhelp: {help}")?;
    }
    Ok(())
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Gguf(error) => Some(error),
            Self::Format { .. } | Self::Header { .. } | Self::Tensors(_) | Self::Mismatch(_) => {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_shape_names_the_tensor_and_both_shapes() {
        let fault = TensorFault::WrongShape {
            name: "layers.1.linear1.weight".into(),
            expected: vec![256, 64],
            found: vec![64, 32],
        };
        assert_eq!(
            fault.to_string(),
            "tensor \"layers.1.linear1.weight\" has shape [64, 32], expected [256, 64]"
        );
    }

    #[test]
    fn missing_lists_alternatives_and_a_similar_name() {
        let fault = TensorFault::Missing {
            name: "ln.weight".into(),
            also_tried: vec!["ln.gamma".into()],
            expected: vec![384],
            similar: Some("bert.ln.weight".into()),
        };
        assert_eq!(
            fault.to_string(),
            "tensor \"ln.weight\" is missing, expected shape [384]; \
             also looked for \"ln.gamma\"; the file has \"bert.ln.weight\""
        );
    }

    #[test]
    fn wrong_length_reads_for_one_buffer_and_for_parts() {
        let one = TensorFault::WrongLength {
            name: "w".into(),
            shape: vec![4, 4],
            lengths: vec![10],
        };
        assert_eq!(
            one.to_string(),
            "tensor \"w\" of shape [4, 4] (16 values) does not fit a buffer of 10"
        );
        let parts = TensorFault::WrongLength {
            name: "qkv".into(),
            shape: vec![6, 2],
            lengths: vec![5, 4, 3],
        };
        assert_eq!(
            parts.to_string(),
            "tensor \"qkv\" of shape [6, 2] (12 values) does not split into whole rows \
             of lengths [5, 4, 3]"
        );
    }

    #[test]
    fn many_faults_one_per_line_then_each_help_once() {
        let err = LoadError::Tensors(vec![
            TensorFault::Missing {
                name: "a".into(),
                also_tried: vec![],
                expected: vec![2],
                similar: None,
            },
            TensorFault::Unexpected { name: "x".into() },
            TensorFault::Unexpected { name: "y".into() },
        ]);
        assert_eq!(
            err.to_string(),
            "tensor \"a\" is missing, expected shape [2]\n\
             tensor \"x\" is in the file but not in the model\n\
             tensor \"y\" is in the file but not in the model\n\
             help: the file may be for another architecture; load leniently to ignore extra tensors"
        );
    }

    #[test]
    fn io_error_keeps_its_source() {
        use std::error::Error as _;
        let err = LoadError::Io {
            path: PathBuf::from("w.safetensors"),
            source: io::Error::new(io::ErrorKind::PermissionDenied, "denied"),
        };
        assert_eq!(err.to_string(), "cannot access \"w.safetensors\": denied");
        assert!(err.source().is_some());
    }
}
