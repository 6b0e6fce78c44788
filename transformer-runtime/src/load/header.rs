//! Opening a safetensors file: `[n: u64 LE][n bytes of JSON header][data]`.
//!
//! `safetensors::SafeTensors::deserialize` checks that the offsets tile the data exactly and
//! agree with each shape and dtype, so every tensor view it hands out is in bounds. Before
//! calling it we check the parts it would report vaguely or not safely:
//! - what a file that is not safetensors at all is instead (pickle, zip, text);
//! - a header length past the end of the file (a truncated download);
//! - each tensor's `data_offsets` against the data size, naming the tensor. This check also
//!   guards `deserialize`, whose final `end + 8 + n == file length` sum overflows (a panic in
//!   debug builds) when crafted offsets end near `usize::MAX`;
//! - each tensor's byte span against `numel(shape) * dtype size`, naming the tensor.

use safetensors::{Dtype, SafeTensorError, SafeTensors};
use serde_json::{Map, Value};

use super::LoadError;
use super::shape::numel;

/// Bytes of the little-endian header length that starts the file.
const LEN_BYTES: usize = 8;

/// The largest header `safetensors` accepts (its `MAX_HEADER_SIZE`).
const MAX_HEADER: usize = 100_000_000;

const CONVERT: &str = "convert a PyTorch checkpoint in Python: `safetensors.torch.save_file(\
                       torch.load(\"pytorch_model.bin\"), \"model.safetensors\")`";
const DAMAGED: &str = "the file is damaged or was cut short; copy or download it again";

/// Parses and checks the header, returning views of every tensor in `bytes`.
pub(super) fn open(bytes: &[u8]) -> Result<SafeTensors<'_>, LoadError> {
    let (header, data) = split(bytes)?;
    let entries: Map<String, Value> = serde_json::from_slice(header).map_err(|e| {
        let detail = format!("the header is not a JSON object ({e})");
        // A header that starts as one was damaged; anything else never was safetensors.
        match header.first() {
            Some(b'{') => LoadError::Header {
                detail,
                help: DAMAGED,
            },
            _ => not_safetensors(bytes, detail),
        }
    })?;
    check_entries(&entries, data.len())?;
    SafeTensors::deserialize(bytes).map_err(|e| from_safetensors(bytes, e))
}

/// Splits the file into its header and data sections.
fn split(bytes: &[u8]) -> Result<(&[u8], &[u8]), LoadError> {
    let Some((len, rest)) = bytes.split_first_chunk::<LEN_BYTES>() else {
        let detail = format!(
            "the file is {} bytes long, too short for a header",
            bytes.len()
        );
        return Err(not_safetensors(bytes, detail));
    };
    let n = u64::from_le_bytes(*len);
    let header_len = usize::try_from(n).ok().filter(|&n| n <= MAX_HEADER);
    match header_len.and_then(|n| rest.split_at_checked(n)) {
        Some(parts) => Ok(parts),
        // A JSON object where the header should start: a real file, cut short.
        None if header_len.is_some() && rest.first() == Some(&b'{') => Err(LoadError::Header {
            detail: format!(
                "the header is {n} bytes long, but only {} follow",
                rest.len()
            ),
            help: DAMAGED,
        }),
        None => {
            let detail = match header_len {
                Some(_) => format!(
                    "its first 8 bytes give a header length of {n}, but {} bytes follow",
                    rest.len()
                ),
                None => format!(
                    "its first 8 bytes give a header length of {n}, over the limit of {MAX_HEADER}"
                ),
            };
            Err(not_safetensors(bytes, detail))
        }
    }
}

/// Checks every tensor entry's offsets against the data size and its shape and dtype, and
/// lists each problem on its own line. Entries too malformed to read are left for
/// `deserialize` to reject.
fn check_entries(entries: &Map<String, Value>, data_len: usize) -> Result<(), LoadError> {
    let problems: Vec<String> = entries
        .iter()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .filter_map(|(name, entry)| check_entry(name, entry, data_len))
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(LoadError::Header {
        detail: problems.join("\n"),
        help: DAMAGED,
    })
}

fn check_entry(name: &str, entry: &Value, data_len: usize) -> Option<String> {
    let [start, end] = offsets(entry)?;
    if end > data_len as u64 {
        return Some(format!(
            "tensor \"{name}\" claims bytes {start}..{end} of the data, which has {data_len}"
        ));
    }
    let (dtype, shape) = dtype_and_shape(entry)?;
    let needed = numel(&shape)?.checked_mul(dtype.bitsize())? / 8;
    let span = end.checked_sub(start)?;
    (span != needed as u64).then(|| {
        format!(
            "tensor \"{name}\" claims bytes {start}..{end} ({span} bytes), \
             but shape {shape:?} of {dtype} needs {needed}"
        )
    })
}

/// `data_offsets: [start, end]` as two integers.
fn offsets(entry: &Value) -> Option<[u64; 2]> {
    match entry.get("data_offsets")?.as_array()?.as_slice() {
        [start, end] => Some([start.as_u64()?, end.as_u64()?]),
        _ => None,
    }
}

fn dtype_and_shape(entry: &Value) -> Option<(Dtype, Vec<usize>)> {
    let dtype: Dtype = serde_json::from_value(entry.get("dtype")?.clone()).ok()?;
    let shape = entry.get("shape")?.as_array()?;
    let shape = shape
        .iter()
        .map(|d| usize::try_from(d.as_u64()?).ok())
        .collect::<Option<_>>()?;
    Some((dtype, shape))
}

/// What `deserialize` still rejects after our checks: gaps and overlaps between tensors,
/// unknown dtypes, bytes after the last tensor.
fn from_safetensors(bytes: &[u8], error: SafeTensorError) -> LoadError {
    let header = |detail: String| LoadError::Header {
        detail,
        help: DAMAGED,
    };
    match error {
        SafeTensorError::HeaderTooSmall
        | SafeTensorError::HeaderTooLarge
        | SafeTensorError::InvalidHeaderLength
        | SafeTensorError::InvalidHeader(_) => not_safetensors(bytes, error.to_string()),
        SafeTensorError::InvalidHeaderDeserialization(e) | SafeTensorError::JsonError(e) => {
            LoadError::Header {
                detail: format!("the header does not describe tensors ({e})"),
                help: "the file is damaged, or uses a dtype this version of safetensors \
                       does not know",
            }
        }
        SafeTensorError::InvalidOffset(name) => header(format!(
            "tensor \"{name}\" does not start where the previous tensor ends"
        )),
        SafeTensorError::MetadataIncompleteBuffer => {
            header("the file has bytes after the last tensor's data".to_owned())
        }
        other => header(other.to_string()),
    }
}

/// A `Format` error that says what the file is instead, when its first bytes tell.
fn not_safetensors(bytes: &[u8], detail: String) -> LoadError {
    match recognise(bytes) {
        Some((what, help)) => LoadError::Format {
            detail: what.to_owned(),
            help,
        },
        None => LoadError::Format {
            detail,
            help: CONVERT,
        },
    }
}

/// Known kinds of file by their first bytes, with the fix for each.
fn recognise(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    let start = bytes.get(..256).unwrap_or(bytes);
    if bytes.starts_with(b"PK\x03\x04") {
        Some((
            "it is a zip archive, as PyTorch saves `.bin` and `.pt` checkpoints",
            CONVERT,
        ))
    } else if let [0x80, 2..=5, ..] = bytes {
        Some((
            "it is a Python pickle, as older PyTorch `.bin` checkpoints are",
            CONVERT,
        ))
    } else if bytes.starts_with(b"version https://git-lfs") {
        Some((
            "it is a Git LFS pointer, not the weights it points to",
            "fetch the weights with `git lfs pull`",
        ))
    } else if !start.is_empty()
        && start
            .iter()
            .all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        Some((
            "it is a text file",
            "pass the `.safetensors` weights, not a config or index file",
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[n][header][data]` with `n` from the header's length.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend(data);
        bytes
    }

    fn message(bytes: &[u8]) -> String {
        open(bytes).unwrap_err().to_string()
    }

    #[test]
    fn a_valid_header_opens() {
        let bytes = file(
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            &[0; 8],
        );
        assert_eq!(open(&bytes).unwrap().names(), ["a"]);
    }

    #[test]
    fn offsets_past_the_data_name_the_tensor() {
        let bytes = file(
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}}"#,
            &[0; 8],
        );
        let err = open(&bytes).unwrap_err();
        assert!(matches!(err, LoadError::Header { .. }));
        assert_eq!(
            err.to_string(),
            "corrupt safetensors header: tensor \"a\" claims bytes 0..800 of the data, which has 8\n\
             help: the file is damaged or was cut short; copy or download it again"
        );
    }

    #[test]
    fn a_span_that_disagrees_with_the_shape_names_the_tensor() {
        let header = r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}"#;
        assert_eq!(
            message(&file(header, &[0; 8])),
            "corrupt safetensors header: tensor \"a\" claims bytes 0..8 (8 bytes), \
             but shape [2] of F16 needs 4\n\
             help: the file is damaged or was cut short; copy or download it again"
        );
    }

    #[test]
    fn every_bad_tensor_is_listed() {
        let header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,800]},
                         "b":{"dtype":"F32","shape":[1],"data_offsets":[0,900]}}"#;
        let message = message(&file(header, &[0; 8]));
        assert!(
            message.contains("tensor \"a\" claims bytes 0..800"),
            "{message}"
        );
        assert!(
            message.contains("\ntensor \"b\" claims bytes 0..900"),
            "{message}"
        );
    }

    #[test]
    fn offsets_ending_near_usize_max_are_rejected_without_overflow() {
        // Eight U8 tensors of 2^61 - 1 bytes each, tiling offsets up to 2^64 - 8.
        let size = (1u64 << 61) - 1;
        let entries: Vec<String> = (0..8)
            .map(|i| {
                let (start, end) = (i * size, (i + 1) * size);
                format!(
                    r#""t{i}":{{"dtype":"U8","shape":[{size}],"data_offsets":[{start},{end}]}}"#
                )
            })
            .collect();
        let header = format!("{{{}}}", entries.join(","));
        assert!(matches!(
            open(&file(&header, &[])),
            Err(LoadError::Header { .. })
        ));
    }

    #[test]
    fn a_gap_between_tensors_names_the_tensor() {
        let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                         "b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
        assert!(message(&file(header, &[0; 12])).contains("tensor \"b\" does not start where"));
    }

    #[test]
    fn trailing_bytes_and_unknown_dtypes_are_header_errors() {
        let extra = file(
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            &[0; 5],
        );
        assert!(message(&extra).contains("bytes after the last tensor"));
        let unknown = file(
            r#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}"#,
            &[0; 4],
        );
        assert!(matches!(open(&unknown), Err(LoadError::Header { .. })));
    }

    #[test]
    fn a_file_cut_in_its_data_names_the_tensors_it_lost() {
        let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                         "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
        let bytes = file(header, &[0; 12]);
        assert_eq!(
            message(&bytes[..bytes.len() - 3]),
            "corrupt safetensors header: tensor \"b\" claims bytes 4..12 of the data, which has 9\n\
             help: the file is damaged or was cut short; copy or download it again"
        );
    }

    #[test]
    fn a_huge_header_length_is_not_safetensors() {
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend([0; 8]);
        assert!(message(&bytes).contains("over the limit of 100000000"));
    }

    #[test]
    fn a_truncated_header_is_a_damaged_file() {
        let bytes = file(
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            &[0; 4],
        );
        let err = open(&bytes[..20]).unwrap_err();
        assert!(matches!(err, LoadError::Header { .. }));
        assert!(err.to_string().contains("but only 12 follow"), "{err}");
    }

    #[test]
    fn a_header_length_larger_than_the_file_is_not_safetensors() {
        let mut bytes = 1_000_000u64.to_le_bytes().to_vec();
        bytes.extend([0xFF; 8]);
        let err = open(&bytes).unwrap_err();
        assert!(matches!(err, LoadError::Format { .. }));
        assert!(
            err.to_string()
                .contains("header length of 1000000, but 8 bytes follow"),
            "{err}"
        );
    }

    #[test]
    fn short_files_and_garbage_are_not_safetensors() {
        for bytes in [
            &[][..],
            &[1, 2, 3],
            &[0xFF, 0x00, 0x13, 0x37, 0xDE, 0xAD, 0xBE, 0xEF, 0x01],
        ] {
            assert!(
                matches!(open(bytes), Err(LoadError::Format { .. })),
                "{bytes:?}"
            );
        }
        // A length that fits, followed by bytes that are not JSON.
        let mut bytes = 4u64.to_le_bytes().to_vec();
        bytes.extend([0xC3, 0x28, 0x00, 0x01]);
        assert!(
            message(&bytes).starts_with("not a safetensors file: the header is not a JSON object")
        );
    }

    #[test]
    fn a_damaged_json_header_is_corrupt() {
        let bytes = file(
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]]}"#,
            &[0; 4],
        );
        assert!(
            message(&bytes)
                .starts_with("corrupt safetensors header: the header is not a JSON object")
        );
    }

    #[test]
    fn pickles_zips_text_and_lfs_pointers_are_recognised() {
        let pickle = b"\x80\x02}q\x00(X\x0b\x00\x00\x00";
        assert!(message(pickle).contains("it is a Python pickle"));
        assert!(message(pickle).contains("help: convert a PyTorch checkpoint"));
        let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00";
        assert!(message(zip).contains("it is a zip archive"));
        let text = b"{\n  \"hidden_size\": 384\n}\n";
        assert_eq!(
            message(text),
            "not a safetensors file: it is a text file\n\
             help: pass the `.safetensors` weights, not a config or index file"
        );
        let lfs = b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 42\n";
        assert!(message(lfs).ends_with("help: fetch the weights with `git lfs pull`"));
    }
}
