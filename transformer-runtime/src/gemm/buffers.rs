//! The product kernels' working buffers, one set per thread: the transposed tokens, the
//! packed weight panel and the token panels. Each grows to the largest product its thread
//! has run and is then reused, so that products allocate nothing once warm; [`reserve`]
//! grows them ahead of time, on every thread a product may use.

use std::cell::RefCell;
use std::sync::{Mutex, PoisonError};

use super::TOKEN_PAD;
use super::kernels::Kernel;

thread_local! {
    /// `xt`, the transposed activations; grows to the largest call and is then reused.
    pub(super) static TRANSPOSED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The weight rows of the current tile, packed `[k][MR]`; reused likewise.
    pub(super) static PANEL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// `xt` packed in blocks of 16 tokens, for kernels that read it so; reused likewise.
    pub(super) static TOKEN_PANELS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Grows the product buffers of the calling thread, and of every worker a product may hand a
/// part to, to what products of up to `n` tokens over up to `k` inputs need, so that later
/// ones of at most that size allocate nothing. Which thread runs which part of a product
/// depends on timing, so a forward pass can meet a part on a thread that has not run one as
/// large before: [`Scratch`](crate::Scratch) calls this when it is made.
///
/// The workers are woken only when they may lack the room (waking them costs as much as a
/// small model's whole forward pass, whose plain `forward` makes a scratch per call): a
/// process-wide mark records what they all hold already.
pub(crate) fn reserve(k: usize, n: usize) {
    let need = Reserved::of(k, n);
    need.grow_here();
    if need.threads <= 1 {
        return;
    }
    let mut done = WORKERS_RESERVED
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if need.within(*done) {
        return;
    }
    // Buffers only grow, and worker `i` runs part `i + 1` of every split: after this, the
    // first `need.threads − 1` workers hold at least `need`.
    if crate::threads::on_every_thread(&|| need.grow_here()) && need.threads >= done.threads {
        *done = need;
    }
}

/// Product buffers of `threads` threads: each thread's token panels and weight panel hold at
/// least `tokens` and `panel` numbers.
#[derive(Clone, Copy, Debug)]
struct Reserved {
    threads: usize,
    tokens: usize,
    panel: usize,
}

/// What every worker holds, as far as [`reserve`] knows: a lower bound.
static WORKERS_RESERVED: Mutex<Reserved> = Mutex::new(Reserved {
    threads: 0,
    tokens: 0,
    panel: 0,
});

impl Reserved {
    /// What products of up to `n` tokens over up to `k` inputs need on each of the threads
    /// kernels may use.
    fn of(k: usize, n: usize) -> Self {
        // Only kernels that read packed tokens use token panels (and a level that cannot be
        // obeyed is the kernels' error to report, not this function's).
        let packs = crate::cpu::try_level().is_ok_and(|level| Kernel::of(level).packs_tokens());
        Self {
            threads: crate::threads::get(),
            tokens: if packs {
                n.next_multiple_of(TOKEN_PAD) * k + TOKEN_PAD
            } else {
                0
            },
            // Room for the widest tile's rows (the AVX-512 tile's 16), whichever kernel runs.
            panel: k * 16,
        }
    }

    /// Whether `done` covers this.
    fn within(self, done: Self) -> bool {
        self.threads <= done.threads && self.tokens <= done.tokens && self.panel <= done.panel
    }

    /// Grows the calling thread's buffers to this.
    fn grow_here(self) {
        if self.tokens > 0 {
            TOKEN_PANELS.with_borrow_mut(|panels| {
                crate::heap::grown(panels, self.tokens);
            });
        }
        PANEL.with_borrow_mut(|panel| {
            crate::heap::grown(panel, self.panel);
        });
    }
}
