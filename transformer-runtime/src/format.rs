//! Weight formats: how a [`Linear`] layer keeps its weights, and the product kernels that
//! read them.
//!
//! [`F32`] is the one format today, and every layer's default: `Linear<IN, OUT>` is
//! `Linear<IN, OUT, F32>`, whose `weight` is a [`Matrix<OUT, IN>`](crate::Matrix). A format
//! says how a layer's `[OUT][IN]` weights are held, how a file's tensor becomes them, and
//! runs the layer's products on them at every kernel level. Reduced-precision formats (bf16,
//! int8 rows with a scale, GGUF's quantized blocks) plug in here: such a format reads its
//! tensors through [`Loader::read_stored`], which gives a tensor as its file stores it, so
//! quantized blocks need not pass through `f32`; the layers, the loaders and the code
//! `transformer!` generates stay as they are.

use std::fmt::Debug;

use crate::activation::Activation;
pub use crate::gemm::Transposed;
use crate::gemm::{Dims, gemm_xt_add_transposed, gemm_xt_transposed};
use crate::heap::Matrix;
use crate::load::{Loader, Writer};
use crate::matmul::{Linear, linear};

/// How a [`Linear`] layer keeps its weights, and the products that read them. Sealed: a
/// format's kernels belong to this crate.
pub trait WeightFormat:
    sealed::Sealed + Copy + Debug + Default + PartialEq + Send + Sync + 'static
{
    /// The weights of a layer with `OUT` outputs of `IN` inputs each.
    type Weights<const OUT: usize, const IN: usize>: Clone + Debug + PartialEq + Send + Sync;

    /// The format's name, as messages and summaries print it (`"f32"`).
    const NAME: &'static str;

    /// Weights of zero.
    #[doc(hidden)]
    fn zeroed<const OUT: usize, const IN: usize>() -> Self::Weights<OUT, IN>;

    /// Reads the `[OUT][IN]` tensor `name` into `weights`, recording a fault in `loader` if
    /// it cannot.
    #[doc(hidden)]
    fn load<const OUT: usize, const IN: usize>(
        weights: &mut Self::Weights<OUT, IN>,
        loader: &mut Loader<'_>,
        name: &str,
    );

    /// Writes `weights` as the `[OUT][IN]` tensor `name`.
    #[doc(hidden)]
    fn save<const OUT: usize, const IN: usize>(
        weights: &Self::Weights<OUT, IN>,
        writer: &mut Writer,
        name: &str,
    );

    /// `out = x Wᵀ + b` for the first `min(out.len(), x.len())` token rows.
    #[doc(hidden)]
    fn forward<const IN: usize, const OUT: usize>(
        layer: &Linear<IN, OUT, Self>,
        out: &mut [[f32; OUT]],
        x: &[[f32; IN]],
    );

    /// The layer's product for `n` tokens held transposed, `xt` `[IN][..]` in, `outt`
    /// `[OUT][..]` out, each laid out as its [`Transposed`] says, stored as `store` says.
    #[doc(hidden)]
    fn forward_transposed<const IN: usize, const OUT: usize>(
        layer: &Linear<IN, OUT, Self>,
        out: (&mut [f32], Transposed),
        x: (&[f32], Transposed),
        n: usize,
        store: Store,
    );
}

/// What a transposed product does with each output: writes it (through an activation), or
/// adds it to what `outt` holds (a residual connection made in the product's store).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// `outᵀ = act(x Wᵀ + b)ᵀ`.
    Write(Option<Activation>),
    /// `outᵀ += (x Wᵀ + b)ᵀ`.
    Add,
}

mod sealed {
    /// Only this crate's formats are [`WeightFormat`](super::WeightFormat)s.
    pub trait Sealed {}
}

/// Weights as `f32`, `[OUT][IN]` row-major as PyTorch stores `nn.Linear.weight`: any float
/// type a file holds (f64, f32, f16, bf16, and GGUF's blocks) is converted as it is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct F32;

impl sealed::Sealed for F32 {}

impl WeightFormat for F32 {
    type Weights<const OUT: usize, const IN: usize> = Matrix<OUT, IN>;

    const NAME: &'static str = "f32";

    fn zeroed<const OUT: usize, const IN: usize>() -> Matrix<OUT, IN> {
        Matrix::zeroed()
    }

    fn load<const OUT: usize, const IN: usize>(
        weights: &mut Matrix<OUT, IN>,
        loader: &mut Loader<'_>,
        name: &str,
    ) {
        loader.read(name, &[OUT, IN], weights.as_flattened_mut());
    }

    fn save<const OUT: usize, const IN: usize>(
        weights: &Matrix<OUT, IN>,
        writer: &mut Writer,
        name: &str,
    ) {
        writer.add(name, &[OUT, IN], weights.as_flattened());
    }

    #[inline]
    fn forward<const IN: usize, const OUT: usize>(
        layer: &Linear<IN, OUT, Self>,
        out: &mut [[f32; OUT]],
        x: &[[f32; IN]],
    ) {
        linear(out, &layer.weight, layer.bias.as_deref(), x);
    }

    #[inline]
    fn forward_transposed<const IN: usize, const OUT: usize>(
        layer: &Linear<IN, OUT, Self>,
        out: (&mut [f32], Transposed),
        x: (&[f32], Transposed),
        n: usize,
        store: Store,
    ) {
        let (w, b) = (layer.weight.as_flattened(), layer.bias.as_deref());
        let (b, dims) = (b.map(|b| &b[..]), Dims { n, k: IN, m: OUT });
        match store {
            Store::Write(activation) => gemm_xt_transposed(out, w, b, x, dims, activation),
            Store::Add => gemm_xt_add_transposed(out, w, b, x, dims),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;
    use crate::load::Strictness;

    /// `rows` (`[n][D]`) as `[D][ld]`, columns past `n` zero.
    fn columns<const D: usize>(rows: &[[f32; D]], ld: usize) -> Vec<f32> {
        let mut t = vec![0.0; D * ld];
        for (j, row) in rows.iter().enumerate() {
            for (i, &v) in row.iter().enumerate() {
                t[i * ld + j] = v;
            }
        }
        t
    }

    #[test]
    fn f32_products_in_both_layouts_and_both_stores_agree() {
        let mut layer = Linear::<7, 5>::xavier(&mut Rng::new(3), 5, true);
        layer.bias.as_mut().unwrap()[2] = 0.75;
        let x: Vec<[f32; 7]> = (0..3)
            .map(|t| std::array::from_fn(|i| (t * 7 + i) as f32 * 0.1 - 1.0))
            .collect();
        let mut rows = vec![[0.0; 5]; 3];
        layer.forward(&mut rows, &x);

        let ld = 16;
        let xt = columns(&x, ld);
        let mut written = vec![f32::NAN; 5 * ld];
        let x = (&xt[..], Transposed::Rows(ld));
        F32::forward_transposed(
            &layer,
            (&mut written, Transposed::Rows(ld)),
            x,
            3,
            Store::Write(None),
        );
        let mut added = vec![1.0; 5 * ld];
        F32::forward_transposed(&layer, (&mut added, Transposed::Rows(ld)), x, 3, Store::Add);
        for (t, row) in rows.iter().enumerate() {
            for (o, &want) in row.iter().enumerate() {
                assert!((written[o * ld + t] - want).abs() < 1e-6, "write {o},{t}");
                assert!(
                    (added[o * ld + t] - (1.0 + want)).abs() < 1e-6,
                    "add {o},{t}"
                );
            }
        }
    }

    #[test]
    fn f32_weights_save_and_load_under_the_name_given() {
        let layer = Linear::<3, 2>::xavier(&mut Rng::new(9), 2, false);
        let mut writer = Writer::new();
        F32::save(&layer.weight, &mut writer, "proj.weight");
        let bytes = writer.to_bytes().unwrap();
        let mut loader = Loader::new(&bytes).unwrap();
        let mut back = F32::zeroed::<2, 3>();
        F32::load(&mut back, &mut loader, "proj.weight");
        loader.finish(Strictness::Strict).unwrap();
        assert_eq!(back, layer.weight);
        assert_eq!(F32::NAME, "f32");
    }
}
