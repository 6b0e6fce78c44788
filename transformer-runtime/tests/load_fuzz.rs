//! Damaging a valid weights file in thousands of random ways must never make the loader
//! panic: `Loader::new`, the reads and `finish` each end in `Ok` or `Err`.
//!
//! The generator is seeded, so a failure replays exactly; the failing iteration and its
//! bytes are in the panic message.

use transformer_runtime::Rng;
use transformer_runtime::load::{LoadError, Loader, Strictness, Writer};

const ITERATIONS: usize = 50_000;

/// Numbers that sit on the edges the header checks care about: zero, sizes of the real
/// tensors, `u32`/`u64`/`usize` limits, the overflow-prone `2^61 - 1`, and things that are not
/// unsigned integers at all.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "4",
    "8",
    "127",
    "128",
    "4294967295",
    "4294967296",
    "2305843009213693951",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "1e3",
    "0.5",
];

/// Dtypes of every size, including the 4-byte ones that keep a damaged header consistent.
const DTYPES: &[&str] = &[
    "F32", "I32", "U32", "F16", "BF16", "F64", "I64", "U8", "BOOL", "F4", "Q4", "",
];

/// A small model: a matrix, a stacked q/k/v tensor, a vector, a scalar, and an extra tensor.
fn valid_file() -> Vec<u8> {
    let values = |n: usize| (0..n).map(|i| i as f32 * 0.5 - 3.0).collect::<Vec<f32>>();
    let mut writer = Writer::new();
    writer.add("embed", &[8, 4], &values(32));
    writer.add("layers.0.qkv", &[6, 2], &values(12));
    writer.add("layers.0.norm.gamma", &[4], &values(4));
    writer.add("scale", &[], &[2.0]);
    writer.add("pooler.dense.weight", &[2, 2], &values(4));
    writer
        .to_bytes()
        .expect("the writer's inputs are well-formed")
}

/// Bytes `8..8 + n` of `bytes`: the JSON header, as far as the file reaches.
fn header_range(bytes: &[u8]) -> std::ops::Range<usize> {
    let n = bytes.get(..8).map_or(0, |len| {
        u64::from_le_bytes(len.try_into().unwrap_or([0; 8]))
    });
    let end = usize::try_from(n)
        .unwrap_or(usize::MAX)
        .saturating_add(8)
        .min(bytes.len());
    8.min(end)..end
}

/// Makes the length prefix agree with a header that now ends at `end`.
fn set_header_end(bytes: &mut [u8], end: usize) {
    if let Some(len) = bytes.get_mut(..8) {
        len.copy_from_slice(&(end.saturating_sub(8) as u64).to_le_bytes());
    }
}

/// Replaces `range` of the header with `text`, keeping the length prefix right half of the
/// time (so the damage reaches the offset and shape checks) and stale otherwise.
fn splice_header(rng: &mut Rng, bytes: &mut Vec<u8>, range: std::ops::Range<usize>, text: &[u8]) {
    let end = header_range(bytes).end;
    let new_end = end + text.len() - range.len();
    bytes.splice(range, text.iter().copied());
    if rng.below(2) == 0 {
        set_header_end(bytes, new_end);
    }
}

/// Every run of ASCII digits in the header, as a byte range of the file.
fn numbers_in_header(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let header = header_range(bytes);
    let mut runs = Vec::new();
    let mut start = None;
    for i in header.clone().chain([header.end]) {
        let digit = i < header.end && bytes[i].is_ascii_digit();
        match (digit, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    runs
}

/// The values after `key` in the header, up to (not including) `end`: `"dtype":"` up to `"`
/// gives each dtype, `"shape":[` up to `]` each shape's dims.
fn values_in_header(bytes: &[u8], key: &[u8], end: u8) -> Vec<std::ops::Range<usize>> {
    let header = header_range(bytes);
    let text = &bytes[header.clone()];
    let mut ranges = Vec::new();
    for i in 0..text.len().saturating_sub(key.len()) {
        if text[i..].starts_with(key) {
            let start = i + key.len();
            let len = text[start..].iter().position(|&b| b == end).unwrap_or(0);
            ranges.push(header.start + start..header.start + start + len);
        }
    }
    ranges
}

/// Other dims with the same number of values as `dims` (`"8,4"`): the data still fits, so the
/// file opens and the reads see a wrong shape.
fn reshaped(rng: &mut Rng, dims: &[u8]) -> Option<String> {
    let dims: Vec<u64> = std::str::from_utf8(dims)
        .ok()?
        .split(',')
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().ok())
        .collect::<Option<_>>()?;
    let numel = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d))?;
    let mut reversed = dims.clone();
    reversed.reverse();
    let options = [
        vec![numel],
        vec![1, numel],
        vec![numel, 1],
        reversed,
        vec![],
    ];
    let choice = &options[rng.below(options.len())];
    Some(
        choice
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Applies one random kind of damage.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    match rng.below(10) {
        // Flip a few bits anywhere: header, length prefix or data.
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
        // Splice random bytes into the header.
        2 => {
            let header = header_range(bytes);
            let at = header.start + rng.below(header.len() + 1);
            let junk: Vec<u8> = (0..1 + rng.below(8))
                .map(|_| rng.next_u64().to_le_bytes()[0])
                .collect();
            splice_header(rng, bytes, at..at, &junk);
        }
        // Change a number in the header: a dimension or an offset.
        3 => {
            let runs = numbers_in_header(bytes);
            if !runs.is_empty() {
                let run = runs[rng.below(runs.len())].clone();
                let number = match rng.below(3) {
                    0 => rng.next_u64().to_string(),
                    _ => NUMBERS[rng.below(NUMBERS.len())].to_owned(),
                };
                splice_header(rng, bytes, run, number.as_bytes());
            }
        }
        // Change a dtype, which changes how many bytes a tensor needs.
        4 => {
            let ranges = values_in_header(bytes, b"\"dtype\":\"", b'"');
            if !ranges.is_empty() {
                let range = ranges[rng.below(ranges.len())].clone();
                let dtype = DTYPES[rng.below(DTYPES.len())];
                splice_header(rng, bytes, range, dtype.as_bytes());
            }
        }
        // A random header length.
        5 => {
            let n = match rng.below(3) {
                0 => rng.next_u64(),
                1 => rng.next_u64() % (bytes.len() as u64 + 16),
                _ => u64::MAX - rng.next_u64() % 16,
            };
            if let Some(len) = bytes.get_mut(..8) {
                len.copy_from_slice(&n.to_le_bytes());
            }
        }
        // Delete a slice of the header.
        6 => {
            let header = header_range(bytes);
            let start = header.start + rng.below(header.len() + 1);
            let end = start + rng.below(header.end - start + 1);
            splice_header(rng, bytes, start..end, b"");
        }
        // Change a letter in the header: mostly renames a tensor, so it goes missing.
        7 => {
            let header = header_range(bytes);
            let letters: Vec<usize> = header.filter(|&i| bytes[i].is_ascii_lowercase()).collect();
            if !letters.is_empty() {
                bytes[letters[rng.below(letters.len())]] = b'a' + rng.below(26) as u8;
            }
        }
        // Give a tensor other dims with the same number of values.
        8 => {
            let ranges = values_in_header(bytes, b"\"shape\":[", b']');
            if !ranges.is_empty() {
                let range = ranges[rng.below(ranges.len())].clone();
                if let Some(dims) = reshaped(rng, &bytes[range.clone()]) {
                    splice_header(rng, bytes, range, dims.as_bytes());
                }
            }
        }
        // Random bytes after a plausible length prefix.
        _ => {
            let len = rng.below(64);
            let mut junk = (len as u64).to_le_bytes().to_vec();
            junk.push(b'{');
            junk.extend((0..rng.below(96)).map(|_| rng.next_u64().to_le_bytes()[0]));
            *bytes = junk;
        }
    }
}

/// Where a file's loading ended.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Outcome {
    /// `Loader::new` refused the file.
    Rejected,
    /// The file opened, but `finish` reported faults.
    Faulty,
    /// Everything read.
    Loaded,
}

/// Reads the model's tensors as generated code would, including the calls that tolerate
/// absence, and formats any error (which must not panic either).
fn load(bytes: &[u8], strictness: Strictness) -> Outcome {
    let mut loader = match Loader::new(bytes) {
        Ok(loader) => loader,
        Err(err) => {
            assert!(
                matches!(err, LoadError::Format { .. } | LoadError::Header { .. }),
                "{err:?}"
            );
            assert!(!err.to_string().is_empty());
            return Outcome::Rejected;
        }
    };
    let (mut embed, mut q, mut k, mut v) = ([0.0; 32], [0.0; 4], [0.0; 4], [0.0; 4]);
    let (mut norm, mut scale, mut lm_head) = ([0.0; 4], [0.0; 1], [0.0; 32]);
    loader.read("embed", &[8, 4], &mut embed);
    loader.read_split("layers.0.qkv", &[6, 2], &mut [&mut q, &mut k, &mut v]);
    loader.read_any(
        &["layers.0.norm.weight", "layers.0.norm.gamma"],
        &[4],
        &mut norm,
    );
    loader.read("scale", &[], &mut scale);
    loader.read_optional("lm_head.weight", &[8, 4], &mut lm_head);
    loader.ignore_prefix("pooler.");
    match loader.finish(strictness) {
        Ok(()) => Outcome::Loaded,
        Err(err) => {
            assert!(
                matches!(err, LoadError::Tensors(ref faults) if !faults.is_empty()),
                "{err:?}"
            );
            assert!(!err.to_string().is_empty());
            Outcome::Faulty
        }
    }
}

#[test]
fn the_valid_file_loads() {
    assert_eq!(load(&valid_file(), Strictness::Strict), Outcome::Loaded);
}

#[test]
fn random_damage_never_panics_the_loader() {
    let valid = valid_file();
    let mut rng = Rng::new(0x5EED_CAFE_F00D_D00D);
    let mut seen = Vec::new();
    for iteration in 0..ITERATIONS {
        let mut bytes = valid.clone();
        for _ in 0..1 + rng.below(3) {
            mutate(&mut rng, &mut bytes);
        }
        let strictness = if iteration % 2 == 0 {
            Strictness::Strict
        } else {
            Strictness::Lenient
        };
        let outcome = std::panic::catch_unwind(|| load(&bytes, strictness))
            .unwrap_or_else(|_| panic!("iteration {iteration} panicked on {bytes:?}"));
        if !seen.contains(&outcome) {
            seen.push(outcome);
        }
    }
    // The damage reaches every stage: some files are refused, some open with faults, and
    // some (a flipped bit in the data) still load.
    assert_eq!(seen.len(), 3, "only saw {seen:?}");
}
