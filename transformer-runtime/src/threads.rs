//! How many threads the kernels may use: one knob for the whole process.
//!
//! Defaults to `$TRANSFORMER_THREADS` if set, else the number of CPUs the process may run
//! on; a `TRANSFORMER_THREADS` that is not a whole number of at least 1 is an error
//! ([`try_get`] returns it, [`get`] panics with it), never ignored. Kernels split work only when there is enough of it to pay for handing it to another
//! thread, so a small model stays on the calling thread whatever the setting.
//!
//! The threads are this module's own small pool rather than a general scheduler's: a forward
//! pass hands out a few dozen parts, each some tens of microseconds of work, so what counts
//! is how fast an idle worker picks up a part (it spins on an atomic counter for a while
//! instead of sleeping at once) and that handing it over allocates nothing.

use std::ffi::OsString;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The environment variable that sets the default thread count.
pub const ENV: &str = "TRANSFORMER_THREADS";

/// `TRANSFORMER_THREADS` is set to something else than a whole number of at least 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadsError {
    /// The value as set (lossily decoded if it is not UTF-8).
    pub value: String,
}

impl fmt::Display for ThreadsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ENV}={:?} is not a thread count\n\
             help: set a whole number of at least 1, or unset {ENV} for one thread per CPU",
            self.value
        )
    }
}

impl std::error::Error for ThreadsError {}

/// 0 means "not chosen yet".
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Uses at most `n` threads from now on (0 restores the default).
pub fn set(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// The number of threads kernels may use, at least 1.
///
/// # Panics
///
/// If no count was [`set`] and `TRANSFORMER_THREADS` is not a thread count, with
/// [`ThreadsError`]'s message: call [`try_get`] at start-up to report it as an error.
pub fn get() -> usize {
    try_get().unwrap_or_else(|e| panic!("{e}"))
}

/// [`get`], or why `TRANSFORMER_THREADS` cannot be obeyed.
///
/// # Errors
///
/// [`ThreadsError`] if no count was [`set`] and `TRANSFORMER_THREADS` is set to something
/// else than a whole number of at least 1.
pub fn try_get() -> Result<usize, ThreadsError> {
    match THREADS.load(Ordering::Relaxed) {
        0 => default_threads(),
        n => Ok(n),
    }
}

/// Calls `f(i, &mut items[i])` for every item, the items split into up to [`get`]
/// consecutive runs, one per thread, and returns when all are done. Allocation-free.
#[cfg(test)]
fn for_each_mut<T: Send>(items: &mut [T], f: &(impl Fn(usize, &mut T) + Sync)) {
    let parts = get().min(items.len());
    in_parts(items, parts, &|offset, run| {
        for (i, item) in run.iter_mut().enumerate() {
            f(offset + i, item);
        }
    });
}

/// Calls `f` once on each thread that kernels may use (the caller and up to [`get`] − 1
/// workers, started if need be), and returns when all are done: for thread-local state
/// every part of a later job may need. `false` if the workers' calls ran on the caller's
/// thread instead (the pool was busy with another caller's job, or a worker could not be
/// started).
pub(crate) fn on_every_thread(f: &(impl Fn() + Sync)) -> bool {
    pool::run(get(), &|_| f())
}

/// Calls `f` on consecutive pieces of `items`, split between up to [`get`] threads when
/// there are more than `grain` items (pieces never shrink below `grain`); allocation-free.
pub(crate) fn for_each_piece<T: Send>(
    items: &mut [T],
    grain: usize,
    f: &(impl Fn(&mut [T]) + Sync),
) {
    let parts = get().min(items.len() / grain.max(1)).max(1);
    in_parts(items, parts, &|_, piece| f(piece));
}

/// [`for_each_piece`] that also tells `f` where its piece starts: `f(offset, piece)`.
pub(crate) fn for_each_piece_at<T: Send>(
    items: &mut [T],
    grain: usize,
    f: &(impl Fn(usize, &mut [T]) + Sync),
) {
    let parts = get().min(items.len() / grain.max(1)).max(1);
    in_parts(items, parts, f);
}

/// Calls `f(&mut slots[s], i, &mut items[i])` for every item, on up to `slots.len()` threads
/// (each with a slot of its own, e.g. its scratch memory), and returns when all are done.
///
/// Each thread starts on a run of consecutive items, as [`for_each_mut`] splits them, and
/// works through it in order; a thread whose run is done takes items from the far end of
/// another's. Work spreads evenly when items cost different amounts or a thread is slowed
/// by something else on its core, where fixed runs would leave the others waiting, and
/// while nobody is slowed each thread still sees its items in order. Allocation-free.
pub(crate) fn for_each_claimed<S: Send, T: Send>(
    slots: &mut [S],
    items: &mut [T],
    f: &(impl Fn(&mut S, usize, &mut T) + Sync),
) {
    for_each_chunk_claimed(slots, items, 1, &|slot, i, item| f(slot, i, &mut item[0]));
}

/// [`for_each_claimed`] over the chunks of `items` (`items.chunks_mut(chunk)`): calls
/// `f(&mut slots[s], i, chunk_i)` for every chunk.
pub(crate) fn for_each_chunk_claimed<S: Send, T: Send>(
    slots: &mut [S],
    items: &mut [T],
    chunk: usize,
    f: &(impl Fn(&mut S, usize, &mut [T]) + Sync),
) {
    assert!(chunk > 0, "for_each_chunk_claimed: chunks of 0 items");
    let (len, count) = (items.len(), items.len().div_ceil(chunk));
    assert!(
        !slots.is_empty() || count == 0,
        "for_each_claimed: items but no slot to run them in"
    );
    let parts = slots.len().min(count).min(MAX_PARTS);
    if parts <= 1 {
        for (i, items) in items.chunks_mut(chunk).enumerate() {
            f(&mut slots[0], i, items);
        }
        return;
    }
    let runs = Runs::new(count, parts);
    let (slots, items) = (SendPtr(slots.as_mut_ptr()), SendPtr(items.as_mut_ptr()));
    pool::run(parts, &|part| {
        // SAFETY: each part is run once, so slot `part < slots.len()` has one user.
        let slot = unsafe { &mut *slots.at(part) };
        while let Some(i) = runs.claim(part) {
            let (start, end) = (i * chunk, ((i + 1) * chunk).min(len));
            // SAFETY: `claim` hands out each chunk `i < count` once, chunks are disjoint runs
            // of `items`, and `items` stays borrowed until `pool::run` returns, after every
            // part.
            let run = unsafe { std::slice::from_raw_parts_mut(items.at(start), end - start) };
            f(slot, i, run);
        }
    });
}

/// The most threads [`for_each_claimed`] splits between.
const MAX_PARTS: usize = pool::MAX_WORKERS + 1;

/// The items `0..count` split into runs, one per part; each run `[front, back)` is one atomic
/// word, so that its owner (from the front) and others (from the back) never take the same
/// item.
struct Runs {
    runs: [AtomicU64; MAX_PARTS],
    parts: usize,
}

impl Runs {
    fn new(count: usize, parts: usize) -> Self {
        assert!(
            u32::try_from(count).is_ok(),
            "for_each_claimed: more than 2³² items"
        );
        let runs = std::array::from_fn(|p| {
            // Runs past `parts` are empty; the others within `count`, so they fit a u32.
            let (front, back) = if p < parts {
                run_bounds(p, count, parts)
            } else {
                (0, 0)
            };
            AtomicU64::new(Self::pack(front as u32, back as u32))
        });
        Self { runs, parts }
    }

    fn pack(front: u32, back: u32) -> u64 {
        (u64::from(front) << 32) | u64::from(back)
    }

    /// The next item for `part`: the front of its own run, else the back of another's.
    fn claim(&self, part: usize) -> Option<usize> {
        let own = self.take(part, true);
        own.or_else(|| (1..self.parts).find_map(|d| self.take((part + d) % self.parts, false)))
    }

    /// Takes the front (or back) item of run `r`, if it has one left.
    fn take(&self, r: usize, front_end: bool) -> Option<usize> {
        let run = &self.runs[r];
        let mut word = run.load(Ordering::Acquire);
        loop {
            let (front, back) = ((word >> 32) as u32, word as u32);
            if front >= back {
                return None;
            }
            let (taken, next) = if front_end {
                (front, Self::pack(front + 1, back))
            } else {
                (back - 1, Self::pack(front, back - 1))
            };
            match run.compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(taken as usize),
                Err(now) => word = now,
            }
        }
    }
}

/// Splits `items` into `parts` consecutive runs of nearly equal length and calls
/// `f(offset, run)` on each, in parallel on the [`pool`] threads.
fn in_parts<T: Send>(items: &mut [T], parts: usize, f: &(impl Fn(usize, &mut [T]) + Sync)) {
    let len = items.len();
    if parts <= 1 {
        return f(0, items);
    }
    let base = SendPtr(items.as_mut_ptr());
    pool::run(parts, &|part| {
        let (start, end) = run_bounds(part, len, parts);
        // SAFETY: parts `0..parts` cover `0..len` in disjoint runs, each handed to exactly
        // one call, and `items` stays borrowed until `pool::run` returns, after every call.
        let run = unsafe { std::slice::from_raw_parts_mut(base.at(start), end - start) };
        f(start, run);
    });
}

/// Part `part` of `len` items split into `parts` consecutive runs of nearly equal length:
/// its `(start, end)`. The runs of `0..parts` cover `0..len`, each item once. (In 64 bits:
/// `part · len` must not overflow where `usize` is narrower.)
fn run_bounds(part: usize, len: usize, parts: usize) -> (usize, usize) {
    let bound = |p: usize| (p as u64 * len as u64 / parts as u64) as usize;
    (bound(part), bound(part + 1))
}

/// A pointer into a slice whose disjoint runs are handed to different threads.
struct SendPtr<T>(*mut T);

impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SendPtr<T> {}

// SAFETY: only used by `in_parts` and `for_each_claimed`, which give each thread its own
// items (`T: Send`).
unsafe impl<T: Send> Send for SendPtr<T> {}
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer to item `i`: a method, so that closures capture the whole `SendPtr`.
    fn at(self, i: usize) -> *mut T {
        self.0.wrapping_add(i)
    }
}

/// The worker threads: spawned on first use, then kept, each spinning for a while after its
/// last job (so the next product finds it awake, with no system call) before it sleeps.
///
/// One caller at a time uses the pool; a call that finds it busy (another thread's forward
/// pass, or a job that itself splits work) runs its parts on its own thread, one after
/// another, with the same results.
mod pool {
    use std::cell::UnsafeCell;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    /// How long an idle worker spins before it sleeps: longer than the serial steps between
    /// two products of a forward pass, far shorter than a pause between requests.
    const SPIN: Duration = Duration::from_micros(500);

    /// The most workers: the threads of the largest split, less the caller.
    pub(super) const MAX_WORKERS: usize = 63;

    /// A job as workers see it: part `i` of a split. The lifetime is erased; see `run`.
    type Job = *const (dyn Fn(usize) + Sync + 'static);

    struct Worker {
        /// Jobs posted so far; the worker runs one each time this moves.
        posted: AtomicUsize,
        /// Jobs finished so far; equal to `posted` when the worker is idle.
        finished: AtomicUsize,
        /// The current job and its part; written only while the worker is idle.
        job: UnsafeCell<Option<(Job, usize)>>,
        /// Set while the worker sleeps (or is about to), so that a poster wakes it.
        sleeping: AtomicBool,
        /// Set if a job panicked; the caller re-raises the panic.
        panicked: AtomicBool,
        thread: OnceLock<std::thread::Thread>,
    }

    // SAFETY: `job` is written by the one caller holding `BUSY`, only while the worker is
    // idle (`finished == posted`), and published by the release increment of `posted`; the
    // worker reads it after the acquire load that sees that increment. Everything else is
    // atomic or set once.
    unsafe impl Sync for Worker {}
    // SAFETY: as for `Sync`: the job pointer is only dereferenced while its caller waits.
    unsafe impl Send for Worker {}

    static WORKERS: [OnceLock<Worker>; MAX_WORKERS] = [const { OnceLock::new() }; MAX_WORKERS];
    static BUSY: AtomicBool = AtomicBool::new(false);

    /// The worker in slot `i`, spawned on first use; `None` if the thread cannot be spawned.
    fn worker(i: usize) -> Option<&'static Worker> {
        let worker = WORKERS[i].get_or_init(|| Worker {
            posted: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            job: UnsafeCell::new(None),
            sleeping: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            thread: OnceLock::new(),
        });
        if worker.thread.get().is_none() {
            let spawned = std::thread::Builder::new()
                .name(format!("transformer-{}", i + 1))
                .spawn(move || serve(worker))
                .ok()?;
            let _ = worker.thread.set(spawned.thread().clone());
        }
        Some(worker)
    }

    /// A worker's life: wait for a job, run it, say so, again.
    fn serve(worker: &'static Worker) {
        let mut seen = 0;
        loop {
            let started = Instant::now();
            let mut spins = 0u32;
            while worker.posted.load(Ordering::Acquire) == seen {
                spins = spins.wrapping_add(1);
                if !spins.is_multiple_of(256) || started.elapsed() < SPIN {
                    std::hint::spin_loop();
                    continue;
                }
                worker.sleeping.store(true, Ordering::SeqCst);
                if worker.posted.load(Ordering::SeqCst) == seen {
                    std::thread::park();
                }
                worker.sleeping.store(false, Ordering::SeqCst);
            }
            seen = worker.posted.load(Ordering::Acquire);
            // SAFETY: the poster wrote `job` before the increment just seen, and waits for
            // `finished` to catch up before the job's closure goes out of scope.
            if let Some((job, part)) = unsafe { *worker.job.get() } {
                let job = unsafe { &*job };
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(part)));
                if ran.is_err() {
                    worker.panicked.store(true, Ordering::Relaxed);
                }
            }
            worker.finished.store(seen, Ordering::Release);
        }
    }

    /// Waits, when dropped (also while unwinding), until the workers in slots `..helpers`
    /// are done with the job they were given, then frees the pool.
    struct Joined {
        helpers: usize,
    }

    /// The workers in slots `..helpers` that exist.
    fn workers(helpers: usize) -> impl Iterator<Item = &'static Worker> {
        WORKERS[..helpers].iter().filter_map(OnceLock::get)
    }

    impl Drop for Joined {
        fn drop(&mut self) {
            for worker in workers(self.helpers) {
                // Only this caller posts, so `posted` is the count it last wrote.
                let target = worker.posted.load(Ordering::Relaxed);
                let mut spins = 0u32;
                while worker.finished.load(Ordering::Acquire) != target {
                    spins = spins.wrapping_add(1);
                    if spins.is_multiple_of(1024) {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
                if std::thread::panicking() {
                    // The caller's own part failed and is being raised: the workers' news
                    // is stale by the next job.
                    worker.panicked.store(false, Ordering::Relaxed);
                }
            }
            BUSY.store(false, Ordering::Release);
        }
    }

    /// Runs `job(0)`, …, `job(parts − 1)`, part 0 on this thread and the others on workers
    /// (parts past the last worker, or whose worker could not be spawned, run here too), and
    /// returns when all are done. A panic in any part is raised here, after all are done.
    /// Returns whether every part after the first ran on a worker of its own.
    pub fn run(parts: usize, job: &(dyn Fn(usize) + Sync)) -> bool {
        let helpers = parts.saturating_sub(1).min(MAX_WORKERS);
        if helpers == 0 || BUSY.swap(true, Ordering::Acquire) {
            (0..parts).for_each(job);
            return parts <= 1;
        }
        let mut on_workers = helpers + 1 == parts;
        // From here on, however this function is left, `joined` waits for every worker it
        // counts before the job (borrowed from the caller's frame) can go away.
        let mut joined = Joined { helpers: 0 };
        // SAFETY: the lifetime is erased only for the workers, and `joined` waits until they
        // are all done with the job.
        let erased: Job =
            unsafe { std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), Job>(job) };
        for part in 1..=helpers {
            joined.helpers = part;
            match worker(part - 1) {
                Some(worker) => {
                    // SAFETY: this caller holds `BUSY`, and the worker is idle: every earlier
                    // job was joined before `BUSY` was released.
                    unsafe { *worker.job.get() = Some((erased, part)) };
                    worker.posted.fetch_add(1, Ordering::SeqCst);
                    if worker.sleeping.load(Ordering::SeqCst)
                        && let Some(thread) = worker.thread.get()
                    {
                        thread.unpark();
                    }
                }
                // No thread for this part: run it here.
                None => {
                    on_workers = false;
                    job(part);
                }
            }
        }
        job(0);
        // More parts than workers: the rest run here too.
        (helpers + 1..parts).for_each(job);
        let helpers = joined.helpers;
        drop(joined);
        // Every flag is read and cleared, so none is left for the next job.
        let mut panicked = false;
        for worker in workers(helpers) {
            panicked |= worker.panicked.swap(false, Ordering::Relaxed);
        }
        if panicked {
            panic!("a part of a parallel step panicked on a worker thread");
        }
        on_workers
    }
}

/// `$TRANSFORMER_THREADS`, else the CPUs available; read once (reading the environment
/// allocates, and a forward pass must not).
fn default_threads() -> Result<usize, ThreadsError> {
    static DEFAULT: std::sync::OnceLock<Result<usize, ThreadsError>> = std::sync::OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            let cpus = || std::thread::available_parallelism().map_or(1, usize::from);
            Ok(parse_threads(std::env::var_os(ENV))?.unwrap_or_else(cpus))
        })
        .clone()
}

/// The count `TRANSFORMER_THREADS` sets, if it is set.
fn parse_threads(value: Option<OsString>) -> Result<Option<usize>, ThreadsError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let error = || ThreadsError {
        value: value.to_string_lossy().into_owned(),
    };
    let text = value.to_str().ok_or_else(error)?;
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_sets_a_count_or_is_an_error_naming_it() {
        assert_eq!(parse_threads(None), Ok(None));
        assert_eq!(parse_threads(Some(" 3 ".into())), Ok(Some(3)));
        for bad in ["0", "-1", "two", "", "1.5"] {
            let err = parse_threads(Some(bad.into())).unwrap_err();
            assert_eq!(err.value, bad);
            assert!(err.to_string().contains("is not a thread count"), "{err}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            assert!(parse_threads(Some(OsString::from_vec(vec![0xff]))).is_err());
        }
    }

    #[test]
    fn for_each_mut_visits_every_item_once_with_its_index() {
        let mut items = vec![0usize; 7];
        for_each_mut(&mut items, &|i, item| *item += i + 1);
        assert_eq!(items, [1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn for_each_claimed_visits_every_item_once_and_each_slot_from_one_thread() {
        for slots in [1, 2, 3, 9] {
            let mut used = vec![(None::<std::thread::ThreadId>, 0usize); slots];
            let mut items = vec![0usize; 50];
            for_each_claimed(&mut used, &mut items, &|(owner, count), i, item| {
                let me = std::thread::current().id();
                assert_eq!(
                    *owner.get_or_insert(me),
                    me,
                    "a slot shared between threads"
                );
                *count += 1;
                *item += i + 1;
                // Uneven items: later ones take longer.
                std::hint::black_box((0..i * 100).sum::<usize>());
            });
            assert_eq!(items, (1..=50).collect::<Vec<_>>());
            assert_eq!(used.iter().map(|u| u.1).sum::<usize>(), 50);
        }
        let mut nothing: [u8; 0] = [];
        for_each_claimed(&mut [(); 2], &mut nothing, &|_, _, _| unreachable!());
    }

    #[test]
    fn runs_hand_out_every_item_once_to_owners_and_thieves_racing() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        for (count, parts) in [(5000, 4), (3, 3), (10, 7), (1, 2)] {
            let runs = Runs::new(count, parts);
            let seen: Vec<AtomicUsize> = (0..count).map(|_| AtomicUsize::new(0)).collect();
            std::thread::scope(|scope| {
                for part in 0..parts {
                    let (runs, seen) = (&runs, &seen);
                    scope.spawn(move || {
                        while let Some(i) = runs.claim(part) {
                            seen[i].fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
            });
            assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn for_each_chunk_claimed_hands_out_every_chunk_once() {
        for (len, chunk) in [(10, 3), (9, 3), (1, 5), (64, 1)] {
            let mut items = vec![0usize; len];
            for_each_chunk_claimed(&mut [(); 2], &mut items, chunk, &|(), i, run| {
                assert_eq!(run.len(), chunk.min(len - i * chunk));
                run.iter_mut().for_each(|v| *v += i + 1);
            });
            let want: Vec<usize> = (0..len).map(|j| j / chunk + 1).collect();
            assert_eq!(items, want, "{len} items in chunks of {chunk}");
        }
    }

    #[test]
    fn for_each_piece_covers_every_item_once() {
        let mut items = vec![1u32; 1000];
        for_each_piece(&mut items, 10, &|piece| {
            piece.iter_mut().for_each(|v| *v += 1)
        });
        assert!(items.iter().all(|&v| v == 2));
    }

    /// The pool, driven directly: the thread count of other tests does not matter.
    #[test]
    fn every_part_runs_once_on_repeated_and_nested_splits() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        for parts in [2, 3, 8] {
            for _ in 0..200 {
                let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
                pool::run(parts, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            }
        }
        // A part that splits again finds the pool busy and runs its own parts in line, and
        // says so.
        let (total, in_line) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let on_workers = pool::run(2, &|_| {
            let on_workers = pool::run(3, &|j| {
                total.fetch_add(j + 1, Ordering::Relaxed);
            });
            in_line.fetch_add(usize::from(!on_workers), Ordering::Relaxed);
        });
        assert_eq!(total.load(Ordering::Relaxed), 2 * (1 + 2 + 3));
        // (Unless another test held the pool, and the outer split ran in line too.)
        if on_workers {
            assert_eq!(in_line.load(Ordering::Relaxed), 2);
        }
        // More parts than there can be workers: every part still runs, once, some in line.
        let parts = pool::MAX_WORKERS + 10;
        let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
        let on_workers = pool::run(parts, &|i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(!on_workers);
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
    }

    #[test]
    fn a_panicking_part_is_raised_by_the_caller_and_the_pool_recovers() {
        let caught = std::panic::catch_unwind(|| {
            pool::run(2, &|i| assert!(i == 0, "part {i} fails"));
        });
        assert!(caught.is_err());
        let caught = std::panic::catch_unwind(|| {
            pool::run(2, &|i| assert!(i == 1, "part {i} fails"));
        });
        assert!(caught.is_err());
        let mut items = vec![0u8; 64];
        in_parts(&mut items, 2, &|_, run| run.fill(1));
        assert!(items.iter().all(|&v| v == 1));
    }

    #[test]
    fn callers_on_several_threads_share_the_pool() {
        std::thread::scope(|scope| {
            for t in 0..4u32 {
                scope.spawn(move || {
                    for _ in 0..100 {
                        let mut items = vec![t; 1000];
                        in_parts(&mut items, 3, &|offset, run| {
                            for (i, v) in run.iter_mut().enumerate() {
                                *v += (offset + i) as u32;
                            }
                        });
                        assert!(items.iter().enumerate().all(|(i, &v)| v == t + i as u32));
                    }
                });
            }
        });
    }

    #[test]
    fn set_overrides_and_zero_restores_the_default() {
        set(3);
        assert_eq!(get(), 3);
        set(0);
        assert!(get() >= 1);
    }
}
