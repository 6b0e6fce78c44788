//! Opening a safetensors file: `[n: u64 LE][n bytes of JSON header][data]`.
//!
//! [`parse`] needs only the start of the file and its length, so a file on disk is checked
//! without reading its data. It checks, in turn:
//! - what a file that is not safetensors at all is instead (pickle, zip, text);
//! - a header length past the end of the file (a truncated download);
//! - a file cut in its data: a header whose tensors tile more data than the file has loses
//!   several tensors at once, and one line says how many bytes of how many are there;
//! - each tensor's `data_offsets` against the data size, naming the tensor. This check also
//!   keeps the sums below from overflowing when crafted offsets end near `usize::MAX`;
//! - each tensor's byte span against `numel(shape) * dtype size`, naming the tensor;
//! - what `safetensors`' own `Metadata` checks: the tensors tile the data exactly, with no gap,
//!   overlap or trailing bytes, and every dtype is one it knows.
//!
//! After that every tensor's bytes lie inside the file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensorError};
use serde_json::{Map, Value};

use super::LoadError;
use super::shape::numel;

/// Bytes of the little-endian header length that starts the file.
const LEN_BYTES: usize = 8;

/// The largest header `safetensors` accepts (its `MAX_HEADER_SIZE`).
const MAX_HEADER: usize = 100_000_000;

/// First bytes of a file looked at to tell what it is when it is not safetensors.
const RECOGNISE_BYTES: usize = 256;

const CONVERT: &str = "convert a PyTorch checkpoint in Python: `safetensors.torch.save_file(\
                       torch.load(\"pytorch_model.bin\"), \"model.safetensors\")`";
const DAMAGED: &str = "the file is damaged or was cut short; copy or download it again";

/// A checked header: where each tensor's bytes are in the file, and what they hold.
#[derive(Debug)]
pub(super) struct Header {
    /// Offset in the file of the data section, `8 + n`; `data_offsets` count from here.
    pub(super) data_start: u64,
    /// Every tensor by name (sorted, as a `BTreeMap` keeps them).
    pub(super) tensors: BTreeMap<String, TensorInfo>,
}

/// How many of a file's first bytes [`parse`] needs: the header that the first 8 bytes
/// announce, if the file can hold it, and enough to recognise another format; never more than
/// the file has. `first` is the file's first 8 bytes, or all of a shorter file.
pub(super) fn prefix_len(first: &[u8], file_len: u64) -> u64 {
    let header_end = first
        .first_chunk::<LEN_BYTES>()
        .map(|len| u64::from_le_bytes(*len))
        .filter(|&n| n <= MAX_HEADER as u64)
        .map_or(0, |n| LEN_BYTES as u64 + n);
    header_end.max(RECOGNISE_BYTES as u64).min(file_len)
}

/// Parses and checks the header of the whole file in `bytes`.
pub(super) fn open(bytes: &[u8]) -> Result<Header, LoadError> {
    parse(bytes, bytes.len() as u64)
}

/// Parses and checks the header of a file of `file_len` bytes that starts with `prefix`, its
/// first [`prefix_len`] bytes (or more).
pub(super) fn parse(prefix: &[u8], file_len: u64) -> Result<Header, LoadError> {
    parse_file(prefix, file_len, None)
}

/// [`parse`], naming the file at `path`, if there is one, where that helps: a file cut short.
pub(super) fn parse_file(
    prefix: &[u8],
    file_len: u64,
    path: Option<&Path>,
) -> Result<Header, LoadError> {
    let header = split(prefix, file_len)?;
    let entries: Map<String, Value> = serde_json::from_slice(header).map_err(|e| {
        let detail = format!("the header is not a JSON object ({e})");
        // A header that starts as one was damaged; anything else never was safetensors.
        match header.first() {
            Some(b'{') => LoadError::Header {
                detail,
                help: DAMAGED,
            },
            _ => not_safetensors(prefix, detail),
        }
    })?;
    // `split` found the header inside the file, so neither sum overflows.
    let data_start = (LEN_BYTES + header.len()) as u64;
    let data_len = file_len - data_start;
    if let Some(cut) = cut_short(&entries, data_start, file_len, path) {
        return Err(cut);
    }
    check_entries(&entries, data_len)?;
    let tensors = tensor_infos(entries).map_err(from_safetensors)?;
    check_tiling(&tensors, data_len).map_err(from_safetensors)?;
    Ok(Header {
        data_start,
        tensors,
    })
}

/// The header bytes of a file of `file_len` bytes starting with `prefix`.
fn split(prefix: &[u8], file_len: u64) -> Result<&[u8], LoadError> {
    let Some((len, rest)) = prefix.split_first_chunk::<LEN_BYTES>() else {
        let detail = format!("the file is {file_len} bytes long, too short for a header");
        return Err(not_safetensors(prefix, detail));
    };
    let n = u64::from_le_bytes(*len);
    let follow = file_len.saturating_sub(LEN_BYTES as u64);
    let header_len = usize::try_from(n).ok().filter(|&n| n <= MAX_HEADER);
    match header_len
        .filter(|_| n <= follow)
        .and_then(|n| rest.get(..n))
    {
        Some(header) => Ok(header),
        // A JSON object where the header should start: a real file, cut short.
        None if header_len.is_some() && rest.first() == Some(&b'{') => Err(LoadError::Header {
            detail: format!("the header is {n} bytes long, but only {follow} follow"),
            help: DAMAGED,
        }),
        None => {
            let detail = match header_len {
                Some(_) => format!(
                    "its first 8 bytes give a header length of {n}, but {follow} bytes follow"
                ),
                None => format!(
                    "its first 8 bytes give a header length of {n}, over the limit of {MAX_HEADER}"
                ),
            };
            Err(not_safetensors(prefix, detail))
        }
    }
}

/// A file cut short in its data: the header is sound (its tensors tile their data exactly),
/// but the file ends before several of them do. One line says so, rather than one per lost
/// tensor; a single lost tensor is left to [`check_entries`], whose line names it.
fn cut_short(
    entries: &Map<String, Value>,
    data_start: u64,
    file_len: u64,
    path: Option<&Path>,
) -> Option<LoadError> {
    let data_len = file_len - data_start;
    let lost = entries
        .values()
        .filter_map(offsets)
        .filter(|[_, end]| *end > data_len)
        .count();
    if lost < 2 {
        return None;
    }
    let tensors = tensor_infos(entries.clone()).ok()?;
    let total = tensors.len();
    let mut by_offset: Vec<(String, TensorInfo)> = tensors.into_iter().collect();
    by_offset.sort_by_key(|(_, info)| info.data_offsets);
    let data_end = Metadata::new(None, by_offset).ok()?.data_len() as u64;
    let needed = data_start.checked_add(data_end)?;
    let file = path.map_or_else(|| "the file".to_owned(), |p| format!("\"{}\"", p.display()));
    Some(LoadError::Header {
        detail: format!(
            "{file} was cut short: it has {file_len} of the {needed} bytes its header needs \
             ({lost} of its {total} tensors are lost)"
        ),
        help: DAMAGED,
    })
}

/// Checks every tensor entry's offsets against the data size and its shape and dtype, and
/// lists each problem on its own line. Entries too malformed to read are left for
/// [`tensor_infos`] to reject.
fn check_entries(entries: &Map<String, Value>, data_len: u64) -> Result<(), LoadError> {
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

fn check_entry(name: &str, entry: &Value, data_len: u64) -> Option<String> {
    let [start, end] = offsets(entry)?;
    if end > data_len {
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

/// Each entry as `safetensors` reads it: a `TensorInfo` per tensor, and `__metadata__`, if
/// present, a map of strings (checked, then dropped).
fn tensor_infos(
    entries: Map<String, Value>,
) -> Result<BTreeMap<String, TensorInfo>, SafeTensorError> {
    let mut tensors = BTreeMap::new();
    for (name, entry) in entries {
        if name == "__metadata__" {
            serde_json::from_value::<Option<HashMap<String, String>>>(entry)
                .map_err(SafeTensorError::InvalidHeaderDeserialization)?;
        } else {
            let info = serde_json::from_value(entry)
                .map_err(SafeTensorError::InvalidHeaderDeserialization)?;
            tensors.insert(name, info);
        }
    }
    Ok(tensors)
}

/// `safetensors`' own check, as `SafeTensors::deserialize` makes it: sorted by offset, the
/// tensors tile the data from its first byte to its last. `check_entries` has put every
/// offset within the data, so no sum overflows.
fn check_tiling(
    tensors: &BTreeMap<String, TensorInfo>,
    data_len: u64,
) -> Result<(), SafeTensorError> {
    let mut by_offset: Vec<(String, TensorInfo)> = tensors
        .iter()
        .map(|(name, info)| (name.clone(), info.clone()))
        .collect();
    by_offset.sort_by_key(|(_, info)| info.data_offsets);
    let end = Metadata::new(None, by_offset)?.data_len();
    if end as u64 != data_len {
        return Err(SafeTensorError::MetadataIncompleteBuffer);
    }
    Ok(())
}

/// What `safetensors` still rejects after our checks: entries it cannot read (unknown
/// dtypes), gaps and overlaps between tensors, bytes after the last tensor.
fn from_safetensors(error: SafeTensorError) -> LoadError {
    let header = |detail: String| LoadError::Header {
        detail,
        help: DAMAGED,
    };
    match error {
        SafeTensorError::InvalidHeaderDeserialization(e) => LoadError::Header {
            detail: format!("the header does not describe tensors ({e})"),
            help: "the file is damaged, or uses a dtype this version of safetensors \
                   does not know",
        },
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
    let start = bytes.get(..RECOGNISE_BYTES).unwrap_or(bytes);
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
        let header = open(&bytes).unwrap();
        assert_eq!(header.data_start, bytes.len() as u64 - 8);
        assert_eq!(header.tensors.keys().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn prefix_len_covers_the_header_and_never_passes_the_end() {
        let n = u64::to_le_bytes;
        assert_eq!(prefix_len(&n(1000), 5000), 1008);
        assert_eq!(prefix_len(&n(10), 5000), 256);
        assert_eq!(prefix_len(&n(1000), 300), 300);
        assert_eq!(prefix_len(&n(u64::MAX), 5000), 256);
        assert_eq!(prefix_len(&[1, 2], 2), 2);
    }

    #[test]
    fn the_prefix_alone_is_checked_like_the_whole_file() {
        let header = r#"{"a":{"dtype":"F32","shape":[250],"data_offsets":[0,1000]}}"#;
        let bytes = file(header, &[0; 1000]);
        let len = bytes.len() as u64;
        let prefix = &bytes[..prefix_len(&bytes[..8], len) as usize];
        assert_eq!(prefix.len(), 256);
        let parsed = parse(prefix, len).unwrap();
        assert_eq!(parsed.data_start, 8 + header.len() as u64);
        assert_eq!(parsed.tensors["a"].data_offsets, (0, 1000));
        // The same start in a file 3 bytes shorter: its data no longer holds `a`.
        let message = parse(prefix, len - 3).unwrap_err().to_string();
        assert!(
            message.contains("tensor \"a\" claims bytes 0..1000 of the data, which has 997"),
            "{message}"
        );
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
    fn a_file_cut_before_several_tensors_says_so_in_one_line() {
        let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                         "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},
                         "c":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#;
        let bytes = file(header, &[0; 16]);
        let (len, cut) = (bytes.len(), bytes.len() - 10);
        assert_eq!(
            message(&bytes[..cut]),
            format!(
                "corrupt safetensors header: the file was cut short: it has {cut} of the {len} \
                 bytes its header needs (2 of its 3 tensors are lost)\n\
                 help: the file is damaged or was cut short; copy or download it again"
            )
        );
    }

    #[test]
    fn tensors_past_the_end_of_an_unsound_header_are_each_named() {
        // `b`'s span is wrong for its shape: the header is at fault, not the file's length.
        let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                         "b":{"dtype":"F32","shape":[1],"data_offsets":[4,12]},
                         "c":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#;
        let message = message(&file(header, &[0; 6]));
        assert!(
            message.contains("tensor \"b\" claims bytes 4..12 of the data, which has 6\n"),
            "{message}"
        );
        assert!(
            message.contains("tensor \"c\" claims bytes 12..16 of the data, which has 6"),
            "{message}"
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
