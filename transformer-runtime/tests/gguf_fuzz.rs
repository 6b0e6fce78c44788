//! Damaging a valid GGUF file in tens of thousands of random ways must never make the reader
//! panic or allocate without bound: `GgufFile::from_bytes` (and, for some, `GgufFile::open`),
//! the getters and the tensor reads each end in `Ok` or `Err`.
//!
//! The generator is seeded, so a failure replays exactly; the failing iteration and its
//! bytes are in the panic message.

use transformer_runtime::Rng;
use transformer_runtime::gguf::{Array, GgmlType, GgufError, GgufFile, Value, Writer};

const ITERATIONS: usize = 50_000;

/// Numbers on the edges the checks care about: small counts and type codes, the alignment,
/// `u32`/`u64` limits and the overflow-prone `2^61`, `2^63`.
const NUMBERS: &[u64] = &[
    0,
    1,
    2,
    3,
    4,
    5,
    8,
    9,
    12,
    13,
    16,
    31,
    32,
    64,
    255,
    256,
    1 << 31,
    u32::MAX as u64,
    1 << 32,
    1 << 61,
    1 << 63,
    u64::MAX - 31,
    u64::MAX,
];

/// Random bytes of `n` blocks of `ty`.
fn blocks(rng: &mut Rng, ty: GgmlType, n: usize) -> Vec<u8> {
    (0..n * ty.block_bytes())
        .map(|_| rng.next_u64() as u8)
        .collect()
}

/// A file with metadata of every type and tensors of several types, one not converted.
fn valid_file() -> Vec<u8> {
    let mut rng = Rng::new(7);
    let mut w = Writer::new();
    let meta = [
        ("general.architecture", Value::String("llama".into())),
        ("general.alignment", Value::U32(64)),
        ("llama.block_count", Value::U32(2)),
        ("a.u8", Value::U8(1)),
        ("a.i8", Value::I8(-1)),
        ("a.u16", Value::U16(2)),
        ("a.i16", Value::I16(-2)),
        ("a.i32", Value::I32(-3)),
        ("a.f32", Value::F32(0.5)),
        ("a.bool", Value::Bool(true)),
        ("a.u64", Value::U64(4)),
        ("a.i64", Value::I64(-4)),
        ("a.f64", Value::F64(0.25)),
        (
            "tokenizer.ggml.tokens",
            Value::Array(Array::String(vec!["<s>".into(), "a".into(), "bc".into()])),
        ),
        (
            "a.nested",
            Value::Array(Array::Array(vec![
                Array::I32(vec![1, 2]),
                Array::F32(vec![0.5]),
            ])),
        ),
    ];
    for (key, value) in meta {
        w.add_metadata(key, value).expect("keys are distinct");
    }
    let values: Vec<f32> = (0..64).map(|i| i as f32 * 0.25 - 4.0).collect();
    w.add_f32("token_embd.weight", &[4, 16], &values)
        .and_then(|w| w.add_f16("output_norm.weight", &[16], &values[..16]))
        .and_then(|w| {
            w.add_raw(
                "q8",
                &[2, 32],
                GgmlType::Q8_0,
                &blocks(&mut rng, GgmlType::Q8_0, 2),
            )
        })
        .and_then(|w| {
            w.add_raw(
                "q4_1",
                &[32],
                GgmlType::Q4_1,
                &blocks(&mut rng, GgmlType::Q4_1, 1),
            )
        })
        .and_then(|w| {
            w.add_raw(
                "q4_k",
                &[256],
                GgmlType::Q4_K,
                &blocks(&mut rng, GgmlType::Q4_K, 1),
            )
        })
        .and_then(|w| {
            w.add_raw(
                "q6_k",
                &[256],
                GgmlType::Q6_K,
                &blocks(&mut rng, GgmlType::Q6_K, 1),
            )
        })
        .and_then(|w| {
            w.add_raw(
                "q5_0",
                &[32],
                GgmlType::Q5_0,
                &blocks(&mut rng, GgmlType::Q5_0, 1),
            )
        })
        .expect("the tensors are well-formed");
    w.to_bytes()
}

/// Where the data section starts: mutations of the header aim before it.
fn header_len(bytes: &[u8]) -> usize {
    GgufFile::from_bytes(bytes.to_vec()).map_or(bytes.len(), |f| f.data_start() as usize)
}

fn number(rng: &mut Rng, len: usize) -> u64 {
    match rng.below(4) {
        0 => rng.next_u64(),
        1 => rng.next_u64() % (len as u64 + 64),
        _ => NUMBERS[rng.below(NUMBERS.len())],
    }
}

/// Applies one random kind of damage; `header` is where the valid file's data starts.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, header: usize) {
    let header = header.min(bytes.len());
    let at = |rng: &mut Rng, room: usize| rng.below(header.saturating_sub(room).max(1));
    match rng.below(9) {
        // Flip a few bits anywhere.
        0 => {
            for _ in 0..1 + rng.below(4) {
                if !bytes.is_empty() {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(8);
                }
            }
        }
        // Cut the file short anywhere.
        1 => bytes.truncate(rng.below(bytes.len() + 1)),
        // A count, length, dim or offset (8 bytes) in the header.
        2 => {
            let i = at(rng, 8);
            let n = number(rng, bytes.len()).to_le_bytes();
            if let Some(field) = bytes.get_mut(i..i + 8) {
                field.copy_from_slice(&n);
            }
        }
        // A type code or `n_dims` (4 bytes) in the header.
        3 => {
            let i = at(rng, 4);
            let n = (number(rng, 64) as u32).to_le_bytes();
            if let Some(field) = bytes.get_mut(i..i + 4) {
                field.copy_from_slice(&n);
            }
        }
        // The header's own counts, or its version.
        4 => {
            let (start, width) = [(8, 8), (16, 8), (4, 4)][rng.below(3)];
            let n = number(rng, bytes.len()).to_le_bytes();
            if let Some(field) = bytes.get_mut(start..start + width) {
                field.copy_from_slice(&n[..width]);
            }
        }
        // Insert random bytes into the header.
        5 => {
            let i = at(rng, 0);
            let junk: Vec<u8> = (0..1 + rng.below(12))
                .map(|_| rng.next_u64() as u8)
                .collect();
            bytes.splice(i..i, junk);
        }
        // Delete a slice of the header.
        6 => {
            let start = at(rng, 0);
            let end = (start + 1 + rng.below(16)).min(bytes.len());
            bytes.drain(start..end);
        }
        // Copy one stretch of the header over another (fields land where others were).
        7 => {
            let (from, to, n) = (at(rng, 0), at(rng, 0), 1 + rng.below(24));
            let n = n.min(bytes.len() - from.max(to));
            let chunk = bytes[from..from + n].to_vec();
            bytes[to..to + n].copy_from_slice(&chunk);
        }
        // Random bytes after the magic and version.
        _ => {
            let mut junk = b"GGUF\x03\0\0\0".to_vec();
            junk.extend((0..rng.below(96)).map(|_| rng.next_u64() as u8));
            *bytes = junk;
        }
    }
}

/// Where a file's reading ended.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Outcome {
    /// The file was refused.
    Rejected,
    /// The file opened, and every read ended in `Ok` or `Err`.
    Opened,
}

/// Opens `bytes` and reads everything in it as a model loader would, formatting every error
/// (which must not panic either).
fn read(bytes: Vec<u8>) -> Outcome {
    let file = match GgufFile::from_bytes(bytes) {
        Ok(file) => file,
        Err(err) => {
            assert!(
                matches!(
                    err,
                    GgufError::NotGguf { .. }
                        | GgufError::Version { .. }
                        | GgufError::Corrupt { .. }
                ),
                "{err:?}"
            );
            assert!(!err.to_string().is_empty());
            return Outcome::Rejected;
        }
    };
    read_all(&file);
    Outcome::Opened
}

fn read_all(file: &GgufFile) {
    let keys: Vec<String> = file.metadata_entries().map(|(k, _)| k.to_owned()).collect();
    for key in &keys {
        let _ = file.metadata(key).map(Value::to_string);
        let results = [
            file.get_u32(key).map(drop),
            file.get_i64(key).map(drop),
            file.get_f32(key).map(drop),
            file.get_bool(key).map(drop),
            file.get_str(key).map(drop),
            file.get_str_array(key).map(drop),
        ];
        for err in results.into_iter().filter_map(Result::err) {
            assert!(!err.to_string().is_empty());
        }
    }
    for info in file.tensors() {
        let _ = info.shape();
        match file.tensor_f32(info.name()) {
            Ok(values) => assert_eq!(values.len(), info.n_values()),
            Err(err) => assert!(
                matches!(err, GgufError::Unsupported { .. }),
                "{}: {err}",
                info.name()
            ),
        }
        if info.n_values() > 0 {
            let mut short = vec![0.0; (info.n_values() - 1).min(1 << 16)];
            assert!(file.read_f32(info.name(), &mut short).is_err());
        }
        assert_eq!(
            file.tensor_bytes(info.name()).unwrap().len(),
            info.byte_size()
        );
    }
}

#[test]
fn the_valid_file_reads() {
    let valid = valid_file();
    assert_eq!(read(valid.clone()), Outcome::Opened);
    let file = GgufFile::from_bytes(valid).unwrap();
    assert_eq!(file.tensors().len(), 7);
    assert_eq!(file.alignment(), 64);
}

#[test]
fn random_damage_never_panics_the_reader() {
    let valid = valid_file();
    let header = header_len(&valid);
    let mut rng = Rng::new(0x6755_4646_F00D_5EED);
    let mut seen = Vec::new();
    for iteration in 0..ITERATIONS {
        let mut bytes = valid.clone();
        for _ in 0..1 + rng.below(3) {
            mutate(&mut rng, &mut bytes, header);
        }
        let copy = bytes.clone();
        let outcome = std::panic::catch_unwind(|| read(copy))
            .unwrap_or_else(|_| panic!("iteration {iteration} panicked on {bytes:?}"));
        if !seen.contains(&outcome) {
            seen.push(outcome);
        }
    }
    // The damage reaches both ends: some files are refused, some (damaged data, a changed
    // value) still open.
    assert_eq!(seen.len(), 2, "only saw {seen:?}");
}

#[test]
fn damaged_files_on_disk_fail_as_in_memory() {
    let valid = valid_file();
    let header = header_len(&valid);
    let mut rng = Rng::new(0xD15C);
    let path =
        std::env::temp_dir().join(format!("transformer-gguf-fuzz-{}.gguf", std::process::id()));
    for iteration in 0..300 {
        let mut bytes = valid.clone();
        mutate(&mut rng, &mut bytes, header);
        std::fs::write(&path, &bytes).unwrap();
        let on_disk = GgufFile::open(&path);
        let in_memory = GgufFile::from_bytes(bytes);
        match (&on_disk, &in_memory) {
            (Ok(file), Ok(_)) => read_all(file),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "iteration {iteration}"),
            _ => panic!("iteration {iteration}: {on_disk:?} vs {in_memory:?}"),
        }
    }
    std::fs::remove_file(&path).unwrap();
}
