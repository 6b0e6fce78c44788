//! Each weight type reads and writes its own tensors under a name prefix, so a generated
//! model only says which prefix each field lives under.
//!
//! Names follow PyTorch: a linear layer or embedding at `p` is `p.weight` (and `p.bias`); a
//! layer norm's scale and shift are `p.weight`/`p.bias`, or `p.gamma`/`p.beta` in old BERT
//! checkpoints, an RMS norm's scale `p.weight`; `nn.MultiheadAttention` at `p` stacks q, k and v in `p.in_proj_weight`
//! (`[3D][D]`) and `p.in_proj_bias` (`[3D]`), then has `p.out_proj`.
//!
//! GPT-2 stores its linear layers as `Conv1D`, whose weight is `[IN][OUT]`, the transpose of
//! `nn.Linear`'s, and its attention's q, k and v side by side in one `c_attn` (`[D][3D]`):
//! the `_conv1d` methods read and write those.

use super::{Loader, Writer};
use crate::attention::MultiHeadAttention;
use crate::embedding::Embedding;
use crate::format::WeightFormat;
use crate::matmul::Linear;
use crate::norm::{LayerNorm, RmsNorm};

impl<const IN: usize, const OUT: usize, W: WeightFormat> Linear<IN, OUT, W> {
    /// Reads `{prefix}weight` (`[OUT][IN]`, into the layer's weight format) and, if the layer
    /// has one, `{prefix}bias` (`[OUT]`).
    pub fn load(&mut self, loader: &mut Loader<'_>, prefix: &str) {
        W::load(&mut self.weight, loader, &format!("{prefix}weight"));
        if let Some(bias) = self.bias.as_deref_mut() {
            loader.read(&format!("{prefix}bias"), &[OUT], bias);
        }
    }

    /// Writes the tensors [`Self::load`] reads.
    pub fn save(&self, writer: &mut Writer, prefix: &str) {
        W::save(&self.weight, writer, &format!("{prefix}weight"));
        if let Some(bias) = self.bias.as_deref() {
            writer.add(&format!("{prefix}bias"), &[OUT], bias);
        }
    }
}

impl<const IN: usize, const OUT: usize> Linear<IN, OUT> {
    /// Reads a GPT-2 `Conv1D`: `{prefix}weight` (`[IN][OUT]`, transposed as it is read) and,
    /// if the layer has one, `{prefix}bias` (`[OUT]`).
    pub fn load_conv1d(&mut self, loader: &mut Loader<'_>, prefix: &str) {
        let mut stored = vec![0.0; IN * OUT];
        loader.read(&format!("{prefix}weight"), &[IN, OUT], &mut stored);
        for (i, row) in stored.chunks_exact(OUT).enumerate() {
            for (o, &w) in row.iter().enumerate() {
                self.weight[o][i] = w;
            }
        }
        if let Some(bias) = self.bias.as_deref_mut() {
            loader.read(&format!("{prefix}bias"), &[OUT], bias);
        }
    }

    /// Writes the tensors [`Self::load_conv1d`] reads.
    pub fn save_conv1d(&self, writer: &mut Writer, prefix: &str) {
        writer.add(&format!("{prefix}weight"), &[IN, OUT], &self.transposed());
        if let Some(bias) = self.bias.as_deref() {
            writer.add(&format!("{prefix}bias"), &[OUT], bias);
        }
    }

    /// The weight as `[IN][OUT]`.
    fn transposed(&self) -> Vec<f32> {
        (0..IN)
            .flat_map(|i| (0..OUT).map(move |o| (o, i)))
            .map(|(o, i)| self.weight[o][i])
            .collect()
    }
}

impl<const D: usize> LayerNorm<D> {
    /// Reads `{prefix}weight` (or `{prefix}gamma`) and `{prefix}bias` (or `{prefix}beta`).
    pub fn load(&mut self, loader: &mut Loader<'_>, prefix: &str) {
        let (weight, gamma) = (format!("{prefix}weight"), format!("{prefix}gamma"));
        loader.read_any(&[&weight, &gamma], &[D], &mut self.weight[..]);
        if let Some(bias) = self.bias.as_deref_mut() {
            let (name, beta) = (format!("{prefix}bias"), format!("{prefix}beta"));
            loader.read_any(&[&name, &beta], &[D], bias);
        }
    }

    /// Writes `{prefix}weight` and `{prefix}bias`.
    pub fn save(&self, writer: &mut Writer, prefix: &str) {
        writer.add(&format!("{prefix}weight"), &[D], &self.weight[..]);
        if let Some(bias) = self.bias.as_deref() {
            writer.add(&format!("{prefix}bias"), &[D], bias);
        }
    }
}

impl<const D: usize> RmsNorm<D> {
    /// Reads `{prefix}weight`.
    pub fn load(&mut self, loader: &mut Loader<'_>, prefix: &str) {
        loader.read(&format!("{prefix}weight"), &[D], &mut self.weight[..]);
    }

    /// Writes `{prefix}weight`.
    pub fn save(&self, writer: &mut Writer, prefix: &str) {
        writer.add(&format!("{prefix}weight"), &[D], &self.weight[..]);
    }
}

impl<const ROWS: usize, const D: usize> Embedding<ROWS, D> {
    /// Reads `{prefix}weight` (`[ROWS][D]`).
    pub fn load(&mut self, loader: &mut Loader<'_>, prefix: &str) {
        loader.read(
            &format!("{prefix}weight"),
            &[ROWS, D],
            self.weight.as_flattened_mut(),
        );
    }

    /// Writes `{prefix}weight`.
    pub fn save(&self, writer: &mut Writer, prefix: &str) {
        writer.add(
            &format!("{prefix}weight"),
            &[ROWS, D],
            self.weight.as_flattened(),
        );
    }
}

impl<const D: usize, const H: usize, const DH: usize, const KVD: usize>
    MultiHeadAttention<D, H, DH, KVD>
{
    /// Reads PyTorch's `nn.MultiheadAttention` layout: q, k, v from the rows of
    /// `{prefix}in_proj_weight` (`[3D][D]`; `[D+2·KVD][D]` with fewer key/value heads) and
    /// `{prefix}in_proj_bias` (`[3D]`), then
    /// `{prefix}out_proj.weight`/`.bias`.
    pub fn load_packed(&mut self, loader: &mut Loader<'_>, prefix: &str) {
        let (q, k, v) = (&mut self.w_q, &mut self.w_k, &mut self.w_v);
        loader.read_split(
            &format!("{prefix}in_proj_weight"),
            &[D + 2 * KVD, D],
            &mut [
                q.weight.as_flattened_mut(),
                k.weight.as_flattened_mut(),
                v.weight.as_flattened_mut(),
            ],
        );
        if let (Some(bq), Some(bk), Some(bv)) = (
            q.bias.as_deref_mut(),
            k.bias.as_deref_mut(),
            v.bias.as_deref_mut(),
        ) {
            loader.read_split(
                &format!("{prefix}in_proj_bias"),
                &[D + 2 * KVD],
                &mut [bq, bk, bv],
            );
        }
        if let Some(o) = self.w_o.as_mut() {
            o.load(loader, &format!("{prefix}out_proj."));
        }
    }

    /// Reads GPT-2's attention: q, k and v side by side in the columns of the `Conv1D`
    /// `{prefix}c_attn.weight` (`[D][D+2·KVD]`) and in `{prefix}c_attn.bias`, then the
    /// output projection `{prefix}c_proj.`.
    pub fn load_conv1d(&mut self, loader: &mut Loader<'_>, prefix: &str) {
        let width = D + 2 * KVD;
        let mut stored = vec![0.0; D * width];
        loader.read(&format!("{prefix}c_attn.weight"), &[D, width], &mut stored);
        for (i, row) in stored.chunks_exact(width).enumerate() {
            let (q, kv) = row.split_at(D);
            let (k, v) = kv.split_at(KVD);
            for (o, &w) in q.iter().enumerate() {
                self.w_q.weight[o][i] = w;
            }
            for (o, (&wk, &wv)) in k.iter().zip(v).enumerate() {
                self.w_k.weight[o][i] = wk;
                self.w_v.weight[o][i] = wv;
            }
        }
        let (q, k, v) = (&mut self.w_q, &mut self.w_k, &mut self.w_v);
        if let (Some(bq), Some(bk), Some(bv)) = (
            q.bias.as_deref_mut(),
            k.bias.as_deref_mut(),
            v.bias.as_deref_mut(),
        ) {
            loader.read_split(&format!("{prefix}c_attn.bias"), &[width], &mut [bq, bk, bv]);
        }
        if let Some(o) = self.w_o.as_mut() {
            o.load_conv1d(loader, &format!("{prefix}c_proj."));
        }
    }

    /// Writes the tensors [`Self::load_conv1d`] reads.
    pub fn save_conv1d(&self, writer: &mut Writer, prefix: &str) {
        let (q, k, v) = (
            self.w_q.transposed(),
            self.w_k.transposed(),
            self.w_v.transposed(),
        );
        let width = D + 2 * KVD;
        let stacked: Vec<f32> = (0..D)
            .flat_map(|i| {
                let q = &q[i * D..][..D];
                let k = &k[i * KVD..][..KVD];
                let v = &v[i * KVD..][..KVD];
                q.iter().chain(k).chain(v).copied()
            })
            .collect();
        writer.add(&format!("{prefix}c_attn.weight"), &[D, width], &stacked);
        let (q, k, v) = (&self.w_q, &self.w_k, &self.w_v);
        if let (Some(bq), Some(bk), Some(bv)) =
            (q.bias.as_deref(), k.bias.as_deref(), v.bias.as_deref())
        {
            writer.add_concat(&format!("{prefix}c_attn.bias"), &[width], &[bq, bk, bv]);
        }
        if let Some(o) = self.w_o.as_ref() {
            o.save_conv1d(writer, &format!("{prefix}c_proj."));
        }
    }

    /// Puts back the rows of the query and key projections that llama.cpp's converter
    /// reordered for its adjacent-pair RoPE (see [`crate::gguf::unpermute_rope_rows`]): what
    /// a model that rotates lanes `i` and `i + DH/2` together does after loading a GGUF
    /// file's `attn_q` and `attn_k`.
    ///
    /// # Errors
    ///
    /// [`GgufError::RopeShape`](crate::gguf::GgufError::RopeShape) if a head's width `DH` is
    /// odd: its lanes do not pair.
    pub fn unpermute_gguf_rope_rows(&mut self) -> Result<(), crate::gguf::GgufError> {
        let kv_heads = KVD / DH;
        for (rows, heads, weight, bias) in [
            (
                D,
                H,
                self.w_q.weight.as_flattened_mut(),
                self.w_q.bias.as_deref_mut().map(|b| &mut b[..]),
            ),
            (
                KVD,
                kv_heads,
                self.w_k.weight.as_flattened_mut(),
                self.w_k.bias.as_deref_mut().map(|b| &mut b[..]),
            ),
        ] {
            let cols = weight.len() / rows;
            crate::gguf::unpermute_rope_rows(weight, rows, cols, heads)?;
            if let Some(bias) = bias {
                crate::gguf::unpermute_rope_rows(bias, rows, 1, heads)?;
            }
        }
        Ok(())
    }

    /// Writes the tensors [`Self::load_packed`] reads.
    pub fn save_packed(&self, writer: &mut Writer, prefix: &str) {
        let (q, k, v) = (&self.w_q, &self.w_k, &self.w_v);
        writer.add_concat(
            &format!("{prefix}in_proj_weight"),
            &[D + 2 * KVD, D],
            &[
                q.weight.as_flattened(),
                k.weight.as_flattened(),
                v.weight.as_flattened(),
            ],
        );
        if let (Some(bq), Some(bk), Some(bv)) =
            (q.bias.as_deref(), k.bias.as_deref(), v.bias.as_deref())
        {
            writer.add_concat(
                &format!("{prefix}in_proj_bias"),
                &[D + 2 * KVD],
                &[bq, bk, bv],
            );
        }
        if let Some(o) = self.w_o.as_ref() {
            o.save(writer, &format!("{prefix}out_proj."));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;
    use crate::load::{LoadError, Strictness, TensorFault};

    #[test]
    fn packed_attention_round_trips_bit_exactly() {
        let mut rng = Rng::new(1);
        let mut attention = MultiHeadAttention::<4, 2, 2>::xavier(&mut rng, true, true);
        if let Some(b) = attention.w_k.bias.as_mut() {
            **b = [1.0, 2.0, 3.0, 4.0];
        }
        let mut writer = Writer::new();
        attention.save_packed(&mut writer, "self_attn.");
        let bytes = writer.to_bytes().unwrap();
        let mut loaded = MultiHeadAttention::<4, 2, 2>::zeroed(true, true);
        let mut loader = Loader::new(&bytes).unwrap();
        loaded.load_packed(&mut loader, "self_attn.");
        loader.finish(Strictness::Strict).unwrap();
        assert_eq!(loaded, attention);
    }

    #[test]
    fn conv1d_layers_round_trip_and_read_q_k_v_from_columns() {
        let mut rng = Rng::new(2);
        let mut attention = MultiHeadAttention::<4, 2, 2, 2>::xavier(&mut rng, true, true);
        if let Some(b) = attention.w_v.bias.as_mut() {
            **b = [5.0, 6.0];
        }
        let mut writer = Writer::new();
        attention.save_conv1d(&mut writer, "attn.");
        let bytes = writer.to_bytes().unwrap();
        let mut loaded = MultiHeadAttention::<4, 2, 2, 2>::zeroed(true, true);
        let mut loader = Loader::new(&bytes).unwrap();
        loaded.load_conv1d(&mut loader, "attn.");
        loader.finish(Strictness::Strict).unwrap();
        assert_eq!(loaded, attention);

        // c_attn row i holds input i's weights to q0 q1, k0, v0: columns, not rows.
        let mut writer = Writer::new();
        let stored: Vec<f32> = (0..2)
            .flat_map(|i| (0..4).map(move |c| (10 * c + i) as f32))
            .collect();
        writer.add("c_attn.weight", &[2, 4], &stored);
        let bytes = writer.to_bytes().unwrap();
        let mut attention = MultiHeadAttention::<2, 2, 1, 1>::zeroed(false, false);
        let mut loader = Loader::new(&bytes).unwrap();
        attention.load_conv1d(&mut loader, "");
        loader.finish(Strictness::Strict).unwrap();
        assert_eq!(*attention.w_q.weight, [[0.0, 1.0], [10.0, 11.0]]);
        assert_eq!(*attention.w_k.weight, [[20.0, 21.0]]);
        assert_eq!(*attention.w_v.weight, [[30.0, 31.0]]);
    }

    #[test]
    fn in_proj_rows_are_q_then_k_then_v() {
        let mut writer = Writer::new();
        let rows: Vec<f32> = (0..6).map(|r| r as f32).flat_map(|r| [r, r]).collect();
        writer.add("in_proj_weight", &[6, 2], &rows);
        let bytes = writer.to_bytes().unwrap();
        let mut attention = MultiHeadAttention::<2, 1, 2>::zeroed(false, false);
        let mut loader = Loader::new(&bytes).unwrap();
        attention.load_packed(&mut loader, "");
        loader.finish(Strictness::Strict).unwrap();
        assert_eq!(*attention.w_q.weight, [[0.0, 0.0], [1.0, 1.0]]);
        assert_eq!(*attention.w_k.weight, [[2.0, 2.0], [3.0, 3.0]]);
        assert_eq!(*attention.w_v.weight, [[4.0, 4.0], [5.0, 5.0]]);
    }

    #[test]
    fn old_bert_norm_names_load() {
        let mut writer = Writer::new();
        writer.add("LayerNorm.gamma", &[2], &[2.0, 3.0]);
        writer.add("LayerNorm.beta", &[2], &[0.5, 0.25]);
        let bytes = writer.to_bytes().unwrap();
        let mut norm = LayerNorm::<2>::new(1e-12, true);
        let mut loader = Loader::new(&bytes).unwrap();
        norm.load(&mut loader, "LayerNorm.");
        loader.finish(Strictness::Strict).unwrap();
        assert_eq!(
            (*norm.weight, norm.bias.as_deref().copied()),
            ([2.0, 3.0], Some([0.5, 0.25]))
        );
    }

    #[test]
    fn a_missing_bias_is_reported_with_its_shape() {
        let mut writer = Writer::new();
        writer.add("linear1.weight", &[3, 2], &[0.0; 6]);
        let bytes = writer.to_bytes().unwrap();
        let mut linear = Linear::<2, 3>::zeroed(true);
        let mut loader = Loader::new(&bytes).unwrap();
        linear.load(&mut loader, "linear1.");
        let Err(LoadError::Tensors(faults)) = loader.finish(Strictness::Strict) else {
            panic!("a missing bias must fail");
        };
        assert!(
            matches!(&faults[..], [TensorFault::Missing { name, expected, .. }] if name == "linear1.bias" && expected == &[3])
        );
    }
}
