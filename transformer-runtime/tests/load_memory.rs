//! Loading from a path with `Loader::open` holds no copy of the file in memory: its heap peak
//! stays a chunk above the destination buffers, where reading the file into memory first
//! (`read_file` + `Loader::new`) costs the whole file. Measured by a global allocator that
//! tracks the bytes allocated now and at most.
//!
//! One test in its own binary, so no other test allocates while it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use transformer_runtime::load::{Loader, Strictness, Writer, read_file};

/// Tracks the heap bytes allocated (on any thread) now and at their highest.
struct PeakAllocator;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::SeqCst) + bytes;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

fn shrank(bytes: usize) {
    CURRENT.fetch_sub(bytes, Ordering::SeqCst);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for PeakAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the new block arriving before the old one leaves, as a move would.
        grew(new_size);
        shrank(layout.size());
        // SAFETY: the caller's contract for `realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: PeakAllocator = PeakAllocator;

/// The most heap bytes that `f` held at once beyond what was allocated before it ran.
fn peak_during(f: impl FnOnce()) -> usize {
    let before = CURRENT.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - before
}

/// Tensors shaped like a small BERT's, 40 MB in all: a 30 MB embedding, the rest layers.
const TENSORS: &[(&str, &[usize])] = &[
    ("embeddings.word_embeddings.weight", &[20_000, 384]),
    ("layer.0.attention.weight", &[1152, 384]),
    ("layer.0.attention.bias", &[1152]),
    ("layer.0.intermediate.weight", &[1536, 384]),
    ("layer.0.intermediate.bias", &[1536]),
    ("layer.0.output.weight", &[384, 1536]),
    ("layer.0.output.bias", &[384]),
    ("layer.1.intermediate.weight", &[1536, 384]),
    ("layer.1.output.weight", &[384, 1536]),
];

/// Bytes at most that loading may allocate besides the destinations: a 1 MiB chunk, the
/// header and the names read.
const OVERHEAD: usize = 2 << 20;

/// A directory under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Value `j` of tensor `i`: exact in `f32`, and different in every tensor and 1024 in a row.
fn value(i: usize, j: usize) -> f32 {
    i as f32 + (j % 1024) as f32 / 1024.0
}

/// Writes the `TENSORS` file to `path` and returns its size. The writer and its bytes are
/// gone when this returns.
fn write_weights(path: &Path) -> usize {
    let mut writer = Writer::new();
    for (i, &(name, shape)) in TENSORS.iter().enumerate() {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|j| value(i, j)).collect();
        writer.add(name, shape, &values);
    }
    writer.write_file(path).unwrap();
    std::fs::metadata(path).unwrap().len() as usize
}

/// Checks the first and last value of each buffer.
fn assert_loaded(buffers: &[Vec<f32>]) {
    for (i, buffer) in buffers.iter().enumerate() {
        let last = buffer.len() - 1;
        assert_eq!((buffer[0], buffer[last]), (value(i, 0), value(i, last)));
    }
}

/// Reads every tensor into `buffers` and finishes strictly.
fn load_all(mut loader: Loader<'_>, buffers: &mut [Vec<f32>]) {
    for (&(name, shape), buffer) in TENSORS.iter().zip(buffers) {
        loader.read(name, shape, buffer);
    }
    loader.finish(Strictness::Strict).unwrap();
}

#[test]
fn open_loads_without_a_copy_of_the_file() {
    let dir = TempDir(
        std::env::temp_dir().join(format!("transformer-load-memory-{}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("weights.safetensors");
    let file_size = write_weights(&path);
    assert!(file_size > 40_000_000, "{file_size} bytes");

    // The destinations exist before measuring, as a zeroed model does.
    let mut buffers: Vec<Vec<f32>> = TENSORS
        .iter()
        .map(|(_, shape)| vec![0.0; shape.iter().product()])
        .collect();
    let from_disk = peak_during(|| load_all(Loader::open(&path).unwrap(), &mut buffers));
    assert_loaded(&buffers);
    buffers.iter_mut().for_each(|buffer| buffer.fill(0.0));

    let in_memory = peak_during(|| {
        let bytes = read_file(&path).unwrap();
        load_all(Loader::new(&bytes).unwrap(), &mut buffers);
    });
    assert_loaded(&buffers);

    assert!(
        from_disk < OVERHEAD,
        "Loader::open peaked at {from_disk} bytes beyond the destinations"
    );
    assert!(
        in_memory > file_size,
        "read_file + Loader::new peaked at {in_memory} bytes, under the file's {file_size}"
    );
}
