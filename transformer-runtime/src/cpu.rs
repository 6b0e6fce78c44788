//! The one place where the kernels' instruction set is chosen, and what else the kernels
//! need to know about the CPU (its L2 size).
//!
//! Every routine with vectorised code (products, transposes, softmax and `exp`, GELU and
//! `tanh`, LayerNorm, the attention core) asks [`level`] which code to run, so a process runs
//! one level throughout. By default that is the widest level the CPU has;
//! `TRANSFORMER_KERNEL=avx512|avx2|portable` forces one the CPU supports, to compare levels
//! or to test the narrower ones on a wide CPU. A level the CPU lacks, or a value that names
//! no level, is an error, never a silent fallback: [`try_level`] returns it as a value
//! (call it at start-up to report it your way), and the kernels, which cannot return
//! errors, panic with the same message the first time they run.
//!
//! | level | runs on | products |
//! |---|---|---|
//! | `avx512` | x86-64 with AVX-512F, AVX2 and FMA (Intel Skylake-SP and later servers, AMD Zen 4 and later) | 16 outputs × 16 tokens, zmm |
//! | `avx2` | x86-64 with AVX2 and FMA (Intel since Haswell, AMD since Zen 1) | 6 outputs × 16 tokens, ymm |
//! | `portable` | every CPU (aarch64, older x86-64) | plain Rust the compiler vectorises |

use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable that forces a level.
pub const ENV: &str = "TRANSFORMER_KERNEL";

/// An instruction-set level of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// AVX-512F, on x86-64 (with AVX2 and FMA, which every AVX-512 CPU has and some of the
    /// level's routines also use).
    Avx512,
    /// AVX2 with FMA, on x86-64.
    Avx2,
    /// Plain Rust, vectorised by the compiler for the target's baseline: every CPU.
    Portable,
}

impl Level {
    /// Every level, widest first.
    pub const ALL: [Level; 3] = [Level::Avx512, Level::Avx2, Level::Portable];

    /// The level's name, as `TRANSFORMER_KERNEL` takes it: `avx512`, `avx2` or `portable`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Avx512 => "avx512",
            Level::Avx2 => "avx2",
            Level::Portable => "portable",
        }
    }

    /// Whether this CPU can run the level's code.
    pub fn is_supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            // Every AVX-512 CPU has AVX2 and FMA, which the level's code also runs.
            Level::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            Level::Portable => true,
            #[cfg(not(target_arch = "x86_64"))]
            Level::Avx512 | Level::Avx2 => false,
        }
    }

    /// The CPU features the level needs, as a person would name them.
    fn features(self) -> &'static str {
        match self {
            Level::Avx512 => "AVX-512F, AVX2 and FMA",
            Level::Avx2 => "AVX2 and FMA",
            Level::Portable => "nothing",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every level this CPU runs, widest first (`portable` always last).
pub fn supported() -> Vec<Level> {
    Level::ALL
        .into_iter()
        .filter(|l| l.is_supported())
        .collect()
}

/// Why `TRANSFORMER_KERNEL` cannot be obeyed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LevelError {
    /// The value names a level this CPU lacks the features of.
    Unsupported(Level),
    /// The value names no level (or is not UTF-8).
    Unknown(String),
}

impl fmt::Display for LevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runs: Vec<&str> = supported().into_iter().map(Level::name).collect();
        match self {
            LevelError::Unsupported(level) => write!(
                f,
                "{ENV}={level} needs {}, which this CPU lacks\n\
                 help: this CPU runs {}; set one of them, or unset {ENV} for the widest",
                level.features(),
                runs.join(", "),
            ),
            LevelError::Unknown(value) => write!(
                f,
                "{ENV}={value:?} names no kernel level\n\
                 help: use avx512, avx2 or portable (this CPU runs {}), or unset {ENV}",
                runs.join(", "),
            ),
        }
    }
}

impl std::error::Error for LevelError {}

/// The level every kernel of this process runs: `TRANSFORMER_KERNEL` if it is set (and not
/// empty), else the widest level the CPU supports. Read once per process.
pub fn try_level() -> Result<Level, LevelError> {
    static CHOSEN: OnceLock<Result<Level, LevelError>> = OnceLock::new();
    CHOSEN
        .get_or_init(|| choose(std::env::var_os(ENV).as_deref()))
        .clone()
}

/// The level for a `TRANSFORMER_KERNEL` value (`None`: unset).
fn choose(forced: Option<&std::ffi::OsStr>) -> Result<Level, LevelError> {
    let Some(value) = forced.filter(|v| !v.is_empty()) else {
        return Ok(supported()[0]);
    };
    let name = value
        .to_str()
        .ok_or_else(|| LevelError::Unknown(value.to_string_lossy().into_owned()))?;
    let level = Level::ALL
        .into_iter()
        .find(|l| l.name().eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| LevelError::Unknown(name.to_owned()))?;
    if level.is_supported() {
        Ok(level)
    } else {
        Err(LevelError::Unsupported(level))
    }
}

thread_local! {
    /// How often this thread's kernels asked for each level (see [`dispatches`]).
    static DISPATCHES: Cell<[u64; 3]> = const { Cell::new([0; 3]) };
}

/// The level to run now: [`try_level`]'s, counted for [`dispatches`].
///
/// # Panics
///
/// If `TRANSFORMER_KERNEL` cannot be obeyed, with [`LevelError`]'s message: a kernel has no
/// way to return the error, and running another level than the one asked for would be the
/// silent fallback this module exists to prevent.
pub fn level() -> Level {
    // Kernels ask on every call: after the first, one relaxed load, not the OnceLock and a
    // clone of its Result.
    static KNOWN: AtomicUsize = AtomicUsize::new(usize::MAX);
    let level = match Level::ALL.get(KNOWN.load(Ordering::Relaxed)) {
        Some(&level) => level,
        None => {
            let level = try_level().unwrap_or_else(|e| panic!("{e}"));
            KNOWN.store(level.index(), Ordering::Relaxed);
            level
        }
    };
    DISPATCHES.with(|d| {
        let mut counts = d.get();
        counts[level.index()] += 1;
        d.set(counts);
    });
    level
}

/// How many times the kernels run on this thread asked [`level`] for each level, in the
/// order of [`Level::ALL`]. A test's proof that a forced level is the only one that ran.
#[doc(hidden)]
pub fn dispatches() -> [u64; 3] {
    DISPATCHES.with(Cell::get)
}

/// The size of one core's L2 cache in bytes, which sets how many tokens a product keeps hot
/// at a time: the CPU's own answer (CPUID on x86-64), else 512 KiB.
pub(crate) fn l2_bytes() -> usize {
    static L2: OnceLock<usize> = OnceLock::new();
    *L2.get_or_init(|| read_l2_kib().map_or(512 * 1024, |kib| kib * 1024))
}

/// L2 size in KiB from CPUID leaf 0x8000_0006 (ECX bits 31..16), which AMD and Intel both
/// report; `None` where the leaf is missing or says 0.
#[cfg(target_arch = "x86_64")]
fn read_l2_kib() -> Option<usize> {
    use std::arch::x86_64::__cpuid;
    const LEAF: u32 = 0x8000_0006;
    // Leaf 0x8000_0000 reports the highest extended leaf; LEAF is asked only if it is there.
    if __cpuid(0x8000_0000).eax < LEAF {
        return None;
    }
    let kib = (__cpuid(LEAF).ecx >> 16) as usize;
    (kib > 0).then_some(kib)
}

#[cfg(not(target_arch = "x86_64"))]
fn read_l2_kib() -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn unset_or_empty_means_the_widest_supported_level() {
        assert_eq!(choose(None), Ok(supported()[0]));
        assert_eq!(choose(Some(OsStr::new(""))), Ok(supported()[0]));
        assert_eq!(supported().last(), Some(&Level::Portable));
    }

    #[test]
    fn a_named_level_is_obeyed_or_refused() {
        for level in Level::ALL {
            let got = choose(Some(OsStr::new(level.name())));
            if level.is_supported() {
                assert_eq!(got, Ok(level));
            } else {
                assert_eq!(got, Err(LevelError::Unsupported(level)));
                let message = got.unwrap_err().to_string();
                assert!(message.contains(level.features()), "{message}");
                assert!(message.contains("help: this CPU runs"), "{message}");
            }
        }
        assert_eq!(
            choose(Some(OsStr::new("AVX2 "))).is_ok(),
            Level::Avx2.is_supported()
        );
    }

    #[test]
    fn an_unknown_value_is_an_error_naming_the_choices() {
        let err = choose(Some(OsStr::new("sse9"))).unwrap_err();
        assert_eq!(err, LevelError::Unknown("sse9".into()));
        let message = err.to_string();
        assert!(
            message.starts_with("TRANSFORMER_KERNEL=\"sse9\" names no kernel level"),
            "{message}"
        );
        assert!(message.contains("avx512, avx2 or portable"), "{message}");
    }

    #[test]
    fn level_counts_what_it_hands_out() {
        let before = dispatches();
        let level = level();
        let after = dispatches();
        assert_eq!(after[level.index()], before[level.index()] + 1);
    }

    /// The counts of [`dispatches`] prove only what asks [`level`]: no other source file may
    /// detect CPU features on its own.
    #[test]
    fn no_other_module_detects_cpu_features() {
        fn visit(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    visit(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("cpu.rs")
                    && std::fs::read_to_string(&path)
                        .unwrap()
                        .contains(concat!("is_x86_feature", "_detected"))
                {
                    found.push(path.display().to_string());
                }
            }
        }
        let mut found = Vec::new();
        visit(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(
            found.is_empty(),
            "feature detection outside cpu.rs: {found:?}"
        );
    }

    #[test]
    fn the_l2_size_is_plausible() {
        let l2 = l2_bytes();
        assert!((64 * 1024..=64 * 1024 * 1024).contains(&l2), "{l2}");
    }
}
