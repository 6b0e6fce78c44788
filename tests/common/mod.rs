//! A straightforward f64 transformer, written from the formulas and independent of the
//! runtime's kernels, to check generated models against.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::PathBuf;

use safetensors::SafeTensors;
use transformer::runtime::{
    Embedding, FeedForward, LayerNorm, Linear, MultiHeadAttention, RmsNorm, Rng, Rope, RopePairs,
};

/// A file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fixture's inputs and outputs, by tensor name.
pub struct Io(Vec<u8>);

impl Io {
    /// `tests/fixtures/<case>.io.safetensors`.
    pub fn open(case: &str) -> Self {
        Self::file(&format!("{case}.io.safetensors"))
    }

    /// Any safetensors fixture, by its path under `tests/fixtures/`.
    pub fn file(name: &str) -> Self {
        Self(std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}")))
    }

    /// The tensor as rows of width `D` (all leading dims flattened).
    pub fn rows<const D: usize>(&self, name: &str) -> Vec<[f32; D]> {
        let flat = self.flat(name);
        let (rows, rest) = flat.as_chunks::<D>();
        assert!(rest.is_empty(), "{name} is not a multiple of {D}");
        rows.to_vec()
    }

    pub fn flat(&self, name: &str) -> Vec<f32> {
        let file = SafeTensors::deserialize(&self.0).expect("fixture io header");
        let tensor = file
            .tensor(name)
            .unwrap_or_else(|_| panic!("tensor {name}"));
        tensor
            .data()
            .as_chunks::<4>()
            .0
            .iter()
            .map(|b| f32::from_le_bytes(*b))
            .collect()
    }
}

/// A reference file's token ids (`ids`) and the logits of every position, at the JSON
/// pointer `logits` (`/logits`, `/logits/f16`), from `tests/fixtures/<file>`.
pub fn logits_reference(file: &str, logits: &str) -> (Vec<u32>, Vec<Vec<f32>>) {
    let path = fixture(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let numbers = |value: &serde_json::Value| -> Vec<f64> {
        value
            .as_array()
            .expect("an array")
            .iter()
            .map(|v| v.as_f64().expect("a number"))
            .collect()
    };
    let ids = numbers(&json["ids"])
        .into_iter()
        .map(|id| id as u32)
        .collect();
    let logits = json
        .pointer(logits)
        .and_then(serde_json::Value::as_array)
        .unwrap_or_else(|| panic!("{file}: no logits at {logits}"))
        .iter()
        .map(|row| numbers(row).into_iter().map(|v| v as f32).collect())
        .collect();
    (ids, logits)
}

/// Asserts two rows of logits are within 1e-4 of each other.
pub fn assert_logits_close(got: &[f32], want: &[f32], position: usize) {
    assert_eq!(got.len(), want.len(), "position {position}: logits");
    let diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        diff < 1e-4,
        "position {position}: logits differ by {diff:e}"
    );
}

pub type Rows = Vec<Vec<f64>>;

/// One sublayer as a function of its (possibly normalised) input.
type Sublayer<'a> = Box<dyn Fn(&Rows) -> Rows + 'a>;

/// `y = x Wᵀ + b`.
pub struct NaiveLinear {
    pub w: Rows,
    pub b: Option<Vec<f64>>,
}

pub struct NaiveAttention {
    pub q: NaiveLinear,
    pub k: NaiveLinear,
    pub v: NaiveLinear,
    pub o: Option<NaiveLinear>,
    pub heads: usize,
    /// Key/value heads, each shared by `heads / kv_heads` query heads.
    pub kv_heads: usize,
    /// Rotary positions: the base, and whether lanes `2i, 2i+1` pair (else `i, i + dh/2`).
    pub rope: Option<(f64, bool)>,
}

pub struct NaiveNorm {
    pub w: Vec<f64>,
    pub b: Option<Vec<f64>>,
    pub eps: f64,
    /// `nn.RMSNorm`: no centring, no shift.
    pub rms: bool,
}

/// The norms a model can hold, as the reference reads them.
pub trait NaiveOf {
    fn naive(&self) -> NaiveNorm;
}

impl<const D: usize> NaiveOf for LayerNorm<D> {
    fn naive(&self) -> NaiveNorm {
        NaiveNorm {
            w: to_f64(&self.weight[..]),
            b: self.bias.as_deref().map(|b| to_f64(b)),
            eps: f64::from(self.eps),
            rms: false,
        }
    }
}

impl<const D: usize> NaiveOf for RmsNorm<D> {
    fn naive(&self) -> NaiveNorm {
        NaiveNorm {
            w: to_f64(&self.weight[..]),
            b: None,
            eps: f64::from(self.eps),
            rms: true,
        }
    }
}

pub struct NaiveFfn {
    pub up: NaiveLinear,
    /// Gated: `down(act(gate(x)) ⊙ up(x))`.
    pub gate: Option<NaiveLinear>,
    pub down: NaiveLinear,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Norm {
    Post,
    Pre,
    None,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Act {
    Relu,
    Gelu,
    GeluTanh,
    Silu,
}

/// One layer; `norms[i]` belongs to sublayer `i` (self-attention, cross-attention, ffn).
pub struct NaiveLayer {
    pub attn: NaiveAttention,
    pub cross: Option<NaiveAttention>,
    pub ffn: Option<NaiveFfn>,
    pub norms: Vec<NaiveNorm>,
}

pub struct NaiveStack {
    pub layers: Vec<NaiveLayer>,
    pub final_norm: Option<NaiveNorm>,
    pub positions: Positions,
    pub norm: Norm,
    pub act: Act,
    pub causal: bool,
}

pub enum Positions {
    None,
    Sinusoidal,
    Learned(Rows),
}

fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

pub fn rows<const D: usize>(x: &[[f32; D]]) -> Rows {
    x.iter().map(|r| to_f64(r)).collect()
}

impl NaiveLinear {
    pub fn of<const I: usize, const O: usize>(l: &Linear<I, O>) -> Self {
        Self {
            w: rows(&l.weight[..]),
            b: l.bias.as_deref().map(|b| to_f64(b)),
        }
    }

    pub fn apply(&self, x: &Rows) -> Rows {
        x.iter()
            .map(|row| {
                self.w
                    .iter()
                    .enumerate()
                    .map(|(o, w)| {
                        w.iter().zip(row).map(|(a, b)| a * b).sum::<f64>()
                            + self.b.as_ref().map_or(0.0, |b| b[o])
                    })
                    .collect()
            })
            .collect()
    }
}

impl NaiveAttention {
    pub fn of<const D: usize, const H: usize, const DH: usize, const KVD: usize>(
        a: &MultiHeadAttention<D, H, DH, KVD>,
    ) -> Self {
        Self {
            q: NaiveLinear::of(&a.w_q),
            k: NaiveLinear::of(&a.w_k),
            v: NaiveLinear::of(&a.w_v),
            o: a.w_o.as_ref().map(NaiveLinear::of),
            heads: H,
            kv_heads: KVD / DH,
            rope: a
                .rope
                .map(|Rope { theta, pairs }| (f64::from(theta), pairs == RopePairs::Adjacent)),
        }
    }

    /// Rotates each head of width `dh` of row `x`, the token at `position`, by RoPE.
    fn rotate(&self, x: &mut [f64], dh: usize, position: usize) {
        let Some((theta, adjacent)) = self.rope else {
            return;
        };
        for head in x.chunks_exact_mut(dh) {
            for f in 0..dh / 2 {
                let (a, b) = if adjacent {
                    (2 * f, 2 * f + 1)
                } else {
                    (f, f + dh / 2)
                };
                let angle = position as f64 * theta.powf(-2.0 * f as f64 / dh as f64);
                let (xa, xb) = (head[a], head[b]);
                head[a] = xa * angle.cos() - xb * angle.sin();
                head[b] = xb * angle.cos() + xa * angle.sin();
            }
        }
    }

    /// Multi-head attention of `x` over `memory`; `allowed(i, j)` says whether query i sees key j.
    pub fn apply(&self, x: &Rows, memory: &Rows, allowed: &dyn Fn(usize, usize) -> bool) -> Rows {
        let (mut q, mut k, v) = (self.q.apply(x), self.k.apply(memory), self.v.apply(memory));
        let d = q[0].len();
        let dh = d / self.heads;
        for (position, row) in q.iter_mut().enumerate() {
            self.rotate(row, dh, position);
        }
        for (position, row) in k.iter_mut().enumerate() {
            self.rotate(row, dh, position);
        }
        let group = self.heads / self.kv_heads;
        let mut out = vec![vec![0.0; d]; x.len()];
        for h in 0..self.heads {
            let lanes = h * dh..(h + 1) * dh;
            // The lanes of the key/value head query head h reads.
            let kv_lane = |l: usize| (h / group) * dh + (l - h * dh);
            for i in 0..x.len() {
                let scores: Vec<f64> = (0..memory.len())
                    .map(|j| {
                        if allowed(i, j) {
                            lanes
                                .clone()
                                .map(|l| q[i][l] * k[j][kv_lane(l)])
                                .sum::<f64>()
                                / (dh as f64).sqrt()
                        } else {
                            f64::NEG_INFINITY
                        }
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                for j in 0..memory.len() {
                    for l in lanes.clone() {
                        out[i][l] += exps[j] / total * v[j][kv_lane(l)];
                    }
                }
            }
        }
        match &self.o {
            Some(o) => o.apply(&out),
            None => out,
        }
    }
}

impl NaiveNorm {
    pub fn of(n: &impl NaiveOf) -> Self {
        n.naive()
    }

    pub fn apply(&self, x: &Rows) -> Rows {
        x.iter()
            .map(|row| {
                let n = row.len() as f64;
                // RMSNorm: the second moment about 0 instead of the variance about the mean.
                let mean = if self.rms {
                    0.0
                } else {
                    row.iter().sum::<f64>() / n
                };
                let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                row.iter()
                    .enumerate()
                    .map(|(i, v)| {
                        (v - mean) / (var + self.eps).sqrt() * self.w[i]
                            + self.b.as_ref().map_or(0.0, |b| b[i])
                    })
                    .collect()
            })
            .collect()
    }
}

pub fn erf(x: f64) -> f64 {
    // Abramowitz & Stegun 7.1.26 is too coarse for 1e-6; use a series/continued fraction.
    let t = x.abs();
    let value = if t < 3.0 {
        // Taylor series: erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1)).
        let mut sum = 0.0;
        let mut term = t;
        let mut n = 0.0;
        while term.abs() > 1e-17 {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -t * t / n;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // Continued fraction for erfc at large t.
        let mut f = 0.0;
        for k in (1..60).rev() {
            f = f64::from(k) / 2.0 / (t + f);
        }
        1.0 - (-t * t).exp() / std::f64::consts::PI.sqrt() / (t + f)
    };
    value.copysign(x)
}

impl Act {
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Act::Relu => x.max(0.0),
            Act::Gelu => 0.5 * x * (1.0 + erf(x / 2f64.sqrt())),
            Act::GeluTanh => {
                0.5 * x
                    * (1.0
                        + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
            }
            Act::Silu => x / (1.0 + (-x).exp()),
        }
    }
}

impl NaiveFfn {
    pub fn of<const D: usize, const FF: usize>(f: &FeedForward<D, FF>) -> Self {
        Self {
            up: NaiveLinear::of(&f.w_up),
            gate: f.w_gate.as_ref().map(NaiveLinear::of),
            down: NaiveLinear::of(&f.w_down),
        }
    }

    pub fn apply(&self, x: &Rows, act: Act) -> Rows {
        let activated = |rows: Rows| -> Rows {
            rows.into_iter()
                .map(|r| r.into_iter().map(|v| act.apply(v)).collect())
                .collect()
        };
        let hidden: Rows = match &self.gate {
            None => activated(self.up.apply(x)),
            Some(gate) => activated(gate.apply(x))
                .iter()
                .zip(self.up.apply(x))
                .map(|(g, u)| g.iter().zip(u).map(|(g, u)| g * u).collect())
                .collect(),
        };
        self.down.apply(&hidden)
    }
}

fn add(x: &Rows, y: &Rows) -> Rows {
    x.iter()
        .zip(y)
        .map(|(a, b)| a.iter().zip(b).map(|(p, q)| p + q).collect())
        .collect()
}

impl NaiveStack {
    /// The stack on `x`, attending to `memory` in cross-attention layers.
    pub fn apply(&self, x: &Rows, memory: Option<&Rows>) -> Rows {
        let d = x[0].len();
        let mut x: Rows = x.clone();
        match &self.positions {
            Positions::None => {}
            Positions::Sinusoidal => {
                for (pos, row) in x.iter_mut().enumerate() {
                    for (i, v) in row.iter_mut().enumerate() {
                        let angle = pos as f64 / 10_000f64.powf((i / 2 * 2) as f64 / d as f64);
                        *v += if i % 2 == 0 { angle.sin() } else { angle.cos() };
                    }
                }
            }
            Positions::Learned(table) => {
                for (row, learned) in x.iter_mut().zip(table) {
                    for (v, l) in row.iter_mut().zip(learned) {
                        *v += l;
                    }
                }
            }
        }
        let causal = self.causal;
        let self_mask = move |i: usize, j: usize| !causal || j <= i;
        for layer in &self.layers {
            let mut sublayers: Vec<Sublayer<'_>> =
                vec![Box::new(|x: &Rows| layer.attn.apply(x, x, &self_mask))];
            if let Some(cross) = &layer.cross {
                let memory = memory.expect("a cross-attention stack needs a memory");
                sublayers.push(Box::new(move |x: &Rows| {
                    cross.apply(x, memory, &|_, _| true)
                }));
            }
            if let Some(ffn) = &layer.ffn {
                sublayers.push(Box::new(move |x: &Rows| ffn.apply(x, self.act)));
            }
            for (i, sublayer) in sublayers.iter().enumerate() {
                x = match self.norm {
                    Norm::Post => layer.norms[i].apply(&add(&x, &sublayer(&x))),
                    Norm::Pre => add(&x, &sublayer(&layer.norms[i].apply(&x))),
                    Norm::None => add(&x, &sublayer(&x)),
                };
            }
        }
        match &self.final_norm {
            Some(norm) => norm.apply(&x),
            None => x,
        }
    }
}

/// Replaces every weight, bias and norm parameter with random numbers, so a test notices any
/// one of them being ignored (seeded `init` leaves biases 0 and norms 1).
pub trait Randomize {
    fn randomize(&mut self, rng: &mut Rng);
}

fn fill(x: &mut [f32], rng: &mut Rng, scale: f32) {
    for v in x {
        *v = rng.symmetric(scale);
    }
}

impl<const I: usize, const O: usize> Randomize for Linear<I, O> {
    fn randomize(&mut self, rng: &mut Rng) {
        fill(self.weight.as_flattened_mut(), rng, (3.0 / I as f32).sqrt());
        if let Some(b) = self.bias.as_mut() {
            fill(&mut b[..], rng, 0.5);
        }
    }
}

impl<const D: usize> Randomize for LayerNorm<D> {
    fn randomize(&mut self, rng: &mut Rng) {
        for w in self.weight.iter_mut() {
            *w = 1.0 + rng.symmetric(0.3);
        }
        if let Some(b) = self.bias.as_mut() {
            fill(&mut b[..], rng, 0.3);
        }
    }
}

impl<const D: usize> Randomize for RmsNorm<D> {
    fn randomize(&mut self, rng: &mut Rng) {
        for w in self.weight.iter_mut() {
            *w = 1.0 + rng.symmetric(0.3);
        }
    }
}

impl<const D: usize, const H: usize, const DH: usize, const KVD: usize> Randomize
    for MultiHeadAttention<D, H, DH, KVD>
{
    fn randomize(&mut self, rng: &mut Rng) {
        self.w_q.randomize(rng);
        self.w_k.randomize(rng);
        self.w_v.randomize(rng);
        if let Some(o) = self.w_o.as_mut() {
            o.randomize(rng);
        }
    }
}

impl<const D: usize, const FF: usize> Randomize for FeedForward<D, FF> {
    fn randomize(&mut self, rng: &mut Rng) {
        self.w_up.randomize(rng);
        if let Some(gate) = self.w_gate.as_mut() {
            gate.randomize(rng);
        }
        self.w_down.randomize(rng);
    }
}

impl<const R: usize, const D: usize> Randomize for Embedding<R, D> {
    fn randomize(&mut self, rng: &mut Rng) {
        fill(self.weight.as_flattened_mut(), rng, 1.0);
    }
}

/// `n` random token rows of width `D`, each entry in `[-1, 1)`.
pub fn random_input<const D: usize, const N: usize>(seed: u64) -> [[f32; D]; N] {
    let mut rng = Rng::new(seed);
    std::array::from_fn(|_| std::array::from_fn(|_| rng.symmetric(1.0)))
}

/// Largest absolute difference, asserting it is at most `tol`.
pub fn assert_close(got: &[impl AsRef<[f32]>], want: &Rows, tol: f64) {
    assert_eq!(got.len(), want.len(), "row count");
    let mut worst = 0.0f64;
    for (g, w) in got.iter().zip(want) {
        for (a, b) in g.as_ref().iter().zip(w) {
            worst = worst.max((f64::from(*a) - b).abs());
        }
    }
    assert!(worst <= tol, "max abs error {worst:e} > {tol:e}");
}
