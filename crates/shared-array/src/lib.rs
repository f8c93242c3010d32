//! Note 6.1's support: printing a 2-D `f64` array the way numpy's `print(array)` does.
//!
//! numpy pads every element to the width of the widest, separates them with one space, and
//! writes whole numbers as `0.`, `120.`:
//!
//! ```
//! use ndarray::array;
//! use shared_array::numpy_lines;
//!
//! let a = array![[0.0, 1.0, 2.0], [10.0, 11.0, 120.0]];
//! assert_eq!(numpy_lines(&a.view()), ["[[  0.   1.   2.]", " [ 10.  11. 120.]]"]);
//! ```
//!
//! Scope: numpy's default print options (`precision=8`, `floatmode='maxprec'`), for arrays
//! whose rows fit numpy's 75-character line and whose values need no exponent (numpy
//! switches to `1.e+16` notation beyond 1e16 or below 1e-4, and wraps long rows): exactly
//! what the notes print.

use ndarray::ArrayView2;

/// numpy's default `precision`: at most this many digits after the point.
const PRECISION: usize = 8;

/// One element's text: integer part with sign, and the digits after the point (maybe none).
fn parts(x: f64) -> (String, String) {
    let text = format!("{x:.PRECISION$}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    (int.to_string(), frac.trim_end_matches('0').to_string())
}

/// The lines numpy prints for a 2-D array of `f64` (`print(a)`), one string per line.
pub fn numpy_lines(a: &ArrayView2<'_, f64>) -> Vec<String> {
    let cells: Vec<Vec<(String, String)>> = a
        .rows()
        .into_iter()
        .map(|row| row.iter().map(|&x| parts(x)).collect())
        .collect();
    // Every element gets the same width: widest integer part, point, longest fraction
    // (shorter fractions are padded with spaces on the right, as numpy does).
    let all = || cells.iter().flatten();
    let int_width = all().map(|(i, _)| i.chars().count()).max().unwrap_or(0);
    let frac_width = all().map(|(_, f)| f.len()).max().unwrap_or(0);
    let rows = cells.len();
    cells
        .iter()
        .enumerate()
        .map(|(r, row)| {
            let items: Vec<String> = row
                .iter()
                .map(|(int, frac)| format!("{int:>int_width$}.{frac:<frac_width$}"))
                .collect();
            let open = if r == 0 { "[[" } else { " [" };
            let close = if r + 1 == rows { "]]" } else { "]" };
            format!("{open}{}{close}", items.join(" "))
        })
        .collect()
}

/// [`numpy_lines`] joined with newlines: the text of `print(a)` without its final newline.
pub fn numpy_str(a: &ArrayView2<'_, f64>) -> String {
    numpy_lines(a).join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn zeros_as_numpy_prints_them() {
        let a = Array2::<f64>::zeros((3, 5));
        assert_eq!(
            numpy_str(&a.view()),
            "[[0. 0. 0. 0. 0.]\n [0. 0. 0. 0. 0.]\n [0. 0. 0. 0. 0.]]"
        );
    }

    #[test]
    fn note_6_1_final_array() {
        let a = Array2::from_shape_fn((10, 5), |(i, j)| {
            let p = (i / 2).min(3);
            (p * 100 + i * 10 + j) as f64
        });
        let lines = numpy_lines(&a.view());
        assert_eq!(lines[0], "[[  0.   1.   2.   3.   4.]");
        assert_eq!(lines[1], " [ 10.  11.  12.  13.  14.]");
        assert_eq!(lines[2], " [120. 121. 122. 123. 124.]");
        assert_eq!(lines[9], " [390. 391. 392. 393. 394.]]");
        assert_eq!(lines.len(), 10);
    }

    #[test]
    fn fractions_negatives_and_single_row() {
        // numpy: print(np.array([[1.5, 2.25], [-3.0, 0.0]]))
        let a = array![[1.5, 2.25], [-3.0, 0.0]];
        assert_eq!(
            numpy_lines(&a.view()),
            ["[[ 1.5   2.25]", " [-3.    0.  ]]"]
        );
        // numpy: print(np.array([[7.0]]))
        assert_eq!(numpy_str(&array![[7.0]].view()), "[[7.]]");
        // numpy keeps the sign of a negative zero: print(np.array([[-0.0, 1.0]]))
        assert_eq!(numpy_str(&array![[-0.0, 1.0]].view()), "[[-0.  1.]]");
    }
}
