//! Reading named tensors out of a safetensors or GGUF file into the model's `f32` buffers.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use safetensors::tensor::TensorInfo;

use super::decode::Float;
use super::header::{self, Header};
use super::shape::check_lengths;
use super::source::{CHUNK_BYTES, Source};
use super::stored::{Element, StoredTensor};
use super::{LoadError, TensorFault, similar};
use crate::gguf::{GgufError, GgufFile};

/// What [`Loader::finish`] does about tensors in the file that the model never read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strictness {
    /// Each one is a [`TensorFault::Unexpected`], unless under an ignored prefix.
    Strict,
    /// They are skipped.
    Lenient,
}

/// How a model's `from_safetensors_with` and `from_safetensors_bytes_with` load: the options
/// of every entry point, from a path (streamed) or from bytes. `LoadOptions::default()` is
/// what `from_safetensors` does: strict.
///
/// ```
/// use transformer_runtime::load::{LoadOptions, Strictness};
///
/// // A `BertForSequenceClassification` file: its `classifier.*` tensors are skipped.
/// let lenient = LoadOptions { strictness: Strictness::Lenient, ..LoadOptions::default() };
/// assert_eq!(lenient, LoadOptions::lenient());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// What happens to tensors in the file that the model does not use.
    pub strictness: Strictness,
}

impl LoadOptions {
    /// Every tensor of the file must be one the model reads (the default).
    pub const fn strict() -> Self {
        Self {
            strictness: Strictness::Strict,
        }
    }

    /// Tensors the model does not read are skipped.
    pub const fn lenient() -> Self {
        Self {
            strictness: Strictness::Lenient,
        }
    }
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self::strict()
    }
}

/// Reads tensors by name from a safetensors file, converting them to `f32`: from its bytes in
/// memory ([`new`](Self::new)) or from the file on disk ([`open`](Self::open)), with the same
/// checks, values and faults either way; or from a GGUF file ([`gguf`](Self::gguf)),
/// dequantizing each tensor as it is read, with the same checks and faults.
///
/// `read*` never fail: each fault (missing tensor, wrong shape or dtype, buffer of the wrong
/// length) is recorded and the destination is left unchanged, so that [`finish`](Self::finish)
/// reports every fault at once.
#[derive(Debug)]
pub struct Loader<'data> {
    file: File<'data>,
    read: HashSet<String>,
    ignored_prefixes: Vec<String>,
    faults: Vec<TensorFault>,
    /// The first read from disk that failed; `finish` returns it.
    io_error: Option<LoadError>,
}

impl<'data> Loader<'data> {
    /// Opens the file in `bytes`, checking its header: `Err` if it is not safetensors
    /// ([`LoadError::Format`]) or its header does not describe its data ([`LoadError::Header`]).
    pub fn new(bytes: &'data [u8]) -> Result<Self, LoadError> {
        let header = header::open(bytes)?;
        Ok(Self::with(File::Safetensors {
            source: Source::Bytes(bytes),
            header,
        }))
    }

    /// A loader of the tensors of `file`, none read yet.
    fn with(file: File<'data>) -> Self {
        Self {
            file,
            read: HashSet::new(),
            ignored_prefixes: Vec::new(),
            faults: Vec::new(),
            io_error: None,
        }
    }

    /// Reads tensor `name` of `shape` into `out`, row-major: `out.len()` must be `Π shape[i]`.
    pub fn read(&mut self, name: &str, shape: &[usize], out: &mut [f32]) {
        self.load(&[name], shape, &mut [out], true);
    }

    /// Reads tensor `name` of `shape` into consecutive `parts`, split along dim 0: with `R`
    /// values per row (`R = Π shape[1..]`), part 0 gets rows `0..parts[0].len() / R`, part 1 the
    /// rows after those, and so on. Each part must hold whole rows, and together all rows.
    ///
    /// A PyTorch `in_proj_weight` of shape `[3 * D, D]` splits into equal q, k and v parts of
    /// `D * D` values each.
    pub fn read_split(&mut self, name: &str, shape: &[usize], parts: &mut [&mut [f32]]) {
        self.load(&[name], shape, parts, true);
    }

    /// Reads the first of `names` present in the file, for tensors whose name varies between
    /// checkpoints (old BERT files call LayerNorm's weight and bias `gamma` and `beta`).
    /// A missing tensor is reported under the first name.
    pub fn read_any(&mut self, names: &[&str], shape: &[usize], out: &mut [f32]) {
        self.load(names, shape, &mut [out], true);
    }

    /// Like [`read`](Self::read), but a missing tensor is not a fault: returns whether `out`
    /// was filled, so the caller can fall back (an untied `lm_head` absent from a checkpoint
    /// whose embedding is shared, say).
    pub fn read_optional(&mut self, name: &str, shape: &[usize], out: &mut [f32]) -> bool {
        self.load(&[name], shape, &mut [out], false)
    }

    /// Reads tensor `name` of `shape` as its file stores it, for a destination that keeps a
    /// format of its own (a weight format's quantized blocks) rather than `f32`: its element
    /// type and raw bytes, row-major. `accepts` says which element types the destination
    /// takes. `None`, with the fault recorded as `read` records it, if the tensor is missing,
    /// of another shape, or stored as a type `accepts` refuses (a safetensors integer or fp8
    /// tensor is refused whatever `accepts` says).
    pub fn read_stored(
        &mut self,
        name: &str,
        shape: &[usize],
        accepts: impl Fn(Element) -> bool,
    ) -> Option<StoredTensor<'_>> {
        let found = match &self.file {
            File::Safetensors { header, .. } => header.tensors.get(name).map(|info| {
                let element = Element::of_dtype(info.dtype);
                (element, info.shape.clone(), info.dtype.to_string())
            }),
            File::Gguf(file) => file.tensor(name).map(|info| {
                let element = Element::of_ggml(info.ggml_type());
                (Some(element), info.shape(), element.name().to_owned())
            }),
        };
        let Some((element, found_shape, dtype)) = found else {
            self.faults.push(missing(&[name], shape));
            return None;
        };
        self.read.insert(name.to_owned());
        let element = element.filter(|&element| accepts(element));
        if element.is_none() {
            let name = name.to_owned();
            self.faults
                .push(TensorFault::UnsupportedDtype { name, dtype });
        }
        if found_shape != shape {
            self.faults.push(TensorFault::WrongShape {
                name: name.to_owned(),
                expected: shape.to_vec(),
                found: found_shape,
            });
            return None;
        }
        let element = element?;
        let bytes = match &self.file {
            File::Safetensors { source, header } => {
                let (start, end) = header.tensors[name].data_offsets;
                // `header::parse` put every tensor inside the file: the sum cannot overflow.
                source.bytes(name, header.data_start + start as u64, end - start)
            }
            File::Gguf(file) => file.tensor_bytes(name).map_err(LoadError::Gguf),
        };
        match bytes {
            Ok(bytes) => Some(StoredTensor { element, bytes }),
            Err(error) => {
                self.io_error.get_or_insert(error);
                None
            }
        }
    }

    /// Whether the file has a tensor named `name` (to tell checkpoint layouts apart, such as
    /// a `BertModel`'s names from a `BertFor…`'s `bert.`-prefixed ones).
    pub fn contains(&self, name: &str) -> bool {
        match &self.file {
            File::Safetensors { header, .. } => header.tensors.contains_key(name),
            File::Gguf(file) => file.tensor(name).is_some(),
        }
    }

    /// Allows tensors whose names start with `prefix` (`"pooler."`) to stay unread in
    /// [`Strictness::Strict`] mode.
    pub fn ignore_prefix(&mut self, prefix: &str) {
        self.ignored_prefixes.push(prefix.to_owned());
    }

    /// Ends loading: `Err` listing every fault recorded by `read*`, and in strict mode every
    /// tensor left unread outside the ignored prefixes. Each missing tensor names the unread
    /// tensor it was probably meant to be, if one is similar.
    ///
    /// A loader from [`open`](Self::open) returns instead the first [`LoadError::Io`] met
    /// while reading tensor data (the file changed or a disk failed since it was opened),
    /// naming the file and the tensor; the buffer being filled then may hold part of it.
    pub fn finish(mut self, strictness: Strictness) -> Result<(), LoadError> {
        if let Some(error) = self.io_error.take() {
            return Err(error);
        }
        let mut faults = std::mem::take(&mut self.faults);
        let unread = self.unread();
        for fault in &mut faults {
            suggest(fault, &unread);
        }
        if strictness == Strictness::Strict {
            let unexpected = unread.iter().map(|&name| TensorFault::Unexpected {
                name: name.to_owned(),
            });
            faults.extend(unexpected);
        }
        if faults.is_empty() {
            Ok(())
        } else {
            Err(LoadError::Tensors(faults))
        }
    }

    /// Fills `parts` from the first of `names` in the file, or records why not; a missing
    /// tensor is a fault only if `required`. Returns whether `parts` were filled.
    fn load(
        &mut self,
        names: &[&str],
        shape: &[usize],
        parts: &mut [&mut [f32]],
        required: bool,
    ) -> bool {
        let faults_before = self.faults.len();
        let first = names.first().copied().unwrap_or_default();
        let lengths: Vec<usize> = parts.iter().map(|part| part.len()).collect();
        self.faults.extend(check_lengths(first, shape, &lengths));

        let (source, header) = match &self.file {
            File::Safetensors { source, header } => (source, header),
            File::Gguf(file) => {
                let faults = (&mut self.faults, faults_before);
                let (name, filled) = load_gguf(file, names, shape, parts, faults);
                match name {
                    Some(name) => _ = self.read.insert(name.to_owned()),
                    None if required => self.faults.push(missing(names, shape)),
                    None => {}
                }
                return filled.unwrap_or_else(|error| {
                    self.io_error.get_or_insert(LoadError::Gguf(error));
                    false
                });
            }
        };
        let Some((name, info)) = find(&header.tensors, names) else {
            if required {
                self.faults.push(missing(names, shape));
            }
            return false;
        };
        self.read.insert(name.to_owned());
        match check_tensor(name, info, shape, &mut self.faults) {
            Some(float) if self.faults.len() == faults_before => {
                // `header::parse` put every tensor inside the file: the sum cannot overflow.
                let offset = header.data_start + info.data_offsets.0 as u64;
                match source.read(name, float, offset, parts) {
                    Ok(()) => true,
                    Err(error) => {
                        self.io_error.get_or_insert(error);
                        false
                    }
                }
            }
            _ => false,
        }
    }

    /// Names in the file that no `read*` found and no ignored prefix covers, sorted.
    fn unread(&self) -> Vec<&str> {
        let ignored = |name: &str| {
            self.ignored_prefixes
                .iter()
                .any(|prefix| name.starts_with(prefix.as_str()))
        };
        let mut names: Vec<&str> = match &self.file {
            File::Safetensors { header, .. } => header.tensors.keys().map(String::as_str).collect(),
            File::Gguf(file) => file.tensors().iter().map(|t| t.name()).collect(),
        };
        names.sort_unstable();
        names.retain(|&name| !self.read.contains(name) && !ignored(name));
        names
    }
}

/// Where a loader's tensors are.
#[derive(Debug)]
enum File<'data> {
    /// A safetensors file: its header, and its data in memory or on disk.
    Safetensors {
        source: Source<'data>,
        header: Header,
    },
    /// A GGUF file, its tensors read from disk (or memory) one at a time.
    Gguf(GgufFile),
}

/// A required tensor's fault when no name of `names` is in the file.
fn missing(names: &[&str], shape: &[usize]) -> TensorFault {
    TensorFault::Missing {
        name: names.first().copied().unwrap_or_default().to_owned(),
        also_tried: names.iter().skip(1).map(|&n| n.to_owned()).collect(),
        expected: shape.to_vec(),
        similar: None,
    }
}

/// [`Loader::load`] from a GGUF file: the first of `names` in `file` (returned), of `shape` in
/// row-major order (the reverse of GGUF's dims) and of a type that converts to `f32`,
/// dequantized into `parts` laid end to end. Whether they were filled, or why the file could
/// not be read; faults go to `faults`, which held `faults_before` before this read began
/// (`parts` of the wrong length are faults already).
fn load_gguf<'n>(
    file: &GgufFile,
    names: &[&'n str],
    shape: &[usize],
    parts: &mut [&mut [f32]],
    (faults, faults_before): (&mut Vec<TensorFault>, usize),
) -> (Option<&'n str>, Result<bool, GgufError>) {
    let Some((name, info)) = names
        .iter()
        .find_map(|&name| Some((name, file.tensor(name)?)))
    else {
        return (None, Ok(false));
    };
    let ggml_type = info.ggml_type();
    if !ggml_type.converts_to_f32() {
        faults.push(TensorFault::UnsupportedDtype {
            name: name.to_owned(),
            dtype: ggml_type.name().to_owned(),
        });
    }
    let found = info.shape();
    if found != shape {
        faults.push(TensorFault::WrongShape {
            name: name.to_owned(),
            expected: shape.to_vec(),
            found,
        });
    }
    if faults.len() > faults_before {
        return (Some(name), Ok(false));
    }
    let read = match parts {
        [out] => file.read_f32(name, out),
        parts => file.tensor_f32(name).map(|all| {
            let mut rest = &all[..];
            for part in parts.iter_mut() {
                let (head, tail) = rest.split_at(part.len().min(rest.len()));
                part[..head.len()].copy_from_slice(head);
                rest = tail;
            }
        }),
    };
    (Some(name), read.map(|()| true))
}

impl Loader<'static> {
    /// Opens the safetensors file at `path` and checks its header as [`new`](Self::new) does,
    /// without reading the tensors' data: each `read*` reads its tensor from the file, a
    /// megabyte at a time, converting as it goes. Loading so needs no memory beyond the
    /// destination buffers.
    ///
    /// `Err` as for [`new`](Self::new), or [`LoadError::Io`] naming `path` if it cannot be
    /// opened or read.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        Self::open_chunked(path, CHUNK_BYTES)
    }

    /// [`open`](Self::open), reading `chunk_bytes` at a time (tests make them small).
    fn open_chunked(path: &Path, chunk_bytes: usize) -> Result<Self, LoadError> {
        let (source, header) = Source::open(path, chunk_bytes)?;
        Ok(Self::with(File::Safetensors { source, header }))
    }

    /// Reads the tensors of a GGUF file, already opened (and its metadata checked): each
    /// `read*` finds its tensor by its GGUF name (`blk.0.attn_q.weight`), checks its shape,
    /// row-major as the model gives it (GGUF lists dims the other way round), and
    /// dequantizes it to `f32`. A type that does not convert is a
    /// [`TensorFault::UnsupportedDtype`] naming it.
    pub fn gguf(file: GgufFile) -> Self {
        Self::with(File::Gguf(file))
    }
}

/// The first of `names` in the file, with its entry.
fn find<'n, 'h>(
    tensors: &'h BTreeMap<String, TensorInfo>,
    names: &[&'n str],
) -> Option<(&'n str, &'h TensorInfo)> {
    names
        .iter()
        .find_map(|&name| Some((name, tensors.get(name)?)))
}

/// Fills a missing tensor's `similar` with the unread name it was probably meant to be,
/// trying its alternative names in turn.
fn suggest(fault: &mut TensorFault, unread: &[&str]) {
    if let TensorFault::Missing {
        name,
        also_tried,
        similar: suggestion,
        ..
    } = fault
    {
        let mut tried = std::iter::once(&*name).chain(also_tried.iter());
        *suggestion = tried
            .find_map(|name| similar::closest(name, unread))
            .map(str::to_owned);
    }
}

/// Records each way tensor `name` in the file differs from what the model expects, and
/// returns how to decode it if it matches.
fn check_tensor(
    name: &str,
    info: &TensorInfo,
    expected: &[usize],
    faults: &mut Vec<TensorFault>,
) -> Option<Float> {
    let float = Float::of(info.dtype);
    if float.is_none() {
        faults.push(TensorFault::UnsupportedDtype {
            name: name.to_owned(),
            dtype: info.dtype.to_string(),
        });
    }
    if info.shape != expected {
        faults.push(TensorFault::WrongShape {
            name: name.to_owned(),
            expected: expected.to_vec(),
            found: info.shape.clone(),
        });
        return None;
    }
    float
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;

    use half::{bf16, f16};

    use super::*;
    use crate::load::Writer;
    use crate::load::temp::TempFile;

    /// A safetensors file written by hand: `(name, dtype, shape, data)` in order.
    fn file(tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
        let mut entries = Vec::new();
        let mut data: Vec<u8> = Vec::new();
        for (name, dtype, shape, bytes) in tensors {
            let (start, end) = (data.len(), data.len() + bytes.len());
            entries.push(format!(
                r#""{name}":{{"dtype":"{dtype}","shape":{shape:?},"data_offsets":[{start},{end}]}}"#
            ));
            data.extend(bytes);
        }
        let header = format!("{{{}}}", entries.join(","));
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend(header.as_bytes());
        file.extend(data);
        file
    }

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Two tensors: `a` = [1, 2, 3, 4] of shape [2, 2], and `b` = [5, 6] of shape [2].
    fn small() -> Vec<u8> {
        let mut writer = Writer::new();
        writer.add("a", &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        writer.add("b", &[2], &[5.0, 6.0]);
        writer.to_bytes().unwrap()
    }

    /// Runs `check` on a loader of `bytes` in memory, then on one of the same bytes in a file
    /// read 12 bytes at a time (3 `f32` values, so most tensors here span several chunks).
    /// Both must give the same answer, which is returned.
    fn both<T: PartialEq + Debug>(bytes: &[u8], check: impl Fn(Loader<'_>) -> T) -> T {
        let in_memory = check(Loader::new(bytes).unwrap());
        let file = TempFile::new(bytes);
        let on_disk = check(Loader::open_chunked(file.path(), 12).unwrap());
        assert_eq!(in_memory, on_disk, "in memory, then on disk");
        in_memory
    }

    fn faults(loader: Loader<'_>, strictness: Strictness) -> Vec<TensorFault> {
        match loader.finish(strictness) {
            Err(LoadError::Tensors(faults)) => faults,
            other => panic!("expected tensor faults, got {other:?}"),
        }
    }

    #[test]
    fn reads_values_written_by_the_writer() {
        let values = both(&small(), |mut loader| {
            let (mut a, mut b) = ([0.0; 4], [0.0; 2]);
            loader.read("a", &[2, 2], &mut a);
            loader.read("b", &[2], &mut b);
            loader.finish(Strictness::Strict).unwrap();
            (a, b)
        });
        assert_eq!(values, ([1.0, 2.0, 3.0, 4.0], [5.0, 6.0]));
    }

    #[test]
    fn converts_f16_bf16_and_f64() {
        let half: Vec<u8> = [1.0f32, -0.5]
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect();
        let brain: Vec<u8> = [3.0f32, 0.25]
            .iter()
            .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
            .collect();
        let double: Vec<u8> = [0.1f64, -8.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let bytes = file(&[
            ("h", "F16", &[2], half),
            ("b", "BF16", &[2], brain),
            ("d", "F64", &[2], double),
        ]);
        let values = both(&bytes, |mut loader| {
            let (mut h, mut b, mut d) = ([0.0; 2], [0.0; 2], [0.0; 2]);
            loader.read("h", &[2], &mut h);
            loader.read("b", &[2], &mut b);
            loader.read("d", &[2], &mut d);
            loader.finish(Strictness::Strict).unwrap();
            (h, b, d)
        });
        assert_eq!(values, ([1.0, -0.5], [3.0, 0.25], [0.1, -8.0]));
    }

    #[test]
    fn both_sources_read_the_same_bits_across_many_chunks() {
        // NaN payloads, signed zeros, subnormals and infinities in every dtype, 27 values per
        // tensor: several 12-byte chunks each, the 16-bit ones ending in a partial chunk.
        let specials = [
            0.0f32,
            -0.0,
            f32::MIN_POSITIVE / 3.0,
            f32::MAX,
            f32::NEG_INFINITY,
            f32::from_bits(0x7FA0_0001),
            f32::from_bits(0xFFC0_1234),
            1.0 / 3.0,
            -7.5,
        ];
        let values: Vec<f32> = specials.iter().cycle().take(27).copied().collect();
        let encode = |bytes: fn(f32) -> Vec<u8>| values.iter().flat_map(|&v| bytes(v)).collect();
        let half = encode(|v| f16::from_f32(v).to_le_bytes().into());
        let brain = encode(|v| bf16::from_f32(v).to_le_bytes().into());
        let double = encode(|v| f64::from(v).to_le_bytes().into());
        let bytes = file(&[
            ("f32", "F32", &[27], encode(|v| v.to_le_bytes().into())),
            ("f16", "F16", &[3, 9], half),
            ("bf16", "BF16", &[27], brain),
            ("f64", "F64", &[9, 3], double),
        ]);
        let bits = both(&bytes, |mut loader| {
            let mut out = [[0.0f32; 27]; 4];
            let [f32s, f16s, bf16s, f64s] = &mut out;
            loader.read("f32", &[27], f32s);
            loader.read("f16", &[3, 9], f16s);
            loader.read("bf16", &[27], bf16s);
            // In parts of 2, 5 and 2 rows.
            let (first, rest) = f64s.split_at_mut(6);
            let (second, third) = rest.split_at_mut(15);
            loader.read_split("f64", &[9, 3], &mut [first, second, third]);
            loader.finish(Strictness::Strict).unwrap();
            out.map(|tensor| tensor.map(f32::to_bits))
        });
        assert_eq!(bits[0], std::array::from_fn(|i| values[i].to_bits()));
        // Widening may quieten the signalling NaN; every other value comes back exactly.
        for (&got, want) in bits[3].iter().zip(&values) {
            let same = got == want.to_bits() || (want.is_nan() && f32::from_bits(got).is_nan());
            assert!(same, "{got:#x} for {:#x}", want.to_bits());
        }
    }

    #[test]
    fn reads_data_at_every_alignment() {
        let bytes = file(&[("w", "F32", &[2], f32_bytes(&[1.5, -7.25]))]);
        for shift in 0..4 {
            // `shift` bytes in front move the data through every address modulo 4.
            let mut buffer = vec![0; shift];
            buffer.extend(&bytes);
            let mut loader = Loader::new(&buffer[shift..]).unwrap();
            let mut w = [0.0; 2];
            loader.read("w", &[2], &mut w);
            loader.finish(Strictness::Strict).unwrap();
            assert_eq!(w, [1.5, -7.25]);
        }
    }

    #[test]
    fn read_split_fills_consecutive_rows() {
        // [3 * 2, 2]: rows of q are 0..2, of k 2..4, of v 4..6.
        let values: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let mut writer = Writer::new();
        writer.add("in_proj_weight", &[6, 2], &values);
        let bytes = writer.to_bytes().unwrap();
        let qkv = both(&bytes, |mut loader| {
            let (mut q, mut k, mut v) = ([0.0; 4], [0.0; 4], [0.0; 4]);
            loader.read_split("in_proj_weight", &[6, 2], &mut [&mut q, &mut k, &mut v]);
            loader.finish(Strictness::Strict).unwrap();
            (q, k, v)
        });
        assert_eq!(
            qkv,
            (
                [0.0, 1.0, 2.0, 3.0],
                [4.0, 5.0, 6.0, 7.0],
                [8.0, 9.0, 10.0, 11.0]
            )
        );
    }

    #[test]
    fn missing_tensor_is_reported_with_its_shape() {
        let (out, faults) = both(&small(), |mut loader| {
            let mut out = [7.0; 3];
            loader.read("c", &[3], &mut out);
            (out, faults(loader, Strictness::Lenient))
        });
        assert_eq!(out, [7.0; 3]);
        assert_eq!(
            faults,
            [TensorFault::Missing {
                name: "c".into(),
                also_tried: vec![],
                expected: vec![3],
                similar: None
            }]
        );
    }

    #[test]
    fn wrong_shape_leaves_the_destination_unchanged() {
        let (out, faults) = both(&small(), |mut loader| {
            let mut out = [7.0; 4];
            loader.read("a", &[4], &mut out);
            (out, faults(loader, Strictness::Strict))
        });
        assert_eq!(out, [7.0; 4]);
        assert_eq!(
            faults,
            [
                TensorFault::WrongShape {
                    name: "a".into(),
                    expected: vec![4],
                    found: vec![2, 2]
                },
                unexpected("b")
            ]
        );
    }

    #[test]
    fn unsupported_dtype_is_reported_with_the_dtype() {
        let bytes = file(&[("ids", "I64", &[2], vec![0; 16])]);
        let (out, faults) = both(&bytes, |mut loader| {
            let mut out = [7.0; 2];
            loader.read("ids", &[2], &mut out);
            (out, faults(loader, Strictness::Strict))
        });
        assert_eq!(out, [7.0; 2]);
        assert_eq!(
            faults,
            [TensorFault::UnsupportedDtype {
                name: "ids".into(),
                dtype: "I64".into()
            }]
        );
    }

    #[test]
    fn wrong_buffer_length_is_a_fault_not_a_panic() {
        let (outs, faults) = both(&small(), |mut loader| {
            let mut short = [7.0; 3];
            loader.read("a", &[2, 2], &mut short);
            let (mut q, mut k) = ([7.0; 3], [7.0; 1]);
            loader.read_split("a", &[2, 2], &mut [&mut q, &mut k]);
            ((short, q, k), faults(loader, Strictness::Lenient))
        });
        assert_eq!(outs, ([7.0; 3], [7.0; 3], [7.0; 1]));
        let wrong = |lengths: Vec<usize>| TensorFault::WrongLength {
            name: "a".into(),
            shape: vec![2, 2],
            lengths,
        };
        assert_eq!(faults, [wrong(vec![3]), wrong(vec![3, 1])]);
    }

    #[test]
    fn every_fault_is_collected_at_once() {
        let bytes = file(&[
            ("a", "F32", &[2, 2], f32_bytes(&[1.0, 2.0, 3.0, 4.0])),
            ("ids", "I64", &[1], vec![0; 8]),
            ("extra.1", "F32", &[1], f32_bytes(&[0.0])),
            ("extra.2", "F32", &[1], f32_bytes(&[0.0])),
        ]);
        let faults = both(&bytes, |mut loader| {
            loader.read("missing", &[5], &mut [0.0; 5]);
            loader.read("a", &[2, 3], &mut [0.0; 6]);
            loader.read("ids", &[2], &mut [0.0; 2]);
            faults(loader, Strictness::Strict)
        });
        assert_eq!(
            faults,
            [
                TensorFault::Missing {
                    name: "missing".into(),
                    also_tried: vec![],
                    expected: vec![5],
                    similar: None
                },
                TensorFault::WrongShape {
                    name: "a".into(),
                    expected: vec![2, 3],
                    found: vec![2, 2]
                },
                TensorFault::UnsupportedDtype {
                    name: "ids".into(),
                    dtype: "I64".into()
                },
                TensorFault::WrongShape {
                    name: "ids".into(),
                    expected: vec![2],
                    found: vec![1]
                },
                unexpected("extra.1"),
                unexpected("extra.2"),
            ]
        );
        let message = LoadError::Tensors(faults).to_string();
        assert_eq!(message.lines().count(), 6 + 3, "{message}");
        assert!(
            message.contains("tensor \"a\" has shape [2, 2], expected [2, 3]"),
            "{message}"
        );
    }

    #[test]
    fn lenient_skips_unread_tensors_and_strict_lists_them() {
        let strict = both(&small(), |mut loader| {
            loader.read("a", &[2, 2], &mut [0.0; 4]);
            faults(loader, Strictness::Strict)
        });
        assert_eq!(strict, [unexpected("b")]);
        both(&small(), |mut loader| {
            loader.read("a", &[2, 2], &mut [0.0; 4]);
            loader.finish(Strictness::Lenient).unwrap();
        });
    }

    #[test]
    fn ignored_prefixes_are_allowed_unread() {
        let bytes = file(&[
            ("w", "F32", &[1], f32_bytes(&[1.0])),
            ("pooler.dense.weight", "F32", &[1], f32_bytes(&[2.0])),
            ("pooler.dense.bias", "F32", &[1], f32_bytes(&[3.0])),
            ("poolerx", "F32", &[1], f32_bytes(&[4.0])),
        ]);
        let faults = both(&bytes, |mut loader| {
            loader.read("w", &[1], &mut [0.0]);
            loader.ignore_prefix("pooler.");
            faults(loader, Strictness::Strict)
        });
        assert_eq!(faults, [unexpected("poolerx")]);
    }

    #[test]
    fn contains_sees_every_tensor_of_the_file() {
        let found = both(&small(), |loader| {
            ["a", "b", "c"].map(|name| loader.contains(name))
        });
        assert_eq!(found, [true, true, false]);
    }

    #[test]
    fn read_any_falls_back_to_later_names() {
        let bytes = file(&[("ln.gamma", "F32", &[2], f32_bytes(&[1.0, 2.0]))]);
        let out = both(&bytes, |mut loader| {
            let mut out = [0.0; 2];
            loader.read_any(&["ln.weight", "ln.gamma"], &[2], &mut out);
            loader.finish(Strictness::Strict).unwrap();
            out
        });
        assert_eq!(out, [1.0, 2.0]);
    }

    #[test]
    fn read_any_reports_a_miss_under_the_first_name() {
        let faults = both(&small(), |mut loader| {
            loader.read_any(&["ln.weight", "ln.gamma"], &[2], &mut [0.0; 2]);
            faults(loader, Strictness::Lenient)
        });
        assert_eq!(
            faults,
            [TensorFault::Missing {
                name: "ln.weight".into(),
                also_tried: vec!["ln.gamma".into()],
                expected: vec![2],
                similar: None,
            }]
        );
    }

    #[test]
    fn read_optional_tolerates_absence_but_not_a_wrong_shape() {
        let (filled, out, faults) = both(&small(), |mut loader| {
            let mut out = [0.0; 2];
            let filled = [
                loader.read_optional("lm_head.weight", &[2], &mut out),
                loader.read_optional("b", &[2], &mut out),
                loader.read_optional("a", &[2], &mut out),
            ];
            (filled, out, faults(loader, Strictness::Strict))
        });
        assert_eq!(filled, [false, true, false]);
        assert_eq!(out, [5.0, 6.0]);
        let wrong_shape = TensorFault::WrongShape {
            name: "a".into(),
            expected: vec![2],
            found: vec![2, 2],
        };
        assert_eq!(faults, [wrong_shape]);
    }

    #[test]
    fn a_missing_tensor_names_a_similar_unread_one() {
        let bytes = file(&[("model.layers.0.w", "F32", &[1], f32_bytes(&[1.0]))]);
        let message = both(&bytes, |mut loader| {
            loader.read("layers.0.w", &[1], &mut [0.0]);
            loader.finish(Strictness::Strict).unwrap_err().to_string()
        });
        assert_eq!(
            message,
            "tensor \"layers.0.w\" is missing, expected shape [1]; the file has \"model.layers.0.w\"\n\
             tensor \"model.layers.0.w\" is in the file but not in the model\n\
             help: the file may be for another architecture; load leniently to ignore extra tensors"
        );
    }

    #[test]
    fn a_similar_name_is_found_for_an_alternative_name_too() {
        let bytes = file(&[("bert.ln.gamma", "F32", &[1], f32_bytes(&[1.0]))]);
        let faults = both(&bytes, |mut loader| {
            loader.read_any(&["ln.weight", "ln.gamma"], &[1], &mut [0.0]);
            faults(loader, Strictness::Lenient)
        });
        assert!(
            matches!(&faults[..], [TensorFault::Missing { similar: Some(s), .. }] if s == "bert.ln.gamma"),
            "{faults:?}"
        );
    }

    #[test]
    fn a_tensor_may_be_read_twice() {
        // Tied weights: one checkpoint tensor fills both the embedding and the output layer.
        let (embed, head) = both(&small(), |mut loader| {
            let (mut embed, mut head) = ([0.0; 2], [0.0; 2]);
            loader.read("b", &[2], &mut embed);
            loader.read("b", &[2], &mut head);
            loader.read("a", &[2, 2], &mut [0.0; 4]);
            loader.finish(Strictness::Strict).unwrap();
            (embed, head)
        });
        assert_eq!(embed, head);
    }

    #[test]
    fn an_empty_file_loads_nothing() {
        let bytes = Writer::new().to_bytes().unwrap();
        both(&bytes, |loader| loader.finish(Strictness::Strict).unwrap());
    }

    #[test]
    fn open_rejects_a_truncated_file_and_a_lying_header_as_new_does() {
        let bytes = small();
        let header_len = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        // Cut in the data, cut in the header, and a header length larger than the file.
        let mut lying = bytes.clone();
        lying[..8].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        for damaged in [
            &bytes[..bytes.len() - 1],
            &bytes[..header_len - 1],
            &lying[..],
        ] {
            let in_memory = Loader::new(damaged).unwrap_err().to_string();
            let file = TempFile::new(damaged);
            let on_disk = Loader::open(file.path()).unwrap_err().to_string();
            assert_eq!(on_disk, in_memory);
        }
        let file = TempFile::new(&bytes[..bytes.len() - 1]);
        let message = Loader::open(file.path()).unwrap_err().to_string();
        assert!(
            message.contains("tensor \"b\" claims bytes 16..24 of the data, which has 23"),
            "{message}"
        );
    }

    #[test]
    fn a_file_on_disk_cut_before_both_tensors_is_one_line_naming_it() {
        let bytes = small();
        let cut = &bytes[..bytes.len() - 9];
        let file = TempFile::new(cut);
        let message = Loader::open(file.path()).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "corrupt safetensors header: \"{}\" was cut short: it has {} of the {} bytes its \
                 header needs (2 of its 2 tensors are lost)\n\
                 help: the file is damaged or was cut short; copy or download it again",
                file.path().display(),
                cut.len(),
                bytes.len()
            )
        );
    }

    #[test]
    fn open_names_a_missing_path() {
        let path = Path::new("/nonexistent/transformer/weights.safetensors");
        let err = Loader::open(path).unwrap_err();
        assert!(matches!(&err, LoadError::Io { path: p, .. } if p == path));
    }

    #[test]
    fn a_file_cut_after_opening_is_an_io_error_from_finish() {
        let bytes = small();
        let file = TempFile::new(&bytes);
        let mut loader = Loader::open_chunked(file.path(), 12).unwrap();
        // Only `b` (the last 8 bytes) is lost; `a` still reads.
        let cut = std::fs::OpenOptions::new().write(true).open(file.path());
        cut.unwrap().set_len(bytes.len() as u64 - 8).unwrap();
        let (mut a, mut b) = ([0.0; 4], [7.0; 2]);
        loader.read("a", &[2, 2], &mut a);
        assert!(!loader.read_optional("b", &[2], &mut b));
        assert_eq!((a, b), ([1.0, 2.0, 3.0, 4.0], [7.0; 2]));
        let err = loader.finish(Strictness::Strict).unwrap_err();
        assert!(matches!(&err, LoadError::Io { path, .. } if path == file.path()));
        let message = err.to_string();
        assert!(message.contains(": reading tensor \"b\": "), "{message}");
    }

    fn unexpected(name: &str) -> TensorFault {
        TensorFault::Unexpected { name: name.into() }
    }

    /// A GGUF file reads through the same calls: shapes row-major, faults named the same.
    #[test]
    fn gguf_tensors_read_by_their_names_in_row_major_shapes() {
        use crate::gguf::{GgmlType, GgufFile, Writer as GgufWriter};
        let mut writer = GgufWriter::new();
        writer
            .add_f32(
                "blk.0.attn_q.weight",
                &[2, 3],
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            )
            .unwrap()
            .add_f32("output_norm.weight", &[3], &[0.5, 0.25, 0.125])
            .unwrap()
            .add_raw("blk.0.ffn_up.weight", &[1, 32], GgmlType::Q5_0, &[0; 22])
            .unwrap()
            .add_f32("unused.weight", &[1], &[0.0])
            .unwrap();
        let file = GgufFile::from_bytes(writer.to_bytes()).unwrap();
        let mut loader = Loader::gguf(file);
        assert!(loader.contains("output_norm.weight"));
        let (mut q, mut norm) = ([0.0; 6], [0.0; 3]);
        loader.read("blk.0.attn_q.weight", &[2, 3], &mut q);
        let (mut top, mut bottom) = ([0.0; 3], [0.0; 3]);
        loader.read_split("blk.0.attn_q.weight", &[2, 3], &mut [&mut top, &mut bottom]);
        loader.read("output_norm.weight", &[3], &mut norm);
        assert_eq!(q, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!((top, bottom), ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]));
        assert_eq!(norm, [0.5, 0.25, 0.125]);
        let mut wrong = [0.0; 6];
        loader.read("output_norm.weight", &[6], &mut wrong);
        let mut up = [0.0; 32];
        loader.read("blk.0.ffn_up.weight", &[1, 32], &mut up);
        loader.read("blk.0.ffn_down.weight", &[32, 1], &mut up);
        let Err(LoadError::Tensors(faults)) = loader.finish(Strictness::Strict) else {
            panic!("faults expected")
        };
        assert_eq!(
            faults,
            [
                TensorFault::WrongShape {
                    name: "output_norm.weight".into(),
                    expected: vec![6],
                    found: vec![3],
                },
                TensorFault::UnsupportedDtype {
                    name: "blk.0.ffn_up.weight".into(),
                    dtype: "Q5_0".into(),
                },
                TensorFault::Missing {
                    name: "blk.0.ffn_down.weight".into(),
                    also_tried: vec![],
                    expected: vec![32, 1],
                    similar: None,
                },
                TensorFault::Unexpected {
                    name: "unused.weight".into(),
                },
            ]
        );
    }

    #[test]
    fn read_stored_gives_a_safetensors_tensor_as_stored_and_records_faults_as_read_does() {
        let halves: Vec<u8> = [1.5f32, -2.0, 0.25]
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect();
        let bytes = file(&[
            ("h", "F16", &[3], halves.clone()),
            ("i", "I64", &[1], vec![7, 0, 0, 0, 0, 0, 0, 0]),
            ("w", "F32", &[2], f32_bytes(&[1.0, 2.0])),
        ]);
        let got = both(&bytes, |mut loader| {
            let stored = loader
                .read_stored("h", &[3], |e| e == Element::F16)
                .map(|t| (t.element, t.bytes.into_owned()));
            let refused = loader
                .read_stored("w", &[2], |e| e == Element::F16)
                .is_none();
            let integer = loader.read_stored("i", &[1], |_| true).is_none();
            let wrong_shape = loader.read_stored("h", &[4], |_| true).is_none();
            let missing = loader.read_stored("x", &[1], |_| true).is_none();
            (
                stored,
                [refused, integer, wrong_shape, missing],
                faults(loader, Strictness::Strict),
            )
        });
        assert_eq!(got.0, Some((Element::F16, halves)));
        assert_eq!(got.1, [true; 4]);
        let unsupported = |name: &str, dtype: &str| TensorFault::UnsupportedDtype {
            name: name.into(),
            dtype: dtype.into(),
        };
        assert_eq!(
            got.2,
            [
                unsupported("w", "F32"),
                unsupported("i", "I64"),
                TensorFault::WrongShape {
                    name: "h".into(),
                    expected: vec![4],
                    found: vec![3],
                },
                missing(&["x"], &[1]),
            ]
        );
    }

    #[test]
    fn read_stored_gives_gguf_blocks_raw_and_plain_floats_by_their_float_type() {
        use crate::gguf::{GgmlType, GgufFile, Writer as GgufWriter};
        // One Q8_0 block: an f16 scale of 0.5, then 32 signed bytes.
        let mut block = f16::from_f32(0.5).to_le_bytes().to_vec();
        block.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let mut writer = GgufWriter::new();
        writer
            .add_raw("q", &[1, 32], GgmlType::Q8_0, &block)
            .unwrap()
            .add_f32("f", &[2], &[3.0, 4.0])
            .unwrap();
        let mut loader = Loader::gguf(GgufFile::from_bytes(writer.to_bytes()).unwrap());
        let blocks = |e| matches!(e, Element::Ggml(GgmlType::Q8_0));
        let q = loader.read_stored("q", &[1, 32], blocks).unwrap();
        assert_eq!(q.element, Element::Ggml(GgmlType::Q8_0));
        assert_eq!(q.bytes, block);
        let f = loader
            .read_stored("f", &[2], |e| e == Element::F32)
            .unwrap();
        assert_eq!(f.bytes, f32_bytes(&[3.0, 4.0]));
        assert!(loader.read_stored("f", &[2], blocks).is_none());
        assert_eq!(
            faults(loader, Strictness::Strict),
            [TensorFault::UnsupportedDtype {
                name: "f".into(),
                dtype: "F32".into(),
            }]
        );
    }
}
