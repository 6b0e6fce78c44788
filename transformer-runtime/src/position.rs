//! Positional encodings: attention alone sees a set, these give it the order.

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
