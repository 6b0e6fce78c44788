//! What a tensor info says about a tensor: its name, dims, type and where its bytes are.

use super::GgmlType;

/// The most dimensions a ggml tensor has (`GGML_MAX_DIMS`).
pub(super) const MAX_DIMS: u32 = 4;

/// One tensor of a [`GgufFile`](super::GgufFile), as its tensor info describes it. Opening the
/// file checked every field: the dims multiply without overflow, rows hold whole blocks, and
/// the bytes lie inside the file, aligned, overlapping no other tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub(super) name: String,
    pub(super) dims: Vec<usize>,
    pub(super) ggml_type: GgmlType,
    pub(super) offset: u64,
    pub(super) n_values: usize,
    pub(super) byte_size: usize,
}

impl TensorInfo {
    /// The tensor's name: `token_embd.weight`, `blk.0.attn_q.weight`, ...
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The dims in GGUF (ggml) order, `ne0` first: `ne0` is the length of a row, the index
    /// that changes fastest in memory. A PyTorch `[out, in]` weight has dims `[in, out]`.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The dims reversed: the row-major shape that PyTorch and `load` use, `[out, in]` for a
    /// weight. [`GgufFile::read_f32`](super::GgufFile::read_f32) fills values in this order.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().copied().collect()
    }

    /// How the values are stored.
    pub fn ggml_type(&self) -> GgmlType {
        self.ggml_type
    }

    /// Where the bytes start, counted from the start of the data section.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The number of values: the product of the dims (1 for no dims).
    pub fn n_values(&self) -> usize {
        self.n_values
    }

    /// The bytes the tensor takes in the file: blocks × bytes per block.
    pub fn byte_size(&self) -> usize {
        self.byte_size
    }
}

/// The number of values and of bytes of a tensor with `dims` of type `ty`, or what is wrong:
/// a dim that does not fit a `usize`, a product that overflows, or rows (`dims[0]` values)
/// that do not hold whole blocks.
pub(super) fn sizes(name: &str, dims: &[u64], ty: GgmlType) -> Result<(usize, usize), String> {
    let overflow = || format!("tensor \"{name}\" has dims {dims:?}, whose product overflows");
    let n_values = dims.iter().try_fold(1usize, |n, &d| {
        usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
    });
    let n_values = n_values.ok_or_else(overflow)?;
    let row = dims.first().map_or(Some(1), |&d| usize::try_from(d).ok());
    let block = ty.block_size();
    if row.is_none_or(|row| !row.is_multiple_of(block)) {
        return Err(format!(
            "tensor \"{name}\" is {ty}, stored in blocks of {block} values, but its rows \
             (dims[0]) have {} values",
            dims.first().copied().unwrap_or(1)
        ));
    }
    let byte_size = (n_values / block)
        .checked_mul(ty.block_bytes())
        .ok_or_else(overflow)?;
    Ok((n_values, byte_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_whole_blocks() {
        assert_eq!(sizes("w", &[64, 3], GgmlType::Q8_0), Ok((192, 6 * 34)));
        assert_eq!(sizes("s", &[], GgmlType::F32), Ok((1, 4)));
        assert_eq!(sizes("e", &[0, 5], GgmlType::F16), Ok((0, 0)));
    }

    #[test]
    fn overflow_and_partial_blocks_are_named() {
        let err = sizes("w", &[1 << 40, 1 << 40], GgmlType::F32).unwrap_err();
        assert_eq!(
            err,
            "tensor \"w\" has dims [1099511627776, 1099511627776], whose product overflows"
        );
        let err = sizes("w", &[48, 2], GgmlType::Q4_K).unwrap_err();
        assert!(err.contains("blocks of 256 values, but its rows (dims[0]) have 48"));
        assert!(sizes("s", &[], GgmlType::Q8_0).is_err());
    }

    #[test]
    fn shape_reverses_the_dims() {
        let info = TensorInfo {
            name: "w".into(),
            dims: vec![576, 192],
            ggml_type: GgmlType::Q4_1,
            offset: 0,
            n_values: 576 * 192,
            byte_size: 576 * 192 / 32 * 20,
        };
        assert_eq!(info.shape(), [192, 576]);
        assert_eq!(info.dims(), [576, 192]);
    }
}
