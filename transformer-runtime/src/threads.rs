//! How many threads the kernels may use: one knob for the whole process.
//!
//! Defaults to `$TRANSFORMER_THREADS` if set, else the number of CPUs the process may run
//! on. Kernels split work only when there is enough of it to pay for waking a thread, so a
//! small model stays on the calling thread whatever the setting.

use std::sync::atomic::{AtomicUsize, Ordering};

/// 0 means "not chosen yet".
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Uses at most `n` threads from now on (0 restores the default).
pub fn set(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// The number of threads kernels may use, at least 1.
pub fn get() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => default_threads(),
        n => n,
    }
}

/// Calls `f(i, &mut items[i])` for every item, the items split between threads, and
/// returns when all are done. Splits by recursive `rayon::join`, which allocates nothing
/// (a `rayon::scope` spawn boxes each job), so a forward pass stays allocation-free.
pub fn for_each_mut<T: Send>(items: &mut [T], f: &(impl Fn(usize, &mut T) + Sync)) {
    fn split<T: Send>(items: &mut [T], offset: usize, f: &(impl Fn(usize, &mut T) + Sync)) {
        match items.len() {
            0 => {}
            1 => f(offset, &mut items[0]),
            len => {
                let (left, right) = items.split_at_mut(len / 2);
                rayon::join(
                    || split(left, offset, f),
                    || split(right, offset + len / 2, f),
                );
            }
        }
    }
    split(items, 0, f);
}

/// `$TRANSFORMER_THREADS`, else the CPUs available; read once (reading the environment
/// allocates, and a forward pass must not).
/// Calls `f` on consecutive pieces of `items`, split between up to [`get`] threads when
/// there are more than `grain` items (pieces never shrink below `grain`); allocation-free.
pub fn for_each_piece<T: Send>(items: &mut [T], grain: usize, f: &(impl Fn(&mut [T]) + Sync)) {
    fn split<T: Send>(items: &mut [T], grain: usize, ways: usize, f: &(impl Fn(&mut [T]) + Sync)) {
        if ways <= 1 || items.len() < 2 * grain {
            return f(items);
        }
        let (left, right) = items.split_at_mut(items.len() / 2);
        rayon::join(
            || split(left, grain, ways / 2, f),
            || split(right, grain, ways - ways / 2, f),
        );
    }
    split(items, grain.max(1), get(), f);
}

fn default_threads() -> usize {
    static DEFAULT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *DEFAULT.get_or_init(read_default_threads)
}

fn read_default_threads() -> usize {
    std::env::var("TRANSFORMER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_each_mut_visits_every_item_once_with_its_index() {
        let mut items = vec![0usize; 7];
        for_each_mut(&mut items, &|i, item| *item += i + 1);
        assert_eq!(items, [1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn for_each_piece_covers_every_item_once() {
        let mut items = vec![1u32; 1000];
        for_each_piece(&mut items, 10, &|piece| {
            piece.iter_mut().for_each(|v| *v += 1)
        });
        assert!(items.iter().all(|&v| v == 2));
    }

    #[test]
    fn set_overrides_and_zero_restores_the_default() {
        set(3);
        assert_eq!(get(), 3);
        set(0);
        assert!(get() >= 1);
    }
}
