//! The feed-forward non-linearities.

use crate::fastmath::{self, Elementwise, MulAdd, Unfused, for_each_run_vectorised};

/// Which non-linearity a feed-forward sublayer applies between its two linear layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// `x · Φ(x)`, with the exact normal CDF: PyTorch's `gelu`, BERT's `gelu`.
    Gelu,
    /// The tanh approximation of GELU: PyTorch's `gelu(approximate="tanh")`, GPT-2's `gelu_new`.
    GeluTanh,
    /// `x · σ(x) = x / (1 + e⁻ˣ)`: PyTorch's `silu`, Llama's gate activation (SwiGLU).
    Silu,
}

impl Activation {
    /// Applies the activation to every element of `x`, vectorised, and split between
    /// threads for large inputs.
    pub fn apply(self, x: &mut [f32]) {
        crate::threads::for_each_piece(x, 1 << 13, &|piece| self.apply_here(piece));
    }
}

impl Activation {
    /// The activation of one number (the plain, unvectorised functions).
    pub fn apply_one(self, x: f32) -> f32 {
        match self {
            Self::Relu => relu(x),
            Self::Gelu => gelu(x),
            Self::GeluTanh => gelu_tanh(x),
            Self::Silu => silu(x),
        }
    }

    /// [`Self::apply`] on this thread only: for pieces that are already one thread's share.
    pub fn apply_here(self, x: &mut [f32]) {
        let len = x.len();
        self.apply_to_runs(x, len, len);
    }

    /// Applies the activation in place to runs of `run` numbers, `stride` apart, that start
    /// `x` and end within it (rows of a matrix, or the blocks of panels): one dispatch for
    /// them all.
    pub(crate) fn apply_to_runs(self, x: &mut [f32], run: usize, stride: usize) {
        let runs = (x, (run, stride));
        match self {
            Self::Relu => for_each_run_vectorised(runs, Relu),
            Self::Gelu => for_each_run_vectorised(runs, Gelu),
            Self::GeluTanh => for_each_run_vectorised(runs, GeluTanh),
            Self::Silu => for_each_run_vectorised(runs, Silu),
        }
    }
}

/// The activations as [`Elementwise`] functions, for the vectorised loop.
#[derive(Clone, Copy)]
struct Relu;
#[derive(Clone, Copy)]
struct Gelu;
#[derive(Clone, Copy)]
struct GeluTanh;
#[derive(Clone, Copy)]
struct Silu;

impl Elementwise for Relu {
    #[inline(always)]
    fn apply<M: MulAdd>(self, x: f32) -> f32 {
        relu(x)
    }
}

impl Elementwise for Gelu {
    #[inline(always)]
    fn apply<M: MulAdd>(self, x: f32) -> f32 {
        gelu_with::<M>(x)
    }
}

impl Elementwise for GeluTanh {
    #[inline(always)]
    fn apply<M: MulAdd>(self, x: f32) -> f32 {
        gelu_tanh_with::<M>(x)
    }
}

impl Elementwise for Silu {
    #[inline(always)]
    fn apply<M: MulAdd>(self, x: f32) -> f32 {
        silu_with::<M>(x)
    }
}

/// `max(0, x)`.
#[inline(always)]
pub fn relu(x: f32) -> f32 {
    x.max(0.0)
}

/// `x · Φ(x) = x/2 · (1 + erf(x/√2))`, within `2e-7 · |x|` of the exact value (plus the
/// rounding of the result).
///
/// `erf(x/√2)` is a rational function, `c · P(c²) / Q(c²)` with `c` the input clamped to
/// `±4√2` (beyond which `erf(c/√2)` rounds to `±1` in `f32`): no exponential, no branch, one
/// division. Its coefficients come from `tools/fit/gelu_erf.py`, a near-minimax fit of erf on
/// `0 < u ≤ 4` (error 2.1e-8 in exact arithmetic). Below `−4√2` the result is 0, as
/// `GELU(x)` rounds to (it is smaller than `5e-8` in magnitude there).
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    gelu_with::<Unfused>(x)
}

/// [`gelu`] with its multiply-adds computed as `M` says.
#[inline(always)]
fn gelu_with<M: MulAdd>(x: f32) -> f32 {
    /// Numerator and denominator of `erf(x/√2) / x` in powers of `x²`, lowest first.
    const P: [f32; 6] = [
        0.797_884_4,
        0.069_384_89,
        0.009_451_804,
        3.538_751_3e-4,
        1.272_934e-5,
        4.363_535_3e-8,
    ];
    const Q: [f32; 6] = [
        1.0,
        0.253_626_64,
        0.029_119_188,
        0.001_930_554_5,
        7.602_126e-5,
        1.171_222_3e-6,
    ];
    /// `4√2`: `erf(4) = 1 − 1.5e-8` is 1 in `f32`.
    const LIMIT: f32 = 5.656_854;
    let half = 0.5 * x;
    let c = x.clamp(-LIMIT, LIMIT);
    let s = c * c;
    let (mut num, mut den) = (P[5], Q[5]);
    for (&p, &q) in P[..5].iter().zip(&Q[..5]).rev() {
        num = M::mul_add(num, s, p);
        den = M::mul_add(den, s, q);
    }
    M::mul_add(half, c * num / den, half)
}

/// `x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    gelu_tanh_with::<Unfused>(x)
}

/// [`gelu_tanh`] with its multiply-adds computed as `M` says.
#[inline(always)]
fn gelu_tanh_with<M: MulAdd>(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + fastmath::tanh_with::<M>(SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)))
}

/// `x · σ(x) = x / (1 + e⁻ˣ)`, within 4 ulp of the exact value (the `exp` is within 2, the
/// division rounds once). Below `−88`, where `e⁻ˣ` saturates near `f32::MAX`, the result is
/// a negative number smaller than `1e-35` in magnitude rather than the exact, smaller one;
/// far above zero it is `x`.
#[inline(always)]
pub fn silu(x: f32) -> f32 {
    silu_with::<Unfused>(x)
}

/// [`silu`] with its multiply-adds computed as `M` says.
#[inline(always)]
fn silu_with<M: MulAdd>(x: f32) -> f32 {
    x / (1.0 + fastmath::exp_with::<M>(-x))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erf64(x: f64) -> f64 {
        libm::erf(x)
    }

    #[test]
    fn relu_clips_negatives() {
        let mut x = [-2.0f32, 0.0, 3.0];
        Activation::Relu.apply(&mut x);
        assert_eq!(x, [0.0, 0.0, 3.0]);
    }

    #[test]
    fn gelu_matches_an_f64_reference() {
        for i in -40..=40 {
            let x = i as f64 * 0.15;
            let want = 0.5 * x * (1.0 + erf64(x / 2f64.sqrt()));
            assert!((f64::from(gelu(x as f32)) - want).abs() < 1e-6, "x = {x}");
        }
    }

    /// Every path (scalar, and the vectorised loops with fused multiply-adds) within
    /// `2e-7 · |x|` of the exact value, plus rounding; 0 far below zero.
    #[test]
    fn gelu_is_within_its_bound_everywhere() {
        let xs: Vec<f32> = (-1300..=1300).map(|i| i as f32 * 0.01).collect();
        let mut vectorised = xs.clone();
        Activation::Gelu.apply_here(&mut vectorised);
        for (&x, &fast) in xs.iter().zip(&vectorised) {
            let x64 = f64::from(x);
            let want = 0.5 * x64 * libm::erfc(-x64 / 2f64.sqrt());
            let bound = 2e-7 * x64.abs() + f64::from(f32::EPSILON) * want.abs();
            for got in [gelu(x), fast] {
                let err = (f64::from(got) - want).abs();
                assert!(err <= bound, "x = {x}: {got} vs {want}");
            }
        }
        assert_eq!((gelu(-6.0), gelu(-100.0), gelu(100.0)), (0.0, 0.0, 100.0));
        assert!(gelu(f32::NAN).is_nan());
    }

    #[test]
    fn gelu_tanh_matches_an_f64_reference_and_stays_near_gelu() {
        for i in -40..=40 {
            let x = i as f64 * 0.15;
            let inner = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3));
            let want = 0.5 * x * (1.0 + inner.tanh());
            let got = f64::from(gelu_tanh(x as f32));
            assert!((got - want).abs() < 1e-6, "x = {x}");
            assert!((got - f64::from(gelu(x as f32))).abs() < 1e-3, "x = {x}");
        }
    }

    /// Every path within 4 ulp of the f64 value, or 1e-35 below −88.
    #[test]
    fn silu_matches_an_f64_reference_on_every_path() {
        let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.05).collect();
        let mut vectorised = xs.clone();
        Activation::Silu.apply_here(&mut vectorised);
        for (&x, &fast) in xs.iter().zip(&vectorised) {
            let x64 = f64::from(x);
            let want = x64 / (1.0 + (-x64).exp());
            let bound = 4.0 * f64::from(f32::EPSILON) * want.abs() + 1e-35;
            for got in [silu(x), fast] {
                assert!(
                    (f64::from(got) - want).abs() <= bound,
                    "x = {x}: {got} vs {want}"
                );
            }
        }
        assert_eq!((silu(0.0), silu(200.0)), (0.0, 200.0));
        assert!(silu(-200.0) <= 0.0 && silu(-200.0) > -1e-35);
        assert!(silu(f32::NAN).is_nan());
    }

    #[test]
    fn gelu_known_values() {
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6); // Φ(1) = 0.8413447
    }
}
