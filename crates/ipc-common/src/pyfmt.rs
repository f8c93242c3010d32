//! Values printed the way Python's `repr()` prints them, so outputs match the notes.
//!
//! Python's `print` shows containers with the `repr` of their items: strings in quotes,
//! `True`/`False`, `None`, floats as `1.0`. [`PyRepr`] does the same for Rust values:
//!
//! ```
//! use ipc_common::pyfmt::{Dict, PyRepr};
//!
//! assert_eq!((0, "hello", "HELLO").py_repr(), "(0, 'hello', 'HELLO')");
//! assert_eq!(vec!["a", "b"].py_repr(), "['a', 'b']");
//! assert_eq!((7,).py_repr(), "(7,)");
//! assert_eq!(Some(0.1).py_repr(), "0.1");
//! assert_eq!(None::<i32>.py_repr(), "None");
//! assert_eq!(1.0.py_repr(), "1.0");
//! assert_eq!("it's".py_repr(), r#""it's""#);
//!
//! // A dict keeps the order it is given, as Python's dict keeps insertion order.
//! let items = vec![(1, "数据来自进程1".to_string()), (0, "数据来自进程0".to_string())];
//! assert_eq!(Dict(&items).py_repr(), "{1: '数据来自进程1', 0: '数据来自进程0'}");
//! ```
//!
//! `print(x)` of a top-level string shows it *without* quotes (that is `str()`, not `repr()`):
//! print such a string with `{}` as usual, and use `py_repr` for containers and values in them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A value that can be written the way Python's `repr()` writes it.
///
/// Implement [`write_repr`](PyRepr::write_repr); [`py_repr`](PyRepr::py_repr) comes free.
///
/// ```
/// use ipc_common::pyfmt::PyRepr;
///
/// struct Point(i32, i32);
/// impl PyRepr for Point {
///     fn write_repr(&self, out: &mut String) {
///         out.push_str("Point");
///         (self.0, self.1).write_repr(out);
///     }
/// }
/// assert_eq!(vec![Point(1, 2)].py_repr(), "[Point(1, 2)]");
/// ```
pub trait PyRepr {
    /// Appends the Python `repr` of `self` to `out`.
    fn write_repr(&self, out: &mut String);

    /// The Python `repr` of `self` as a new string.
    fn py_repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out);
        out
    }
}

impl<T: PyRepr + ?Sized> PyRepr for &T {
    fn write_repr(&self, out: &mut String) {
        (**self).write_repr(out);
    }
}

impl<T: PyRepr + ?Sized> PyRepr for Box<T> {
    fn write_repr(&self, out: &mut String) {
        (**self).write_repr(out);
    }
}

macro_rules! py_int {
    ($($t:ty),* $(,)?) => { $(
        impl PyRepr for $t {
            fn write_repr(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )* };
}
py_int!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

impl PyRepr for bool {
    /// `True` or `False`.
    fn write_repr(&self, out: &mut String) {
        out.push_str(if *self { "True" } else { "False" });
    }
}

impl PyRepr for () {
    /// The empty tuple, `()`.
    fn write_repr(&self, out: &mut String) {
        out.push_str("()");
    }
}

impl PyRepr for f64 {
    /// Python's shortest round-trip `repr`: `0.1`, `1.0`, `1e+16`, `1.5e-05`, `inf`, `nan`.
    fn write_repr(&self, out: &mut String) {
        write_float(*self, out);
    }
}

/// Writes `x` as Python's `float.__repr__` does (the shortest digits that round-trip, in
/// positional notation when `1e-4 <= |x| < 1e16`, else in exponent notation).
fn write_float(x: f64, out: &mut String) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    // Rust's `{:e}` gives the same shortest round-trip digits as Python: `d.ddde±x`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // Python's `decpt`: the value is 0.DIGITS × 10^decpt.
    let decpt = exp + 1;
    if !(-4 < decpt && decpt <= 16) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else if decpt <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', decpt.unsigned_abs() as usize));
        out.push_str(&digits);
    } else {
        let point = decpt as usize;
        if point < digits.len() {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        } else {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point - digits.len()));
            out.push_str(".0");
        }
    }
}

impl PyRepr for str {
    /// Quoted like Python: single quotes, or double quotes when the text holds `'` but no
    /// `"`; backslashes, the chosen quote and unprintable characters are escaped.
    fn write_repr(&self, out: &mut String) {
        write_str(self, out);
    }
}

impl PyRepr for String {
    fn write_repr(&self, out: &mut String) {
        write_str(self, out);
    }
}

impl PyRepr for char {
    /// A one-character Python string: `'a'`.
    fn write_repr(&self, out: &mut String) {
        write_str(self.encode_utf8(&mut [0; 4]), out);
    }
}

/// Writes `s` as Python's `str.__repr__` does.
fn write_str(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.reserve(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable` for one character, without Unicode tables: the list below is
/// every assigned non-printable character of CPython 3.11 (controls, separators other than the
/// space, format and private-use characters). Unassigned code points, which Python also
/// escapes, are kept as is.
fn is_printable(c: char) -> bool {
    let u = c as u32;
    !(c.is_control()
        || matches!(
            u,
            0xA0 | 0xAD
                | 0x0600..=0x0605
                | 0x061C
                | 0x06DD
                | 0x070F
                | 0x0890..=0x0891
                | 0x08E2
                | 0x1680
                | 0x180E
                | 0x2000..=0x200F
                | 0x2028..=0x202F
                | 0x205F..=0x2064
                | 0x2066..=0x206F
                | 0x3000
                | 0xE000..=0xF8FF
                | 0xFEFF
                | 0xFFF9..=0xFFFB
                | 0x110BD
                | 0x110CD
                | 0x13430..=0x13438
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0001
                | 0xE0020..=0xE007F
                | 0xF0000..=0x10FFFF
        ))
}

impl<T: PyRepr> PyRepr for Option<T> {
    /// `None`, or the value itself.
    fn write_repr(&self, out: &mut String) {
        match self {
            Some(v) => v.write_repr(out),
            None => out.push_str("None"),
        }
    }
}

/// Writes `items` separated by `, ` between `open` and `close`.
fn write_seq<'a, T: PyRepr + 'a>(
    items: impl IntoIterator<Item = &'a T>,
    open: char,
    close: char,
    out: &mut String,
) {
    out.push(open);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        item.write_repr(out);
    }
    out.push(close);
}

impl<T: PyRepr> PyRepr for [T] {
    /// A Python list: `['a', 'b']`.
    fn write_repr(&self, out: &mut String) {
        write_seq(self, '[', ']', out);
    }
}

impl<T: PyRepr, const N: usize> PyRepr for [T; N] {
    /// A Python list: `[1, 2, 3]`.
    fn write_repr(&self, out: &mut String) {
        write_seq(self, '[', ']', out);
    }
}

impl<T: PyRepr> PyRepr for Vec<T> {
    /// A Python list: `['a', 'b']`.
    fn write_repr(&self, out: &mut String) {
        write_seq(self, '[', ']', out);
    }
}

impl<A: PyRepr> PyRepr for (A,) {
    /// A one-element tuple: `(x,)`.
    fn write_repr(&self, out: &mut String) {
        out.push('(');
        self.0.write_repr(out);
        out.push_str(",)");
    }
}

macro_rules! py_tuple {
    ($first:ident $(, $name:ident)+) => {
        impl<$first: PyRepr, $($name: PyRepr),+> PyRepr for ($first, $($name),+) {
            /// A Python tuple: `(0, 'hello', 'HELLO')`.
            #[allow(non_snake_case)]
            fn write_repr(&self, out: &mut String) {
                let ($first, $($name),+) = self;
                out.push('(');
                $first.write_repr(out);
                $(
                    out.push_str(", ");
                    $name.write_repr(out);
                )+
                out.push(')');
            }
        }
    };
}
py_tuple!(A, B);
py_tuple!(A, B, C);
py_tuple!(A, B, C, D);
py_tuple!(A, B, C, D, E);

/// A Python dict made of key-value pairs, printed in the order given (Python's dicts keep
/// insertion order): `{0: '数据来自进程0', 1: '数据来自进程1'}`.
///
/// ```
/// use ipc_common::pyfmt::{Dict, PyRepr};
///
/// assert_eq!(Dict(&[("a", 1), ("b", 2)]).py_repr(), "{'a': 1, 'b': 2}");
/// assert_eq!(Dict::<i32, i32>(&[]).py_repr(), "{}");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Dict<'a, K, V>(pub &'a [(K, V)]);

/// Writes `pairs` as a Python dict.
fn write_dict<K: PyRepr, V: PyRepr>(pairs: impl IntoIterator<Item = (K, V)>, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        k.write_repr(out);
        out.push_str(": ");
        v.write_repr(out);
    }
    out.push('}');
}

impl<K: PyRepr, V: PyRepr> PyRepr for Dict<'_, K, V> {
    fn write_repr(&self, out: &mut String) {
        write_dict(self.0.iter().map(|(k, v)| (k, v)), out);
    }
}

impl<K: PyRepr, V: PyRepr> PyRepr for BTreeMap<K, V> {
    /// A Python dict in key order (the map's own order).
    fn write_repr(&self, out: &mut String) {
        write_dict(self.iter(), out);
    }
}

impl PyRepr for serde_json::Value {
    /// JSON as Python would print the value `json.loads` gives: `null` → `None`, booleans →
    /// `True`/`False`, integers, floats (`1.0`), strings quoted, arrays as lists and objects as
    /// dicts in the map's order.
    ///
    /// ```
    /// use ipc_common::pyfmt::PyRepr;
    ///
    /// let v = serde_json::json!({"a": [1, 2.5, null, true, "x"]});
    /// assert_eq!(v.py_repr(), "{'a': [1, 2.5, None, True, 'x']}");
    /// ```
    fn write_repr(&self, out: &mut String) {
        use serde_json::Value;
        match self {
            Value::Null => out.push_str("None"),
            Value::Bool(b) => b.write_repr(out),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    i.write_repr(out);
                } else if let Some(u) = n.as_u64() {
                    u.write_repr(out);
                } else if let Some(f) = n.as_f64() {
                    f.write_repr(out);
                } else {
                    // Only reachable with serde_json's arbitrary-precision numbers.
                    let _ = write!(out, "{n}");
                }
            }
            Value::String(s) => s.write_repr(out),
            Value::Array(items) => write_seq(items, '[', ']', out),
            Value::Object(map) => write_dict(map.iter(), out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(0u8.py_repr(), "0");
        assert_eq!((-42i64).py_repr(), "-42");
        assert_eq!(u64::MAX.py_repr(), "18446744073709551615");
        assert_eq!(333332833333500000u128.py_repr(), "333332833333500000");
        assert_eq!(i128::MIN.py_repr(), i128::MIN.to_string());
    }

    #[test]
    fn floats_match_python() {
        let cases = [
            (0.1, "0.1"),
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (2.5, "2.5"),
            (100.0, "100.0"),
            (123456.789, "123456.789"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e22, "1e+22"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (0.00001, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1e-100, "1e-100"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for (x, want) in cases {
            assert_eq!(x.py_repr(), want, "repr of {x:e}");
        }
    }

    #[test]
    fn bools_none_unit() {
        assert_eq!(true.py_repr(), "True");
        assert_eq!(false.py_repr(), "False");
        assert_eq!(None::<String>.py_repr(), "None");
        assert_eq!(Some("x").py_repr(), "'x'");
        assert_eq!(().py_repr(), "()");
    }

    #[test]
    fn strings_quote_and_escape_like_python() {
        let cases = [
            ("hello", "'hello'"),
            ("", "''"),
            ("数据来自进程0", "'数据来自进程0'"),
            ("it's", "\"it's\""),
            ("say \"hi\"", "'say \"hi\"'"),
            ("both ' and \"", "'both \\' and \"'"),
            ("back\\slash", "'back\\\\slash'"),
            ("a\nb\tc\rd", "'a\\nb\\tc\\rd'"),
            ("\u{0}\u{7f}\u{1b}", "'\\x00\\x7f\\x1b'"),
            ("\u{a0}\u{ad}", "'\\xa0\\xad'"),
            ("\u{200b}\u{2028}\u{feff}", "'\\u200b\\u2028\\ufeff'"),
            ("\u{100000}", "'\\U00100000'"),
            ("é😀", "'é😀'"),
        ];
        for (s, want) in cases {
            assert_eq!(s.py_repr(), want, "repr of {s:?}");
            assert_eq!(s.to_string().py_repr(), want);
        }
        assert_eq!('a'.py_repr(), "'a'");
        assert_eq!('\''.py_repr(), "\"'\"");
    }

    #[test]
    fn tuples_lists_dicts() {
        assert_eq!((1,).py_repr(), "(1,)");
        assert_eq!(("a",).py_repr(), "('a',)");
        assert_eq!((1, 2).py_repr(), "(1, 2)");
        assert_eq!((0, "hello", "HELLO").py_repr(), "(0, 'hello', 'HELLO')");
        assert_eq!((1, 2.0, 'c', None::<i32>).py_repr(), "(1, 2.0, 'c', None)");
        assert_eq!(Vec::<i32>::new().py_repr(), "[]");
        assert_eq!(vec![5; 5].py_repr(), "[5, 5, 5, 5, 5]");
        assert_eq!(
            ["休眠了 0.1 秒"; 2].py_repr(),
            "['休眠了 0.1 秒', '休眠了 0.1 秒']"
        );
        assert_eq!(vec![vec![1], vec![]].py_repr(), "[[1], []]");
        assert_eq!(vec![(1, 'a')][..].py_repr(), "[(1, 'a')]");
        let pairs: Vec<(i32, String)> = (0..3).map(|i| (i, format!("数据来自进程{i}"))).collect();
        assert_eq!(
            Dict(&pairs).py_repr(),
            "{0: '数据来自进程0', 1: '数据来自进程1', 2: '数据来自进程2'}"
        );
        let map: BTreeMap<&str, Vec<bool>> = [("b", vec![true]), ("a", vec![])].into();
        assert_eq!(map.py_repr(), "{'a': [], 'b': [True]}");
        assert_eq!((&&7).py_repr(), "7");
        assert_eq!(Box::new("x").py_repr(), "'x'");
    }

    #[test]
    fn json_values() {
        use serde_json::json;
        assert_eq!(json!(null).py_repr(), "None");
        assert_eq!(json!(true).py_repr(), "True");
        assert_eq!(json!(-3).py_repr(), "-3");
        assert_eq!(json!(u64::MAX).py_repr(), "18446744073709551615");
        assert_eq!(json!(1.0).py_repr(), "1.0");
        assert_eq!(json!(0.1).py_repr(), "0.1");
        assert_eq!(json!("it's").py_repr(), "\"it's\"");
        assert_eq!(json!([1, "a", [], {}]).py_repr(), "[1, 'a', [], {}]");
        assert_eq!(
            json!({"k": {"n": null}, "a": 1}).py_repr(),
            "{'a': 1, 'k': {'n': None}}"
        );
    }
}
