//! `exp` and `tanh` as branch-free polynomials, so loops over them vectorise (libm's are
//! calls, one element at a time), and [`for_each_vectorised`], which compiles such a loop
//! for the instruction-set level the process runs ([`cpu::level`]).
//!
//! Accuracy, checked in the tests against f64: `exp` within 2 ulp over its range, for both
//! ways of multiply-adding; `tanh` within 2e-7 absolute.
//!
//! The polynomials are written over a [`MulAdd`]: the vectorised loops, compiled for
//! instruction sets with FMA, use fused multiply-adds ([`Fused`]); the plain functions and
//! the baseline loop use a multiply and an add ([`Unfused`]), because without FMA in the
//! target `f32::mul_add` is a library call per element.

use crate::cpu::{self, Level};

/// How `a · b + c` is computed inside the polynomials.
pub trait MulAdd: Copy {
    /// `a · b + c`.
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// One rounding: an FMA instruction, for code compiled with FMA enabled.
#[derive(Clone, Copy, Debug)]
pub struct Fused;

/// A multiply, then an add: for code that must run without FMA.
#[derive(Clone, Copy, Debug)]
pub struct Unfused;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl MulAdd for Unfused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// `log₂ e`.
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split in two (Cody–Waite): `LN2_HI` has trailing zero bits, so `n · LN2_HI` is
/// exact for the `n` that occur, and `LN2_LO` carries the rest.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// Adding then subtracting `1.5 · 2²³` rounds an `f32` of magnitude below `2²²` to the
/// nearest integer, in plain arithmetic that vectorises everywhere.
const ROUND: f32 = 12_582_912.0;

/// `eˣ`. Below about `−87` (where `eˣ` nears the end of the normal range, 1.6e-38) the
/// result is 0, so a masked score of `−∞` gets weight exactly 0; NaN stays NaN.
#[cfg(test)]
fn exp(x: f32) -> f32 {
    exp_with::<Unfused>(x)
}

/// [`exp`] with its multiply-adds computed as `M` says.
#[inline(always)]
pub fn exp_with<M: MulAdd>(x: f32) -> f32 {
    /// `2 · eʳ` on `|r| ≤ ln 2 / 2` as a polynomial, coefficients of r⁶ down to r⁰: twice a
    /// near-minimax fit of `1 + r + c₂r² + … + c₆r⁶` (relative error 3.1e-9; from
    /// `tools/fit/exp.py`). Doubled, which is exact, so that the scale below can be `2ⁿ⁻¹`.
    const TWICE: [f32; 6] = [
        2.0 * 0.008_368_708,
        2.0 * 0.041_668_39,
        2.0 * 0.166_665_21,
        2.0 * 0.499_999_94,
        2.0,
        2.0,
    ];
    let clamped = x.clamp(-104.0, 88.722_83);
    // eˣ = 2ⁿ · eʳ with n = round(x / ln 2) and |r| ≤ ln 2 / 2. `shifted` is 1.5 · 2²³ + n,
    // whose low mantissa bits are n itself.
    let shifted = M::mul_add(clamped, LOG2_E, ROUND);
    let n = shifted - ROUND;
    let r = M::mul_add(-n, LN2_LO, M::mul_add(-n, LN2_HI, clamped));
    let mut p: f32 = 2.0 * 0.001_381_459_3;
    for c in TWICE {
        p = M::mul_add(p, r, c);
    }
    // 2ⁿ⁻¹ from its exponent bits n + 126, taken from `shifted`'s bits in integer arithmetic
    // (`n as i32` would be a saturating conversion, which compilers do lane by lane). n is at
    // most 128 after the clamp; at n ≤ −126 the bits are clamped to 0, which is the number 0:
    // eˣ below 2⁻¹²⁵·⁵ flushes to zero, `−∞` included. A NaN stays NaN through `p`.
    let exponent = (shifted.to_bits() as i32)
        .wrapping_sub(ROUND.to_bits() as i32)
        .wrapping_add(126)
        .max(0);
    p * f32::from_bits((exponent as u32) << 23)
}

/// `tanh(x) = 1 − 2 / (1 + e^(2x))`, saturating to ±1 without overflow.
#[cfg(test)]
fn tanh(x: f32) -> f32 {
    tanh_with::<Unfused>(x)
}

/// [`tanh`] with its multiply-adds computed as `M` says.
#[inline(always)]
pub fn tanh_with<M: MulAdd>(x: f32) -> f32 {
    1.0 - 2.0 / (1.0 + exp_with::<M>(2.0 * x))
}

/// A function applied element by element. A trait rather than a closure: its
/// `#[inline(always)]` method is inlined into the target-feature loops below, where a
/// closure's body is not (and the loop would then call it once per element).
pub trait Elementwise: Copy {
    /// The function, its multiply-adds computed as `M` says.
    fn apply<M: MulAdd>(self, x: f32) -> f32;
}

/// `eˣ⁻ᶜ` for a constant `c`: softmax's shifted exponential.
#[derive(Clone, Copy, Debug)]
pub struct ExpMinus(pub f32);

impl Elementwise for ExpMinus {
    #[inline(always)]
    fn apply<M: MulAdd>(self, x: f32) -> f32 {
        exp_with::<M>(x - self.0)
    }
}

/// `x · c` for a constant `c`.
#[derive(Clone, Copy, Debug)]
pub struct Scale(pub f32);

impl Elementwise for Scale {
    #[inline(always)]
    fn apply<M: MulAdd>(self, x: f32) -> f32 {
        x * self.0
    }
}

/// A whole loop nest to compile for the widest instruction set the CPU has: [`vectorised`]
/// inlines `run` into a function built with those features, so its inner loops vectorise
/// at that width and its helpers (`exp`, …) are inlined into them. One dispatch per call,
/// however many loops `run` holds.
pub trait Vectorise {
    /// The loops, their multiply-adds computed as `M` says. Implementations are
    /// `#[inline(always)]`.
    fn run<M: MulAdd>(self);
}

/// Runs `f` compiled for the level [`cpu::level`] names: AVX-512, AVX2 + FMA, or the
/// baseline instruction set.
#[inline(always)]
pub fn vectorised(f: impl Vectorise) {
    match cpu::level() {
        // SAFETY (both): `cpu::level` names a level only if the CPU has its features.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { x86::run_avx512(f) },
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { x86::run_avx2(f) },
        _ => f.run::<Unfused>(),
    }
}

/// Applies `f` to every element of `x`, compiled for the level [`cpu::level`] names (the
/// loop body is inlined into a function built with that level's features, so it
/// vectorises at that width).
#[inline(always)]
pub fn for_each_vectorised(x: &mut [f32], f: impl Elementwise) {
    let len = x.len();
    for_each_run_vectorised((x, (len, len)), f);
}

/// [`for_each_vectorised`] on the runs of `run` numbers that start every `stride` numbers of
/// `x` (the last may end early, with `x`): rows of a matrix, or blocks of panels, in one
/// dispatch.
#[inline(always)]
pub fn for_each_run_vectorised(runs: (&mut [f32], (usize, usize)), f: impl Elementwise) {
    match cpu::level() {
        // SAFETY (both): `cpu::level` names a level only if the CPU has its features.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { x86::map_avx512(runs, f) },
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { x86::map_avx2(runs, f) },
        _ => map::<Unfused>(runs, f),
    }
}

#[inline(always)]
fn map<M: MulAdd>((x, (run, stride)): (&mut [f32], (usize, usize)), f: impl Elementwise) {
    for chunk in x.chunks_mut(stride.max(1)) {
        let len = run.min(chunk.len());
        for v in &mut chunk[..len] {
            *v = f.apply::<M>(*v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    /// # Safety
    ///
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn map_avx512(runs: (&mut [f32], (usize, usize)), f: impl super::Elementwise) {
        super::map::<super::Fused>(runs, f);
    }

    /// # Safety
    ///
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn map_avx2(runs: (&mut [f32], (usize, usize)), f: impl super::Elementwise) {
        super::map::<super::Fused>(runs, f);
    }

    /// # Safety
    ///
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn run_avx512(f: impl super::Vectorise) {
        f.run::<super::Fused>();
    }

    /// # Safety
    ///
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn run_avx2(f: impl super::Vectorise) {
        f.run::<super::Fused>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    /// Both ways of computing the multiply-adds meet the same bounds.
    fn exp_within_two_ulp<M: MulAdd>() {
        let mut x = -86.5f32;
        while x < 88.7 {
            let (got, want) = (exp_with::<M>(x), f64::from(x).exp() as f32);
            assert!(ulps(got, want) <= 2, "exp({x}) = {got} vs {want}");
            x += 0.0137;
        }
        assert_eq!(exp_with::<M>(0.0), 1.0);
    }

    #[test]
    fn exp_is_within_two_ulp_of_f64() {
        exp_within_two_ulp::<Unfused>();
        exp_within_two_ulp::<Fused>();
    }

    #[test]
    fn exp_underflows_to_zero_and_keeps_nan() {
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-1068.5), 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(88.7).is_finite());
    }

    #[test]
    fn tanh_matches_and_saturates() {
        for i in -100..=100 {
            let x = i as f64 * 0.1;
            assert!(
                (f64::from(tanh(x as f32)) - x.tanh()).abs() < 2e-7,
                "tanh({x})"
            );
        }
        assert_eq!((tanh(100.0), tanh(-100.0)), (1.0, -1.0));
    }

    #[test]
    fn the_vectorised_loop_applies_to_every_element() {
        let mut x: Vec<f32> = (0..37).map(|i| i as f32 * 0.1).collect();
        for_each_vectorised(&mut x, ExpMinus(1.0));
        for (i, v) in x.iter().enumerate() {
            // Fused or not, as the CPU allows: within the bound both meet.
            let want = f64::from(i as f32 * 0.1 - 1.0).exp() as f32;
            assert!(ulps(*v, want) <= 2, "element {i}: {v} vs {want}");
        }
    }
}
