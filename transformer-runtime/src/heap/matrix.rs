//! [`Matrix`]: a weight matrix on the heap, placed for the kernels to stream it.

use std::alloc::Layout;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// The size of a transparent huge page on x86-64 and most 64-bit Arm Linux systems.
pub const HUGE_PAGE: usize = 2 << 20;

/// Matrices of this many bytes and more, but less than a huge page, share huge-page chunks.
const SHARED_FROM: usize = 256 << 10;

/// The size of a shared chunk: four huge pages.
const CHUNK: usize = 4 * HUGE_PAGE;

/// Every matrix starts on a cache line.
const LINE: usize = 64;

/// A `[[f32; COLS]; ROWS]` matrix on the heap, in huge pages where it is large enough to
/// gain from them. It dereferences to the array: `m[o][i]`, `m.as_flattened()`,
/// `*m = [[…]]`.
///
/// A model's weights are read once per forward pass, tens of megabytes of them, far beyond
/// what the TLB maps in 4 KiB pages. Each new small page then costs a page walk (a long one
/// in a virtual machine), which the kernels' prefetches do not hide. So matrices live in
/// 2 MiB transparent huge pages where Linux offers them, advised (`madvise(MADV_HUGEPAGE)`)
/// before their pages are first touched (`bench/README.md` has what that gained):
///
/// - from 2 MiB (one huge page) up, a matrix has an allocation of its own, aligned to a huge
///   page, its whole huge pages advised; the tail past the last one stays in small pages, so
///   it occupies no more memory than its numbers;
/// - from 256 KiB up to that, matrices are carved one after another out of shared chunks of
///   four huge pages (MiniLM's 384 × 384 projections, 576 KiB each, 14 to a chunk), and a
///   chunk is freed with the last of its matrices. Pages never touched cost nothing, so what
///   a chunk occupies beyond its matrices is at most the rest of one huge page; but the
///   space of a matrix dropped before its neighbours is not reused until the whole chunk
///   goes (weights are usually loaded together and dropped together);
/// - smaller ones, a few dozen small pages at most, are ordinary allocations, aligned to a
///   cache line like the others.
///
/// Where huge pages are off or unsupported the advice is ignored and nothing else changes.
pub struct Matrix<const ROWS: usize, const COLS: usize> {
    /// `ROWS · COLS` numbers, initialised, that this matrix alone reads and writes; dangling
    /// (and aligned) when that is zero bytes.
    ptr: NonNull<[[f32; COLS]; ROWS]>,
    home: Home,
}

/// Where a matrix's numbers are, and so how they are freed.
enum Home {
    /// Nowhere: the matrix has no numbers.
    Empty,
    /// An allocation of the matrix's own, with this layout, freed with it.
    Own(Layout),
    /// A piece of a shared chunk, freed with the last matrix holding the chunk.
    Shared(#[expect(dead_code, reason = "never read: held to keep the chunk alive")] Arc<Chunk>),
}

// SAFETY: a `Matrix` owns its numbers as a `Box` does (a shared chunk is only ever reached
// through the disjoint pieces of it its matrices own); `f32` is `Send` and `Sync`.
unsafe impl<const ROWS: usize, const COLS: usize> Send for Matrix<ROWS, COLS> {}
unsafe impl<const ROWS: usize, const COLS: usize> Sync for Matrix<ROWS, COLS> {}

impl<const ROWS: usize, const COLS: usize> Matrix<ROWS, COLS> {
    /// Every number zero.
    pub fn zeroed() -> Self {
        let size = size_of::<[[f32; COLS]; ROWS]>();
        let (ptr, home) = if size == 0 {
            (NonNull::dangling(), Home::Empty)
        } else if (SHARED_FROM..HUGE_PAGE).contains(&size) {
            let mut carver = CARVER.lock().unwrap_or_else(PoisonError::into_inner);
            let (ptr, chunk) = carver.carve(size);
            (ptr.cast(), Home::Shared(chunk))
        } else {
            let align = if size >= HUGE_PAGE { HUGE_PAGE } else { LINE };
            let Ok(layout) = Layout::from_size_align(size, align) else {
                panic!("a matrix of {size} bytes is too large to align to {align}")
            };
            (allocate(layout).cast(), Home::Own(layout))
        };
        // Zeroed here, after the advice, rather than allocated zeroed: otherwise the pages
        // would already be mapped small by the time the OS hears of it.
        // SAFETY: `ptr` points at `size` bytes that are this matrix's alone (none when it is
        // empty); all-zero bits are the number 0.0, so the array is initialised after this.
        unsafe { ptr.cast::<u8>().write_bytes(0, size) };
        Self { ptr, home }
    }
}

impl<const ROWS: usize, const COLS: usize> Deref for Matrix<ROWS, COLS> {
    type Target = [[f32; COLS]; ROWS];

    fn deref(&self) -> &Self::Target {
        // SAFETY: `ptr` is initialised (or dangling and aligned for an array of zero bytes),
        // this matrix's alone, and borrowed through `&self`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<const ROWS: usize, const COLS: usize> DerefMut for Matrix<ROWS, COLS> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        // SAFETY: as in `deref`, and borrowed through `&mut self`, so exclusively.
        unsafe { self.ptr.as_mut() }
    }
}

impl<const ROWS: usize, const COLS: usize> Drop for Matrix<ROWS, COLS> {
    fn drop(&mut self) {
        // A shared chunk goes with its last matrix, when the `Arc` in `Home::Shared` does.
        if let Home::Own(layout) = self.home {
            // SAFETY: allocated by `allocate` with this layout, and freed only here.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

impl<const ROWS: usize, const COLS: usize> Clone for Matrix<ROWS, COLS> {
    fn clone(&self) -> Self {
        let mut copy = Self::zeroed();
        copy.as_flattened_mut().copy_from_slice(self.as_flattened());
        copy
    }
}

impl<const ROWS: usize, const COLS: usize> PartialEq for Matrix<ROWS, COLS> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<const ROWS: usize, const COLS: usize> std::fmt::Debug for Matrix<ROWS, COLS> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// `CHUNK` bytes aligned to a huge page, advised as huge pages, which matrices are carved
/// from; freed when the last of them is dropped.
struct Chunk {
    base: NonNull<u8>,
}

// SAFETY: a chunk is raw memory, reached only through the disjoint pieces of it that
// matrices own, and freed once, by the last `Arc` holding it.
unsafe impl Send for Chunk {}
unsafe impl Sync for Chunk {}

impl Chunk {
    const LAYOUT: Layout = match Layout::from_size_align(CHUNK, HUGE_PAGE) {
        Ok(layout) => layout,
        Err(_) => panic!("CHUNK and HUGE_PAGE make a layout"),
    };

    fn new() -> Self {
        Self {
            base: allocate(Self::LAYOUT),
        }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: allocated by `allocate` with this layout, and freed only here.
        unsafe { std::alloc::dealloc(self.base.as_ptr(), Self::LAYOUT) };
    }
}

/// The chunk that matrices are being carved from, and the offset of its first free byte.
/// The reference is weak: a chunk whose matrices are all gone is freed, not kept for the
/// next one.
struct Carver {
    chunk: Weak<Chunk>,
    used: usize,
}

/// The process's carver, for every shared matrix.
static CARVER: Mutex<Carver> = Mutex::new(Carver::new());

impl Carver {
    const fn new() -> Self {
        Self {
            chunk: Weak::new(),
            used: CHUNK,
        }
    }

    /// `size` bytes (at most a chunk) of a chunk, starting on a cache line, and the chunk:
    /// the current one if they fit in what is left of it, else a new one. No two calls
    /// return overlapping bytes.
    fn carve(&mut self, size: usize) -> (NonNull<u8>, Arc<Chunk>) {
        assert!(size <= CHUNK, "{size} bytes do not fit in a chunk");
        let start = self.used.next_multiple_of(LINE);
        let (chunk, start) = match self.chunk.upgrade() {
            Some(chunk) if start + size <= CHUNK => (chunk, start),
            _ => {
                let chunk = Arc::new(Chunk::new());
                self.chunk = Arc::downgrade(&chunk);
                (chunk, 0)
            }
        };
        self.used = start + size;
        // SAFETY: `start + size ≤ CHUNK`: inside the chunk's allocation. The bytes from
        // `used` on were handed to no one, and `used` only grows while the chunk lives.
        let ptr = unsafe { chunk.base.add(start) };
        (ptr, chunk)
    }
}

/// Allocates `layout` (not zero bytes), with its whole huge pages advised as such.
fn allocate(layout: Layout) -> NonNull<u8> {
    // SAFETY: the layouts passed here are never zero bytes.
    let raw = unsafe { std::alloc::alloc(layout) };
    let Some(ptr) = NonNull::new(raw) else {
        std::alloc::handle_alloc_error(layout)
    };
    if layout.align() >= HUGE_PAGE {
        advise_huge_pages(ptr, layout.size());
    }
    ptr
}

/// Offers the whole huge pages of the `len` bytes at `ptr`, which is aligned to a huge page,
/// to Linux as transparent huge pages. Advice only: the result is ignored, as the kernel
/// ignores the advice where huge pages are off.
#[cfg(all(target_os = "linux", not(miri)))]
fn advise_huge_pages(ptr: NonNull<u8>, len: usize) {
    let whole = len / HUGE_PAGE * HUGE_PAGE;
    if whole > 0 {
        // SAFETY: `madvise` reads and writes no memory of ours; the range is page-aligned
        // and inside one allocation of ours.
        unsafe { libc::madvise(ptr.as_ptr().cast(), whole, libc::MADV_HUGEPAGE) };
    }
}

/// Elsewhere there is no one to advise.
#[cfg(not(all(target_os = "linux", not(miri))))]
fn advise_huge_pages(_: NonNull<u8>, _: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_matrix_is_built_without_touching_the_stack() {
        // 64 MiB: would overflow a 2 MiB test-thread stack if built there first.
        let m = Matrix::<4096, 4096>::zeroed();
        assert!(m.as_flattened().iter().all(|&v| v == 0.0));
    }

    #[test]
    fn each_size_has_its_home_and_alignment() {
        let small = Matrix::<3, 5>::zeroed();
        assert!(matches!(small.home, Home::Own(_)));
        assert_eq!(small.as_ptr().addr() % LINE, 0);
        // 320 KiB: shared.
        let shared = Matrix::<200, 400>::zeroed();
        assert!(matches!(shared.home, Home::Shared(_)));
        assert_eq!(shared.as_ptr().addr() % LINE, 0);
        // 2.5 MiB: its own, on a huge page.
        let large = Matrix::<1024, 640>::zeroed();
        assert!(matches!(large.home, Home::Own(_)));
        assert_eq!(large.as_ptr().addr() % HUGE_PAGE, 0);
    }

    #[test]
    fn a_matrix_reads_writes_clones_and_compares_as_its_array() {
        let mut m = Matrix::<2, 3>::zeroed();
        *m = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        m[1][2] = 7.0;
        let copy = m.clone();
        m[0][0] = -1.0;
        assert_eq!(*copy, [[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]]);
        assert_ne!(copy, m);
        assert_eq!(format!("{copy:?}"), "[[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]]");
    }

    #[test]
    fn an_empty_matrix_allocates_nothing() {
        let m = Matrix::<0, 8>::zeroed();
        assert!(m.is_empty() && matches!(m.home, Home::Empty));
        assert_eq!(m.clone(), m);
        let m = Matrix::<4, 0>::zeroed();
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn shared_matrices_are_zeroed_and_do_not_overlap() {
        let mut matrices: Vec<Matrix<300, 300>> = (0..20).map(|_| Matrix::zeroed()).collect();
        for (i, m) in matrices.iter_mut().enumerate() {
            assert!(m.as_flattened().iter().all(|&v| v == 0.0));
            m.as_flattened_mut().fill(i as f32);
        }
        for (i, m) in matrices.iter().enumerate() {
            assert!(
                m.as_flattened().iter().all(|&v| v == i as f32),
                "matrix {i}"
            );
        }
    }

    #[test]
    fn a_carver_packs_pieces_into_chunks_and_lets_them_go() {
        let mut carver = Carver::new();
        let size = 600 << 10;
        let pieces: Vec<_> = (0..14).map(|_| carver.carve(size)).collect();
        let first = &pieces[0].1;
        assert_eq!(first.base.as_ptr().addr() % HUGE_PAGE, 0);
        // 13 pieces of 600 KiB fit in 8 MiB; the 14th starts a new chunk.
        for (i, (ptr, chunk)) in pieces.iter().enumerate() {
            let offset = ptr.as_ptr().addr() - chunk.base.as_ptr().addr();
            assert_eq!(offset, (i % 13) * size, "piece {i}");
            assert!(offset + size <= CHUNK);
            assert_eq!(Arc::ptr_eq(chunk, first), i < 13, "piece {i}");
        }
        let second = Arc::downgrade(&pieces[13].1);
        drop(pieces);
        assert!(carver.chunk.upgrade().is_none() && second.upgrade().is_none());
        let (ptr, chunk) = carver.carve(LINE + 1);
        assert_eq!(ptr, chunk.base);
        let (next, _) = carver.carve(8);
        assert_eq!(next.as_ptr().addr() - ptr.as_ptr().addr(), 2 * LINE);
    }

    /// The advice reaches the kernel: the mappings holding a matrix of its own and a shared
    /// chunk are marked for huge pages (`hg` in their VmFlags), which is what the kernel
    /// allocates by; whether it finds free huge pages at that moment is the machine's
    /// business.
    #[test]
    #[cfg(all(target_os = "linux", not(miri)))]
    fn matrices_in_huge_pages_are_advised_to_use_them() {
        if std::fs::metadata("/sys/kernel/mm/transparent_hugepage").is_err() {
            // A kernel without transparent huge pages: `madvise` refuses, by design.
            return;
        }
        let own = Matrix::<1100, 1000>::zeroed();
        let shared = Matrix::<400, 400>::zeroed();
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
        for at in [own.as_ptr().addr(), shared.as_ptr().addr()] {
            let flags = vm_flags(&smaps, at).expect("the matrix's mapping in /proc/self/smaps");
            assert!(
                flags.split_whitespace().any(|f| f == "hg"),
                "VmFlags:{flags}"
            );
        }
    }

    /// The VmFlags of the mapping holding address `at`, from `/proc/self/smaps`.
    #[cfg(all(target_os = "linux", not(miri)))]
    fn vm_flags(smaps: &str, at: usize) -> Option<&str> {
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_once(' ').and_then(|(r, _)| r.split_once('-'));
            if let Some((from, to)) = range
                && let (Ok(from), Ok(to)) = (
                    usize::from_str_radix(from, 16),
                    usize::from_str_radix(to, 16),
                )
            {
                inside = (from..to).contains(&at);
            } else if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                return Some(flags);
            }
        }
        None
    }
}
