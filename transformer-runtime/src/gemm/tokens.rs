//! The transposed activations a product reads, in the layout products write them or packed
//! in panels of 16 tokens, and when a kernel that reads panels should pack.

use super::TOKEN_PAD;

/// The transposed activations `xt` a product reads: token `t` of step `kk` of the inner
/// dimension is `data[at(t) + kk·ldx]`. Tokens come in blocks of [`TOKEN_PAD`] (16),
/// `block` apart: in the `[k][ldx]` layout products write (`block` 16), or packed block by
/// block as `[k][16]` panels (`ldx` 16, `block` 16·k), which a tile reads as one sequential
/// stream.
#[derive(Clone, Copy, Debug)]
pub struct Tokens<'a> {
    pub data: &'a [f32],
    /// From one step of `k` to the next.
    pub ldx: usize,
    /// From one block of 16 tokens to the next.
    pub block: usize,
}

impl<'a> Tokens<'a> {
    /// `xt` as products write it: `[k][ldx]`.
    pub fn rows(data: &'a [f32], ldx: usize) -> Self {
        Self {
            data,
            ldx,
            block: TOKEN_PAD,
        }
    }

    /// Tokens packed in `[k][16]` panels, one after the other.
    pub fn panels(data: &'a [f32], k: usize) -> Self {
        Self {
            data,
            ldx: TOKEN_PAD,
            block: TOKEN_PAD * k,
        }
    }

    /// The same tokens from step `k0` of the inner dimension on.
    pub fn skip_steps(self, k0: usize) -> Self {
        Self {
            data: &self.data[k0 * self.ldx..],
            ..self
        }
    }

    /// Whether `data` holds tokens `0..n_pad` (a multiple of [`TOKEN_PAD`]) of steps
    /// `0..k`, each step's apart from the next's.
    pub fn holds(self, n_pad: usize, k: usize) -> bool {
        if n_pad == 0 || k == 0 {
            return true;
        }
        let apart = k == 1
            || match self.block {
                TOKEN_PAD => self.ldx >= n_pad,
                block => self.ldx == TOKEN_PAD && block >= TOKEN_PAD * k,
            };
        let last = self.at(n_pad - TOKEN_PAD) + (k - 1) * self.ldx + TOKEN_PAD;
        apart && self.ldx >= TOKEN_PAD && last <= self.data.len()
    }

    /// Where token `t` of step 0 is.
    pub fn at(self, t: usize) -> usize {
        t / TOKEN_PAD * self.block + t % TOKEN_PAD
    }
}

/// Whether a tile's `k` steps of `xt`, read in place, would crowd each other out of L1: a
/// stride of `ldx` numbers touches only `64 / gcd(64, ldx / 16)` of a 32 KiB L1's 64 sets
/// (8 at 128 tokens), and a tile needs its `k` lines there beside the weights (so at most half
/// of each set's 8 ways). At 16 tokens `xt` is already laid out as the panels are, and
/// tokens already in panels (`ldx` 16) never crowd.
pub(super) fn rows_crowd_l1(xt: Tokens<'_>, k: usize) -> bool {
    let lines_apart = (xt.ldx / TOKEN_PAD).max(1);
    let sets = 64 / gcd(64, lines_apart);
    xt.ldx != TOKEN_PAD && k > sets * 4
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `xt` (in blocks of [`TOKEN_PAD`]) packed block by block into `[k][16]` panels in
/// `panels`, grown if it is too short: each tile then reads its tokens as one sequential
/// stream, where in `xt` its rows are `ldx` apart (a stride that, at 128 or 1024 tokens,
/// puts every row in a few L1 sets, so they evict each other and the weights).
pub(super) fn pack_tokens<'a>(
    panels: &'a mut Vec<f32>,
    xt: Tokens<'_>,
    k: usize,
    n: usize,
) -> Tokens<'a> {
    let panels = panels_of(panels, n, k);
    // Step by step, so that `xt` is read in the order it lies (at 128 tokens, one step's
    // 512 bytes at a time) and each panel is written as one sequential stream.
    for kk in 0..k {
        for b in 0..n.div_ceil(TOKEN_PAD) {
            let src = &xt.data[xt.at(b * TOKEN_PAD) + kk * xt.ldx..][..TOKEN_PAD];
            panels[(b * k + kk) * TOKEN_PAD..][..TOKEN_PAD].copy_from_slice(src);
        }
    }
    Tokens::panels(panels, k)
}

/// Token rows `x` (`[n][k]`, row-major) straight into `[k][16]` panels in `panels` (grown if
/// it is too short), tokens past `n` zero: what [`transpose`](super::transpose) and then
/// [`pack_tokens`] would make, in one pass over `x` rather than two.
pub(super) fn pack_rows<'a>(panels: &'a mut Vec<f32>, x: &[f32], n: usize, k: usize) -> Tokens<'a> {
    assert!(x.len() >= n * k, "pack_rows: x shorter than {n} × {k}");
    let panels = panels_of(panels, n, k);
    for (b, panel) in panels.chunks_exact_mut(TOKEN_PAD * k).enumerate() {
        let first = b * TOKEN_PAD;
        super::transpose::to_panel(panel, &x[first * k..n * k], n - first, k);
    }
    Tokens::panels(panels, k)
}

/// Room for the panels of `n` tokens over `k` steps in `buf` (grown if it is too short):
/// whole blocks of 16 tokens, from a cache-line boundary, so that a step's 16 tokens are one
/// line, not two halves.
pub(crate) fn panels_of(buf: &mut Vec<f32>, n: usize, k: usize) -> &mut [f32] {
    let len = n.div_ceil(TOKEN_PAD) * TOKEN_PAD * k;
    let buf = crate::heap::grown(buf, len + TOKEN_PAD);
    let skip = buf.as_ptr().align_offset(64).min(TOKEN_PAD);
    &mut buf[skip..][..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_packed_where_their_rows_would_crowd_l1() {
        let xt = |ldx| Tokens::rows(&[], ldx);
        // 128 tokens: rows 512 bytes apart fall in 8 of the 64 sets.
        assert!(!rows_crowd_l1(xt(128), 32));
        assert!(rows_crowd_l1(xt(128), 33));
        // 144 tokens: rows 9 lines apart reach every set.
        assert!(!rows_crowd_l1(xt(144), 256));
        assert!(rows_crowd_l1(xt(144), 257));
        // 16 tokens: already one panel.
        assert!(!rows_crowd_l1(xt(16), 4096));
    }

    #[test]
    fn token_rows_pack_as_their_transpose_does() {
        let mut rng = crate::init::Rng::new(9);
        for (n, k) in [(17, 33), (130, 40), (48, 7), (33, 1), (16, 5), (40, 1024)] {
            let x: Vec<f32> = (0..n * k).map(|_| rng.symmetric(1.0)).collect();
            let mut xt = Vec::new();
            let ldx = super::super::transpose(&mut xt, &x, n, k);
            let mut via_xt = Vec::new();
            let want = pack_tokens(&mut via_xt, Tokens::rows(&xt, ldx), k, n);
            let mut direct = vec![f32::NAN; 5];
            let got = pack_rows(&mut direct, &x, n, k);
            assert_eq!(got.data, want.data, "{n} × {k}");
            assert_eq!((got.ldx, got.block), (want.ldx, want.block));
            assert!(got.holds(ldx, k));
            assert_eq!(
                got.data.as_ptr().align_offset(64),
                0,
                "steps as whole lines"
            );
        }
    }
}
