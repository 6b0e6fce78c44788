//! Heap storage for weights and activations whose shapes are model dimensions.
//!
//! A MiniLM-sized model holds 90 MB of weights, far more than a thread's stack, so every
//! tensor is built on the heap directly, never moved through the stack: weight matrices in a
//! [`Matrix`], placed for the kernels to stream; other tensors in a `Box<[..; N]>`.

use std::alloc::Layout;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// The size of a transparent huge page on x86-64 and most 64-bit Arm Linux systems.
pub const HUGE_PAGE: usize = 2 << 20;

/// A `[[f32; COLS]; ROWS]` matrix on the heap, placed so that a product can stream it fast:
/// aligned to a cache line, and from [`HUGE_PAGE`] bytes up, to a huge page, with its whole
/// huge pages' worth offered to the OS as transparent huge pages (`madvise` on Linux).
///
/// Why: a model's weights are read once per forward pass, tens of megabytes of them, far
/// beyond what the TLB maps in 4 KiB pages (12 MiB on a Zen 4 core). Each new 4 KiB page
/// then costs a page walk — a long one in a virtual machine — which the kernels' prefetches
/// cannot hide. In 2 MiB pages MiniLM's feed-forward weights need a few dozen TLB entries
/// (measured on a 2-core Zen 4 VM: MiniLM at 128 tokens 4–6% faster, at 16 tokens 12–15%).
/// The tail past the last whole huge page stays in ordinary pages, so the matrix occupies
/// no more memory than its numbers. Where huge pages are off or unsupported, the advice is
/// ignored and nothing else changes.
///
/// It dereferences to the array: `m[o][i]`, `m.as_flattened()`, `*m = [[…]]`.
pub struct Matrix<const ROWS: usize, const COLS: usize> {
    /// `ROWS · COLS` numbers allocated with [`Self::layout`] and owned; dangling (and never
    /// freed) when that is zero bytes.
    ptr: NonNull<[[f32; COLS]; ROWS]>,
}

// SAFETY: a `Matrix` owns its numbers as a `Box` does; `f32` is `Send` and `Sync`.
unsafe impl<const ROWS: usize, const COLS: usize> Send for Matrix<ROWS, COLS> {}
unsafe impl<const ROWS: usize, const COLS: usize> Sync for Matrix<ROWS, COLS> {}

impl<const ROWS: usize, const COLS: usize> Matrix<ROWS, COLS> {
    /// The allocation: the array's size, aligned to a huge page if it fills one, else to a
    /// cache line.
    fn layout() -> Layout {
        let array = Layout::new::<[[f32; COLS]; ROWS]>();
        let align = if array.size() >= HUGE_PAGE {
            HUGE_PAGE
        } else {
            64
        };
        match array.align_to(align) {
            Ok(layout) => layout,
            Err(_) => unreachable!("64 and HUGE_PAGE are powers of two below isize::MAX"),
        }
    }

    /// Every number zero.
    pub fn zeroed() -> Self {
        let layout = Self::layout();
        if layout.size() == 0 {
            return Self {
                ptr: NonNull::dangling(),
            };
        }
        // Not `alloc_zeroed`: zeroing must come after the advice, or the pages would already
        // be mapped small by the time the OS hears of it.
        // SAFETY: the layout's size is not zero.
        let raw = unsafe { std::alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        advise_huge_pages(ptr, layout.size());
        // SAFETY: `raw` points at `layout.size()` bytes just allocated for us; all-zero bits
        // are the number 0.0, so the array is initialised after this.
        unsafe { raw.write_bytes(0, layout.size()) };
        Self { ptr: ptr.cast() }
    }
}

impl<const ROWS: usize, const COLS: usize> Deref for Matrix<ROWS, COLS> {
    type Target = [[f32; COLS]; ROWS];

    fn deref(&self) -> &Self::Target {
        // SAFETY: `ptr` is initialised (zeroed, or dangling and aligned for a zero-sized
        // array), owned by `self`, and borrowed through `&self` only.
        unsafe { self.ptr.as_ref() }
    }
}

impl<const ROWS: usize, const COLS: usize> DerefMut for Matrix<ROWS, COLS> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        // SAFETY: as in `deref`, borrowed through `&mut self`, so exclusively.
        unsafe { self.ptr.as_mut() }
    }
}

impl<const ROWS: usize, const COLS: usize> Drop for Matrix<ROWS, COLS> {
    fn drop(&mut self) {
        let layout = Self::layout();
        if layout.size() > 0 {
            // SAFETY: allocated in `zeroed` with this same layout, and not freed before.
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

/// Offers the whole huge pages of the `len` bytes at `ptr` (aligned to [`HUGE_PAGE`] when
/// `len` is at least that) to Linux as transparent huge pages. Advice only: its result is
/// ignored, as the kernel's is where huge pages are off.
#[cfg(all(target_os = "linux", not(miri)))]
fn advise_huge_pages(ptr: NonNull<u8>, len: usize) {
    let whole = len / HUGE_PAGE * HUGE_PAGE;
    if whole > 0 {
        // SAFETY: `madvise` reads and writes no memory of ours; the range is page-aligned
        // (a huge page's alignment) and inside one allocation of ours.
        unsafe { libc::madvise(ptr.as_ptr().cast(), whole, libc::MADV_HUGEPAGE) };
    }
}

/// Elsewhere there is no advice to give.
#[cfg(not(all(target_os = "linux", not(miri))))]
fn advise_huge_pages(_: NonNull<u8>, _: usize) {}

/// A boxed `[T; N]` with every element `value`, built on the heap.
pub fn boxed_array<T: Clone, const N: usize>(value: T) -> Box<[T; N]> {
    let boxed: Box<[T]> = vec![value; N].into_boxed_slice();
    match boxed.try_into() {
        Ok(array) => array,
        Err(_) => unreachable!("a Vec of N elements always converts to [T; N]"),
    }
}

/// Copies `rows` onto the heap as a `Box<[[f32; D]; N]>`, the output type of `forward`.
pub fn boxed_rows<const D: usize, const N: usize>(rows: &[[f32; D]; N]) -> Box<[[f32; D]; N]> {
    let boxed: Box<[[f32; D]]> = rows.as_slice().into();
    match boxed.try_into() {
        Ok(array) => array,
        Err(_) => unreachable!("a slice copied from [_; N] has N elements"),
    }
}

/// The first `len` numbers of a working buffer, growing it (with zeros) if it is too short:
/// after the first call of a size, no allocation.
pub fn grown(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

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
    fn a_matrix_is_aligned_for_streaming() {
        let small = Matrix::<3, 5>::zeroed();
        assert_eq!(small.as_ptr().addr() % 64, 0);
        let large = Matrix::<1024, 640>::zeroed();
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
        assert!(m.is_empty());
        assert_eq!(m.clone(), m);
        let m = Matrix::<4, 0>::zeroed();
        assert_eq!(m.len(), 4);
    }

    /// The advice reaches the kernel: the mapping holding a matrix of two huge pages and a
    /// bit is marked for huge pages (`hg` in its VmFlags), which is what the kernel allocates
    /// by; whether it finds free huge pages at that moment is the machine's business.
    #[test]
    #[cfg(all(target_os = "linux", not(miri)))]
    fn a_matrix_of_whole_huge_pages_is_advised_to_use_them() {
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
        if thp.is_err() {
            // A kernel without transparent huge pages: `madvise` refuses, by design.
            return;
        }
        let m = Matrix::<1100, 1000>::zeroed();
        let at = m.as_ptr().addr();
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
        let mut inside = false;
        let mut flags = None;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((from, to)) = range.split_once('-')
                && let (Ok(from), Ok(to)) = (
                    usize::from_str_radix(from, 16),
                    usize::from_str_radix(to, 16),
                )
            {
                inside = (from..to).contains(&at);
            } else if inside && let Some(vm_flags) = line.strip_prefix("VmFlags:") {
                flags = Some(vm_flags.to_owned());
            }
        }
        let flags = flags.expect("the matrix's mapping in /proc/self/smaps");
        assert!(
            flags.split_whitespace().any(|f| f == "hg"),
            "VmFlags:{flags}"
        );
    }

    #[test]
    fn boxed_rows_copies_every_row() {
        let rows = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        assert_eq!(*boxed_rows(&rows), rows);
    }
}
