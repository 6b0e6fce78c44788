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

fn default_threads() -> usize {
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
    fn set_overrides_and_zero_restores_the_default() {
        set(3);
        assert_eq!(get(), 3);
        set(0);
        assert!(get() >= 1);
    }
}
