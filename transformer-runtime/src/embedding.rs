//! What enters a stack besides its input rows: lookup tables (token embeddings, token types,
//! learned positions) and sinusoidal positions. Attention alone sees a set; positions give it
//! the order.

use crate::error::ForwardError;
use crate::heap::Matrix;
use crate::init::Rng;

/// A table of `ROWS` learned vectors of width `D`: PyTorch's `nn.Embedding(ROWS, D)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding<const ROWS: usize, const D: usize> {
    /// `[ROWS][D]`: row `r` is the vector of id (or position) `r`.
    pub weight: Matrix<ROWS, D>,
}

impl<const ROWS: usize, const D: usize> Embedding<ROWS, D> {
    /// Learned numbers: `ROWS·D`.
    pub const PARAMETERS: usize = ROWS * D;

    /// All zeros.
    pub fn zeroed() -> Self {
        Self {
            weight: Matrix::zeroed(),
        }
    }

    /// Xavier-uniform over the `[ROWS][D]` table.
    pub fn xavier(rng: &mut Rng) -> Self {
        let mut table = Self::zeroed();
        rng.fill_xavier(table.weight.as_flattened_mut(), D, ROWS);
        table
    }

    /// Adds rows `first, first + 1, …` to the token rows of `x` (`[n][D]`): learned positions.
    /// The caller has checked `first + n ≤ ROWS`; rows past the table are left unchanged.
    pub fn add_rows(&self, x: &mut [[f32; D]], first: usize) {
        let table = self.weight.get(first..).unwrap_or_default();
        for (row, learned) in x.iter_mut().zip(table) {
            for (v, l) in row.iter_mut().zip(learned) {
                *v += l;
            }
        }
    }

    /// Adds row `row` to every token row of `x`: token type 0 for a whole sequence. A row past
    /// the table leaves `x` unchanged.
    pub fn add_row(&self, x: &mut [[f32; D]], row: usize) {
        if let Some(learned) = self.weight.get(row) {
            for token in x {
                for (v, l) in token.iter_mut().zip(learned) {
                    *v += l;
                }
            }
        }
    }

    /// Adds row `ids[t]` to token row `t` of `x`; an id `≥ ROWS` is an error naming it and
    /// its position, and leaves `x` partly updated.
    pub fn add_ids(
        &self,
        x: &mut [[f32; D]],
        ids: &[u32],
        table: &'static str,
    ) -> Result<(), ForwardError> {
        for (position, (row, &id)) in x.iter_mut().zip(ids).enumerate() {
            let learned = self
                .weight
                .get(id as usize)
                .ok_or(ForwardError::IdOutOfRange {
                    table,
                    id,
                    position,
                    rows: ROWS,
                })?;
            for (v, l) in row.iter_mut().zip(learned) {
                *v += l;
            }
        }
        Ok(())
    }
}

/// For a model without a token-type table: every token type must be 0 (the one implicit,
/// all-zero type), or it is an error naming the first that is not.
pub fn check_types_without_table(types: &[u32]) -> Result<(), ForwardError> {
    match types.iter().position(|&t| t != 0) {
        Some(position) => Err(ForwardError::IdOutOfRange {
            table: "token type",
            id: types[position],
            position,
            rows: 1,
        }),
        None => Ok(()),
    }
}

/// The sinusoidal encoding of "Attention Is All You Need" (§3.5) for position `pos`:
/// `PE[2i] = sin(pos / 10000^(2i/D))`, `PE[2i+1] = cos(pos / 10000^(2i/D))`.
pub fn sinusoidal<const D: usize>(pos: usize) -> [f32; D] {
    std::array::from_fn(|feature| {
        let pair = (feature / 2 * 2) as f64;
        // Computed in f64 so positions near max_len keep their low bits.
        let angle = pos as f64 / 10_000f64.powf(pair / D as f64);
        if feature % 2 == 0 {
            angle.sin() as f32
        } else {
            angle.cos() as f32
        }
    })
}

/// Adds the sinusoidal encoding to each token row: row `t` of `x` (`[n][D]`) sits at
/// position `first + t`.
pub fn add_sinusoidal<const D: usize>(x: &mut [[f32; D]], first: usize) {
    for (t, row) in x.iter_mut().enumerate() {
        let pe = sinusoidal::<D>(first + t);
        for (v, p) in row.iter_mut().zip(pe) {
            *v += p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counting_table() -> Embedding<3, 2> {
        let mut table = Embedding::<3, 2>::zeroed();
        *table.weight = [[0.0, 1.0], [10.0, 11.0], [20.0, 21.0]];
        table
    }

    #[test]
    fn add_rows_starts_at_the_first_position() {
        let mut x = [[1.0f32; 2]; 2];
        counting_table().add_rows(&mut x, 1);
        assert_eq!(x, [[11.0, 12.0], [21.0, 22.0]]);
    }

    #[test]
    fn add_ids_looks_up_each_token() {
        let mut x = [[0.0f32; 2]; 3];
        counting_table()
            .add_ids(&mut x, &[2, 0, 2], "token")
            .unwrap();
        assert_eq!(x, [[20.0, 21.0], [0.0, 1.0], [20.0, 21.0]]);
    }

    #[test]
    fn add_row_adds_one_row_everywhere() {
        let mut x = [[1.0f32; 2]; 2];
        counting_table().add_row(&mut x, 1);
        assert_eq!(x, [[11.0, 12.0]; 2]);
    }

    #[test]
    fn without_a_type_table_only_type_zero_is_valid() {
        assert!(check_types_without_table(&[0, 0]).is_ok());
        let err = check_types_without_table(&[0, 1]).unwrap_err();
        assert_eq!(
            err,
            ForwardError::IdOutOfRange {
                table: "token type",
                id: 1,
                position: 1,
                rows: 1
            }
        );
    }

    #[test]
    fn an_id_past_the_table_is_an_error_naming_it() {
        let mut x = [[0.0f32; 2]; 2];
        let err = counting_table()
            .add_ids(&mut x, &[1, 3], "token")
            .unwrap_err();
        assert_eq!(
            err,
            ForwardError::IdOutOfRange {
                table: "token",
                id: 3,
                position: 1,
                rows: 3
            }
        );
    }

    #[test]
    fn position_zero_is_sin_zero_cos_zero() {
        assert_eq!(sinusoidal::<4>(0), [0.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn matches_the_paper_formula() {
        let pe = sinusoidal::<6>(3);
        for i in 0..3 {
            let angle = 3.0 / 10_000f64.powf(2.0 * i as f64 / 6.0);
            assert!((f64::from(pe[2 * i]) - angle.sin()).abs() < 1e-7);
            assert!((f64::from(pe[2 * i + 1]) - angle.cos()).abs() < 1e-7);
        }
    }

    #[test]
    fn odd_widths_end_on_a_sine() {
        let pe = sinusoidal::<3>(1);
        let angle = 1.0 / 10_000f64.powf(2.0 / 3.0);
        assert!((f64::from(pe[2]) - angle.sin()).abs() < 1e-7);
    }

    #[test]
    fn rows_are_offset_by_their_first_position() {
        let mut x = [[0.0f32; 4]; 2];
        add_sinusoidal(&mut x, 5);
        assert_eq!(x[1], sinusoidal::<4>(6));
    }
}
