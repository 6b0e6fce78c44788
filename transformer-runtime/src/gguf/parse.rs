//! Reading a GGUF file's header, metadata and tensor infos (the layout in the docs of
//! [`gguf`](super)), every field checked. Every count and length from the file is held
//! against the bytes left before anything is allocated for it, so a lying file is an error,
//! never a huge allocation.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::Path;

use super::tensor::{MAX_DIMS, TensorInfo, sizes};
use super::value::{Array, Value, ValueType};
use super::{GgmlType, GgufError};

/// The first four bytes of every GGUF file.
const MAGIC: &[u8; 4] = b"GGUF";

/// The key that sets the alignment of the data section and of each tensor in it.
pub(super) const ALIGNMENT_KEY: &str = "general.alignment";

/// The alignment when `general.alignment` is absent.
pub(super) const DEFAULT_ALIGNMENT: u64 = 32;

/// Arrays nest at most this deep; deeper is taken as a crafted file (every level costs only
/// 12 bytes, so a file could otherwise nest deep enough to overflow the stack).
const MAX_NESTING: usize = 16;

/// Elements reserved up front for an array; longer arrays grow as they are read, so memory
/// follows the bytes actually present.
const MAX_RESERVE: usize = 1 << 16;

/// Bytes a tensor info takes at least: an empty name (8), `n_dims` (4), type (4), offset (8).
const MIN_TENSOR_INFO: u64 = 24;

/// Bytes a metadata entry takes at least: an empty key (8), the type (4), a 1-byte value.
const MIN_ENTRY: u64 = 13;

/// Everything before the data section, checked.
#[derive(Debug)]
pub(super) struct Header {
    pub(super) version: u32,
    pub(super) metadata: Vec<(String, Value)>,
    pub(super) tensors: Vec<TensorInfo>,
    pub(super) alignment: u64,
    /// Where the data section starts in the file: the end of the tensor infos, aligned.
    pub(super) data_start: u64,
}

/// Reads and checks the header of a file of `len` bytes from `input`, which starts at the
/// file's first byte. `path` names the file in I/O errors.
pub(super) fn parse(input: impl Read, len: u64, path: Option<&Path>) -> Result<Header, GgufError> {
    let mut r = Reader {
        input,
        pos: 0,
        len,
        path,
    };
    let version = magic_and_version(&mut r)?;
    let tensor_count = r.count(MIN_TENSOR_INFO, "tensors")?;
    let kv_count = r.count(MIN_ENTRY, "metadata entries")?;
    let (metadata, alignment) = metadata(&mut r, kv_count)?;
    let mut infos = Vec::with_capacity(tensor_count.min(MAX_RESERVE));
    for i in 0..tensor_count {
        infos.push(tensor_info(&mut r, i)?);
    }
    let data_start = r.pos.next_multiple_of(alignment);
    check_data(&infos, alignment, data_start, len)?;
    Ok(Header {
        version,
        metadata,
        tensors: infos.into_iter().map(|(info, _)| info).collect(),
        alignment,
        data_start,
    })
}

fn corrupt(offset: u64, detail: String) -> GgufError {
    GgufError::Corrupt { offset, detail }
}

/// Prefixes a `Corrupt` error's detail with the item it was found in: `metadata key
/// `general.name`: ...`.
fn within(what: impl FnOnce() -> String) -> impl FnOnce(GgufError) -> GgufError {
    move |err| match err {
        GgufError::Corrupt { offset, detail } => corrupt(offset, format!("{}: {detail}", what())),
        other => other,
    }
}

/// A cursor over the file that knows its length, so no read runs past the end.
struct Reader<'p, R> {
    input: R,
    pos: u64,
    len: u64,
    path: Option<&'p Path>,
}

impl<R: Read> Reader<'_, R> {
    fn remaining(&self) -> u64 {
        self.len - self.pos
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<(), GgufError> {
        let n = buf.len() as u64;
        if n > self.remaining() {
            let short = n - self.remaining();
            return Err(corrupt(
                self.pos,
                format!("the file ends at byte {}, {short} bytes short", self.len),
            ));
        }
        self.input
            .read_exact(buf)
            .map_err(|source| match source.kind() {
                // The length was checked: the file shrank while being read.
                io::ErrorKind::UnexpectedEof => corrupt(
                    self.pos,
                    format!(
                        "the file ended early; it was {} bytes long when opened",
                        self.len
                    ),
                ),
                _ => GgufError::Io {
                    path: self.path.map(Path::to_path_buf),
                    source,
                },
            })?;
        self.pos += n;
        Ok(())
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let mut buf = [0; N];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32, GgufError> {
        self.bytes().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, GgufError> {
        self.bytes().map(u64::from_le_bytes)
    }

    /// A count of items of at least `min_bytes` each, which the bytes left can hold.
    fn count(&mut self, min_bytes: u64, what: &str) -> Result<usize, GgufError> {
        let at = self.pos;
        let count = self.u64()?;
        let room = self.remaining() / min_bytes;
        usize::try_from(count)
            .ok()
            .filter(|_| count <= room)
            .ok_or_else(|| {
                corrupt(
                    at,
                    format!(
                        "{count} {what}, but the {} bytes left hold at most {room}",
                        self.remaining()
                    ),
                )
            })
    }

    /// A `u64` length, then that many bytes of UTF-8.
    fn string(&mut self) -> Result<String, GgufError> {
        let at = self.pos;
        let len = self.count(1, "bytes of string")?;
        let mut bytes = vec![0; len];
        self.fill(&mut bytes)?;
        String::from_utf8(bytes).map_err(|e| {
            corrupt(
                at,
                format!("a string of {len} bytes that is not UTF-8 ({e})"),
            )
        })
    }

    fn bool(&mut self) -> Result<bool, GgufError> {
        let at = self.pos;
        match self.bytes::<1>()? {
            [0] => Ok(false),
            [1] => Ok(true),
            [b] => Err(corrupt(at, format!("a BOOL of {b}, which must be 0 or 1"))),
        }
    }

    /// A value type code.
    fn value_type(&mut self) -> Result<ValueType, GgufError> {
        let at = self.pos;
        let code = self.u32()?;
        ValueType::from_code(code).ok_or_else(|| {
            corrupt(
                at,
                format!("value type {code}, past the last one (FLOAT64 = 12)"),
            )
        })
    }
}

/// The magic and a version this reader knows (2 or 3: they differ only in that version 3
/// may be big-endian, which is rejected here).
fn magic_and_version(r: &mut Reader<'_, impl Read>) -> Result<u32, GgufError> {
    if r.len < 4 {
        return Err(GgufError::NotGguf {
            detail: format!("the file is {} bytes long, too short for a header", r.len),
        });
    }
    let magic = r.bytes::<4>()?;
    if &magic != MAGIC {
        return Err(GgufError::NotGguf {
            detail: format!("it starts with bytes {magic:02x?}, not `GGUF`"),
        });
    }
    let version = r.u32()?;
    match version {
        2 | 3 => Ok(version),
        _ => Err(GgufError::Version { version }),
    }
}

/// `count` metadata entries, and the alignment `general.alignment` sets (or the default).
fn metadata(
    r: &mut Reader<'_, impl Read>,
    count: usize,
) -> Result<(Vec<(String, Value)>, u64), GgufError> {
    let mut entries = Vec::with_capacity(count.min(MAX_RESERVE));
    let mut keys = HashSet::new();
    let mut alignment = DEFAULT_ALIGNMENT;
    for i in 0..count {
        let at = r.pos;
        let key = r
            .string()
            .map_err(within(|| format!("the key of metadata entry {i}")))?;
        let value_at = r.pos;
        let value = r
            .value_type()
            .and_then(|ty| value(r, ty, 0))
            .map_err(within(|| format!("metadata key `{key}`")))?;
        if key == ALIGNMENT_KEY {
            alignment = check_alignment(&value, value_at)?;
        }
        if !keys.insert(key.clone()) {
            return Err(corrupt(at, format!("metadata key `{key}` appears twice")));
        }
        entries.push((key, value));
    }
    Ok((entries, alignment))
}

/// `general.alignment`: a power of two, at least 1 (the spec says `UINT32`; any integer
/// type is taken).
fn check_alignment(value: &Value, at: u64) -> Result<u64, GgufError> {
    value
        .as_integer()
        .and_then(|a| u32::try_from(a).ok())
        .filter(|a| a.is_power_of_two())
        .map(u64::from)
        .ok_or_else(|| {
            corrupt(
                at,
                format!(
                    "`{ALIGNMENT_KEY}` is {}, but it must be a power of two that fits UINT32",
                    value.describe()
                ),
            )
        })
}

/// One value of type `ty`; `depth` counts the arrays it is inside.
fn value(r: &mut Reader<'_, impl Read>, ty: ValueType, depth: usize) -> Result<Value, GgufError> {
    Ok(match ty {
        ValueType::U8 => Value::U8(u8::from_le_bytes(r.bytes()?)),
        ValueType::I8 => Value::I8(i8::from_le_bytes(r.bytes()?)),
        ValueType::U16 => Value::U16(u16::from_le_bytes(r.bytes()?)),
        ValueType::I16 => Value::I16(i16::from_le_bytes(r.bytes()?)),
        ValueType::U32 => Value::U32(r.u32()?),
        ValueType::I32 => Value::I32(i32::from_le_bytes(r.bytes()?)),
        ValueType::F32 => Value::F32(f32::from_le_bytes(r.bytes()?)),
        ValueType::Bool => Value::Bool(r.bool()?),
        ValueType::String => Value::String(r.string()?),
        ValueType::Array => Value::Array(array(r, depth)?),
        ValueType::U64 => Value::U64(r.u64()?),
        ValueType::I64 => Value::I64(i64::from_le_bytes(r.bytes()?)),
        ValueType::F64 => Value::F64(f64::from_le_bytes(r.bytes()?)),
    })
}

/// An array: element type, count, elements, read straight into a vector of that type.
fn array(r: &mut Reader<'_, impl Read>, depth: usize) -> Result<Array, GgufError> {
    if depth >= MAX_NESTING {
        return Err(corrupt(
            r.pos,
            format!("arrays nested more than {MAX_NESTING} deep"),
        ));
    }
    let ty = r.value_type()?;
    let n = r.count(ty.min_bytes(), "array elements")?;
    Ok(match ty {
        ValueType::U8 => Array::U8(elements(r, n, |r| r.bytes().map(u8::from_le_bytes))?),
        ValueType::I8 => Array::I8(elements(r, n, |r| r.bytes().map(i8::from_le_bytes))?),
        ValueType::U16 => Array::U16(elements(r, n, |r| r.bytes().map(u16::from_le_bytes))?),
        ValueType::I16 => Array::I16(elements(r, n, |r| r.bytes().map(i16::from_le_bytes))?),
        ValueType::U32 => Array::U32(elements(r, n, Reader::u32)?),
        ValueType::I32 => Array::I32(elements(r, n, |r| r.bytes().map(i32::from_le_bytes))?),
        ValueType::F32 => Array::F32(elements(r, n, |r| r.bytes().map(f32::from_le_bytes))?),
        ValueType::Bool => Array::Bool(elements(r, n, Reader::bool)?),
        ValueType::String => Array::String(elements(r, n, Reader::string)?),
        ValueType::Array => Array::Array(elements(r, n, |r| array(r, depth + 1))?),
        ValueType::U64 => Array::U64(elements(r, n, Reader::u64)?),
        ValueType::I64 => Array::I64(elements(r, n, |r| r.bytes().map(i64::from_le_bytes))?),
        ValueType::F64 => Array::F64(elements(r, n, |r| r.bytes().map(f64::from_le_bytes))?),
    })
}

/// `n` elements, each read by `one`. `n` was held against the bytes left, and the vector
/// reserves at most [`MAX_RESERVE`] up front, so memory grows only with bytes actually read.
fn elements<'p, R: Read, T>(
    r: &mut Reader<'p, R>,
    n: usize,
    mut one: impl FnMut(&mut Reader<'p, R>) -> Result<T, GgufError>,
) -> Result<Vec<T>, GgufError> {
    let mut out = Vec::with_capacity(n.min(MAX_RESERVE));
    for _ in 0..n {
        out.push(one(r)?);
    }
    Ok(out)
}

/// Tensor info `i`, and the byte where it starts (for errors found later).
fn tensor_info(r: &mut Reader<'_, impl Read>, i: usize) -> Result<(TensorInfo, u64), GgufError> {
    let at = r.pos;
    let name = r
        .string()
        .map_err(within(|| format!("the name of tensor info {i}")))?;
    let in_tensor = |name: &str| {
        let name = name.to_owned();
        within(move || format!("tensor \"{name}\""))
    };
    let dims_at = r.pos;
    let n_dims = r.u32().map_err(in_tensor(&name))?;
    if n_dims > MAX_DIMS {
        return Err(corrupt(
            dims_at,
            format!("tensor \"{name}\" has {n_dims} dims; ggml tensors have at most {MAX_DIMS}"),
        ));
    }
    let dims = (0..n_dims)
        .map(|_| r.u64())
        .collect::<Result<Vec<u64>, _>>()
        .map_err(in_tensor(&name))?;
    let type_at = r.pos;
    let code = r.u32().map_err(in_tensor(&name))?;
    let ggml_type = GgmlType::from_code(code).ok_or_else(|| {
        corrupt(
            type_at,
            format!("tensor \"{name}\" has ggml type {code}, which no ggml version defines"),
        )
    })?;
    let offset = r.u64().map_err(in_tensor(&name))?;
    let (n_values, byte_size) = sizes(&name, &dims, ggml_type).map_err(|d| corrupt(at, d))?;
    let info = TensorInfo {
        name,
        // `sizes` checked that every dim fits a `usize`.
        dims: dims.iter().map(|&d| d as usize).collect(),
        ggml_type,
        offset,
        n_values,
        byte_size,
    };
    Ok((info, at))
}

/// Each tensor's bytes lie in the data section, start at a multiple of the alignment and
/// overlap no other tensor; names are unique. `infos` pairs each tensor with where its info
/// starts, which errors point at.
fn check_data(
    infos: &[(TensorInfo, u64)],
    alignment: u64,
    data_start: u64,
    file_len: u64,
) -> Result<(), GgufError> {
    let mut names = HashSet::new();
    for (info, at) in infos {
        if !names.insert(info.name.as_str()) {
            return Err(corrupt(
                *at,
                format!("tensor \"{}\" appears twice", info.name),
            ));
        }
        if !info.offset.is_multiple_of(alignment) {
            return Err(corrupt(
                *at,
                format!(
                    "tensor \"{}\" starts at data offset {}, not a multiple of the \
                     alignment {alignment}",
                    info.name, info.offset
                ),
            ));
        }
    }
    let mut by_offset: Vec<&(TensorInfo, u64)> = infos.iter().collect();
    by_offset.sort_by_key(|(info, _)| info.offset);
    let mut previous: Option<(&TensorInfo, u64)> = None;
    for (info, at) in by_offset {
        let start = data_start.checked_add(info.offset);
        let end = start.and_then(|s| s.checked_add(info.byte_size as u64));
        let Some((start, end)) = start.zip(end).filter(|&(_, end)| end <= file_len) else {
            return Err(corrupt(
                *at,
                format!(
                    "tensor \"{}\" needs {} bytes from data offset {} (byte {} of the file), \
                     but the file ends at byte {file_len}",
                    info.name,
                    info.byte_size,
                    info.offset,
                    data_start.saturating_add(info.offset),
                ),
            ));
        };
        if let Some((prev, prev_end)) = previous
            && start < prev_end
        {
            return Err(corrupt(
                *at,
                format!(
                    "tensor \"{}\" starts at byte {start}, inside tensor \"{}\" \
                     (bytes {}..{prev_end})",
                    info.name,
                    prev.name,
                    prev_end - prev.byte_size as u64
                ),
            ));
        }
        previous = Some((info, end));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GGUF file built field by field, for files the writer would never make.
    #[derive(Clone)]
    struct Raw(Vec<u8>);

    impl Raw {
        /// Magic, version 3 and the two counts.
        fn new(tensors: u64, entries: u64) -> Self {
            Raw(b"GGUF".to_vec()).u32(3).u64(tensors).u64(entries)
        }
        fn u32(mut self, v: u32) -> Self {
            self.0.extend(v.to_le_bytes());
            self
        }
        fn u64(mut self, v: u64) -> Self {
            self.0.extend(v.to_le_bytes());
            self
        }
        fn bytes(mut self, b: &[u8]) -> Self {
            self.0.extend(b);
            self
        }
        fn str(self, s: &str) -> Self {
            self.u64(s.len() as u64).bytes(s.as_bytes())
        }
        /// A `UINT32` entry.
        fn key_u32(self, key: &str, v: u32) -> Self {
            self.str(key).u32(ValueType::U32.code()).u32(v)
        }
        /// A tensor info.
        fn tensor(self, name: &str, dims: &[u64], ty: u32, offset: u64) -> Self {
            let mut raw = self.str(name).u32(dims.len() as u32);
            for &d in dims {
                raw = raw.u64(d);
            }
            raw.u32(ty).u64(offset)
        }
        /// Zeros up to a multiple of 32, then `n` bytes of data.
        fn data(mut self, n: usize) -> Self {
            let len = self.0.len().next_multiple_of(32);
            self.0.resize(len + n, 0);
            self
        }
    }

    fn open(raw: &Raw) -> Result<Header, GgufError> {
        parse(raw.0.as_slice(), raw.0.len() as u64, None)
    }

    fn message(raw: &Raw) -> String {
        open(raw).unwrap_err().to_string()
    }

    #[test]
    fn a_hand_made_file_parses() {
        let raw = Raw::new(2, 1)
            .key_u32("llama.block_count", 2)
            .tensor("a", &[8, 2], GgmlType::F32.code(), 0)
            .tensor("b", &[4], GgmlType::F16.code(), 64)
            .data(72);
        let header = open(&raw).unwrap();
        assert_eq!((header.version, header.alignment), (3, 32));
        assert_eq!(header.data_start % 32, 0);
        assert_eq!(
            header.metadata,
            [("llama.block_count".into(), Value::U32(2))]
        );
        assert_eq!(header.tensors[0].dims, [8, 2]);
        assert_eq!(header.tensors[1].byte_size, 8);
    }

    #[test]
    fn other_files_are_not_gguf() {
        assert_eq!(
            message(&Raw(b"GG".to_vec())),
            "not a GGUF file: the file is 2 bytes long, too short for a header\n\
             help: pass a `.gguf` file, as llama.cpp's convert_hf_to_gguf.py writes"
        );
        let mut raw = Raw::new(0, 0);
        raw.0[..4].copy_from_slice(b"ggjt");
        assert!(message(&raw).contains("it starts with bytes [67, 67, 6a, 74], not `GGUF`"));
    }

    #[test]
    fn version_1_is_refused_and_version_2_read() {
        let mut raw = Raw::new(0, 0);
        raw.0[4] = 1;
        assert!(matches!(open(&raw), Err(GgufError::Version { version: 1 })));
        raw.0[4] = 2;
        assert_eq!(open(&raw).unwrap().version, 2);
        raw.0[4..8].copy_from_slice(&3u32.to_be_bytes());
        assert!(message(&raw).contains("big-endian"));
    }

    #[test]
    fn counts_beyond_the_file_are_refused_before_allocating() {
        assert_eq!(
            message(&Raw::new(u64::MAX, 0)),
            "corrupt GGUF file at byte 8: 18446744073709551615 tensors, but the 8 bytes left \
             hold at most 0\nhelp: the file is damaged or was cut short; download it again"
        );
        assert!(message(&Raw::new(0, 1 << 40)).contains("1099511627776 metadata entries"));
        // A string and an array that claim more than the file has.
        let raw = Raw::new(0, 1)
            .str("k")
            .u32(ValueType::String.code())
            .u64(1 << 62);
        assert!(
            message(&raw).starts_with(
                "corrupt GGUF file at byte 37: metadata key `k`: 4611686018427387904 bytes of \
                 string, but the 0 bytes left"
            ),
            "{}",
            message(&raw)
        );
        let raw = Raw::new(0, 1)
            .str("tokens")
            .u32(ValueType::Array.code())
            .u32(ValueType::String.code())
            .u64(1000)
            .bytes(&[0; 100]);
        assert!(message(&raw).contains(
            "metadata key `tokens`: 1000 array elements, but the 100 bytes left hold at most 12"
        ));
    }

    #[test]
    fn a_file_cut_short_names_what_it_was_reading() {
        let full = Raw::new(0, 1).key_u32("general.file_type", 3);
        let cut = Raw(full.0[..full.0.len() - 2].to_vec());
        assert!(
            message(&cut).contains(
                "metadata key `general.file_type`: the file ends at byte 55, 2 bytes short"
            )
        );
    }

    #[test]
    fn bad_values_are_named_by_key() {
        let raw = Raw::new(0, 1).str("k").u32(13).u32(0);
        assert!(message(&raw).contains("metadata key `k`: value type 13, past the last one"));
        let raw = Raw::new(0, 1)
            .str("flag")
            .u32(ValueType::Bool.code())
            .bytes(&[2]);
        assert!(message(&raw).contains("metadata key `flag`: a BOOL of 2, which must be 0 or 1"));
        let raw = Raw::new(0, 1)
            .u64(2)
            .bytes(&[0xC3, 0x28])
            .u32(0)
            .bytes(&[0]);
        assert!(
            message(&raw)
                .contains("the key of metadata entry 0: a string of 2 bytes that is not UTF-8")
        );
        let raw = Raw::new(0, 2).key_u32("k", 1).key_u32("k", 2);
        assert!(message(&raw).contains("metadata key `k` appears twice"));
    }

    #[test]
    fn arrays_nest_but_not_without_end() {
        let mut raw = Raw::new(0, 1).str("deep").u32(ValueType::Array.code());
        for _ in 0..MAX_NESTING {
            raw = raw.u32(ValueType::Array.code()).u64(1);
        }
        raw = raw.u32(ValueType::U8.code()).u64(1).bytes(&[7]);
        assert!(message(&raw).contains("metadata key `deep`: arrays nested more than 16 deep"));
        let mut raw = Raw::new(0, 1).str("nested").u32(ValueType::Array.code());
        raw = raw.u32(ValueType::Array.code()).u64(2);
        raw = raw.u32(ValueType::U8.code()).u64(1).bytes(&[7]);
        raw = raw.u32(ValueType::String.code()).u64(1).str("x");
        let expected = Array::Array(vec![Array::U8(vec![7]), Array::String(vec!["x".into()])]);
        assert_eq!(open(&raw).unwrap().metadata[0].1, Value::Array(expected));
    }

    #[test]
    fn alignment_must_be_a_power_of_two() {
        for bad in [0, 3, 48] {
            let raw = Raw::new(0, 1).key_u32(ALIGNMENT_KEY, bad);
            assert!(
                message(&raw).contains(&format!(
                    "`general.alignment` is UINT32 {bad}, but it must be a power of two"
                )),
                "{bad}"
            );
        }
        let raw = Raw::new(0, 1)
            .str(ALIGNMENT_KEY)
            .u32(ValueType::String.code())
            .str("32");
        assert!(message(&raw).contains("`general.alignment` is STRING"));
        let header = open(&Raw::new(0, 1).key_u32(ALIGNMENT_KEY, 256)).unwrap();
        assert_eq!((header.alignment, header.data_start), (256, 256));
    }

    #[test]
    fn tensor_infos_that_cannot_be_right_are_named() {
        let f32 = GgmlType::F32.code();
        let one =
            |dims: &[u64], ty: u32| message(&Raw::new(1, 0).tensor("w", dims, ty, 0).data(64));
        assert!(
            one(&[1, 1, 1, 1, 1], f32)
                .contains("tensor \"w\" has 5 dims; ggml tensors have at most 4")
        );
        assert!(one(&[1 << 33, 1 << 33], f32).contains("whose product overflows"));
        assert!(
            one(&[4], 4).contains("tensor \"w\" has ggml type 4, which no ggml version defines")
        );
        assert!(one(&[48], GgmlType::Q8_0.code()).contains("rows (dims[0]) have 48 values"));
        let raw = Raw::new(1, 0).u64(u64::MAX).bytes(&[0; 24]);
        assert!(
            message(&raw)
                .contains("the name of tensor info 0: 18446744073709551615 bytes of string")
        );
    }

    #[test]
    fn tensor_data_must_lie_in_the_file_aligned_and_apart() {
        let f32 = GgmlType::F32.code();
        // 64 bytes of data: a [16] F32 tensor fits at 0, not at 32.
        let raw = Raw::new(1, 0).tensor("w", &[16], f32, 32).data(64);
        assert!(message(&raw).contains("tensor \"w\" needs 64 bytes from data offset 32"));
        let raw = Raw::new(1, 0)
            .tensor("w", &[4], f32, u64::MAX - 31)
            .data(64);
        assert!(
            message(&raw)
                .contains("tensor \"w\" needs 16 bytes from data offset 18446744073709551584")
        );
        let raw = Raw::new(1, 0).tensor("w", &[4], f32, 4).data(64);
        assert!(
            message(&raw).contains(
                "tensor \"w\" starts at data offset 4, not a multiple of the alignment 32"
            )
        );
        let raw = Raw::new(2, 0)
            .tensor("a", &[16], f32, 0)
            .tensor("b", &[4], f32, 32)
            .data(128);
        assert!(message(&raw).contains("tensor \"b\" starts at byte"));
        assert!(message(&raw).contains("inside tensor \"a\""));
        let raw = Raw::new(2, 0)
            .tensor("a", &[4], f32, 0)
            .tensor("a", &[4], f32, 32)
            .data(64);
        assert!(message(&raw).contains("tensor \"a\" appears twice"));
    }
}
