//! [`ShareableList`]: Python's `ShareableList`, byte for byte in Python's layout.
//!
//! The layout is described on [`ShareableList`].

use std::fmt::{self, Write as _};

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::{CreateOptions, SharedMemory, SharedMemoryError};
use crate::pyfmt::PyRepr;

/// Python's `_alignment`: every slot is a multiple of 8 bytes.
const ALIGN: usize = 8;
/// The longest `str`/`bytes` slot: its format `"9999999s"` must fit in 8 bytes.
const MAX_SLOT: usize = 9_999_999;

const FORMAT_BOOL: &str = "xxxxxxx?";
const FORMAT_NONE: &str = "xxxxxx?x";

/// One item of a [`ShareableList`]: the Python types a `ShareableList` can hold.
///
/// Numbers and text convert with `into()`: `Item::from(5)`, `"text".into()`, `().into()` for
/// `None`.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// Python's `int`, within a signed 64-bit integer (as `struct`'s `q`).
    Int(i64),
    /// Python's `float`.
    Float(f64),
    /// Python's `bool`.
    Bool(bool),
    /// Python's `str`.
    Str(String),
    /// Python's `bytes`.
    Bytes(Vec<u8>),
    /// Python's `None`.
    None,
}

impl Item {
    /// The `struct` format Python stores for this item, and its slot size.
    fn format(&self) -> (String, usize) {
        match self {
            Item::Int(_) => ("q".into(), ALIGN),
            Item::Float(_) => ("d".into(), ALIGN),
            Item::Bool(_) => (FORMAT_BOOL.into(), ALIGN),
            Item::None => (FORMAT_NONE.into(), ALIGN),
            Item::Str(s) => string_format(s.len()),
            Item::Bytes(b) => string_format(b.len()),
        }
    }

    /// Python's "recreation code".
    fn code(&self) -> u8 {
        match self {
            Item::Int(_) | Item::Float(_) | Item::Bool(_) => 0,
            Item::Str(_) => 1,
            Item::Bytes(_) => 2,
            Item::None => 3,
        }
    }

    /// The bytes Python's `struct.pack(format, value)` writes into a slot of `slot` bytes.
    fn payload(&self, slot: usize) -> Vec<u8> {
        let mut out = match self {
            Item::Int(i) => i.to_ne_bytes().to_vec(),
            Item::Float(f) => f.to_ne_bytes().to_vec(),
            Item::Bool(b) => vec![0, 0, 0, 0, 0, 0, 0, u8::from(*b)],
            Item::None => vec![0; ALIGN],
            Item::Str(s) => s.as_bytes().to_vec(),
            Item::Bytes(b) => b.clone(),
        };
        out.resize(slot.max(out.len()), 0);
        out
    }

    /// The `str`/`bytes` payload length, for the fit check.
    fn text_len(&self) -> Option<usize> {
        match self {
            Item::Str(s) => Some(s.len()),
            Item::Bytes(b) => Some(b.len()),
            _ => None,
        }
    }

    /// Python's `==` between two items: numbers (`int`, `float`, `bool`) compare by value
    /// across types (`1 == 1.0 == True`), `str` and `bytes` never equal each other.
    pub fn py_eq(&self, other: &Item) -> bool {
        match (self.as_number(), other.as_number()) {
            (Some(a), Some(b)) => a.eq(&b),
            (None, None) => self == other,
            _ => false,
        }
    }

    fn as_number(&self) -> Option<Number> {
        match *self {
            Item::Int(i) => Some(Number::Int(i)),
            Item::Bool(b) => Some(Number::Int(i64::from(b))),
            Item::Float(f) => Some(Number::Float(f)),
            _ => None,
        }
    }
}

/// A number, for Python's exact comparison of `int` with `float`.
enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    fn eq(&self, other: &Number) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a == b,
            (Number::Int(i), Number::Float(f)) | (Number::Float(f), Number::Int(i)) => {
                // Exact, as Python compares: the float must be that very integer.
                f.is_finite()
                    && f.fract() == 0.0
                    && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(f)
                    && *f as i64 == *i
            }
        }
    }
}

fn string_format(len: usize) -> (String, usize) {
    let slot = ALIGN * (len / ALIGN + 1);
    (format!("{slot}s"), slot)
}

macro_rules! item_from {
    ($($t:ty => $variant:ident),* $(,)?) => { $(
        impl From<$t> for Item {
            fn from(value: $t) -> Self {
                Item::$variant(value.into())
            }
        }
    )* };
}
item_from!(
    i64 => Int, i32 => Int, i16 => Int, i8 => Int, u32 => Int, u16 => Int, u8 => Int,
    f64 => Float, f32 => Float, bool => Bool,
    String => Str, &str => Str, Vec<u8> => Bytes, &[u8] => Bytes,
);

impl From<()> for Item {
    /// Python's `None`.
    fn from((): ()) -> Self {
        Item::None
    }
}

impl<T: Into<Item>> From<Option<T>> for Item {
    /// `None`, or the value.
    fn from(value: Option<T>) -> Self {
        value.map_or(Item::None, Into::into)
    }
}

impl PyRepr for Item {
    /// As Python prints the value: `1`, `2.5`, `True`, `'text'`, `b'bytes'`, `None`.
    fn write_repr(&self, out: &mut String) {
        match self {
            Item::Int(i) => i.write_repr(out),
            Item::Float(f) => f.write_repr(out),
            Item::Bool(b) => b.write_repr(out),
            Item::Str(s) => s.write_repr(out),
            Item::Bytes(b) => write_bytes(b, out),
            Item::None => out.push_str("None"),
        }
    }
}

/// Writes `b` as Python's `bytes.__repr__` does.
fn write_bytes(b: &[u8], out: &mut String) {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    out.push('b');
    out.push(quote);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c if char::from(c) == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(char::from(c)),
            c => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push(quote);
}

/// A fixed-length list of ints, floats, bools, strs, bytes and `None` in one named
/// [`SharedMemory`] segment: Python's `multiprocessing.shared_memory.ShareableList`, in
/// Python's exact layout (see [Layout](#layout)), so a list made by Python is read here and
/// the other way round.
///
/// Like Python's, it has no lock: two processes that set the *same* item at once may leave
/// it torn (a reader may then get [`NotUtf8`](SharedMemoryError::NotUtf8) for a string), and
/// a reader may see a half-written item. Items are always read and written through atomic
/// byte copies, so even a torn item is never undefined behaviour, only a wrong value or an
/// error. Guard items that several processes change with a lock.
///
/// The segment lives as any [`SharedMemory`] does: until [`unlink`](SharedMemory::unlink)
/// (through [`shm`](ShareableList::shm)), or until no process uses it.
///
/// # Layout
///
/// As CPython's `multiprocessing/shared_memory.py` writes it.
///
/// For `n` items, native byte order (little-endian on x86-64 and AArch64), no padding:
///
/// ```text
/// [n: i64]                                      8 bytes
/// [offsets[0..=n]: i64]                         8 × (n + 1): where each item's slot starts,
///                                               counted from the data area; offsets[0] = 0
/// [data area]                                   offsets[n] bytes: item i in
///                                               offsets[i]..offsets[i + 1]
/// [formats: n × 8 bytes]                        each item's `struct` format, NUL-padded
/// [codes: n × i8]                               how to turn the unpacked value back
/// ```
///
/// | item | format | slot | code |
/// |---|---|---|---|
/// | `int` (`i64`) | `q` | 8 | 0 |
/// | `float` (`f64`) | `d` | 8 | 0 |
/// | `bool` | `xxxxxxx?` (the flag is byte 7) | 8 | 0 |
/// | `None` | `xxxxxx?x` (8 zero bytes) | 8 | 3 |
/// | `str` (UTF-8) | `Ns` | N = 8 × (len / 8 + 1) | 1 |
/// | `bytes` | `Ns` | N = 8 × (len / 8 + 1) | 2 |
///
/// A `str` or `bytes` value is padded with NULs to its slot and read back with its trailing
/// NULs stripped (so, as in Python, trailing NULs of a value are lost). A slot never changes
/// size: a new `str`/`bytes` must fit the slot of the item it replaces (any slot holds 8 bytes),
/// and a number may replace anything.
///
/// One deliberate difference: Python sizes a `str`'s slot by its number of *characters* and
/// silently cuts a non-ASCII string whose UTF-8 form is longer; this module sizes it by its
/// UTF-8 bytes. The layout is the same, and Python reads such a list correctly.
///
/// # Example
///
/// ```
/// use ipc_common::Process;
/// use ipc_common::shared_memory::{Item, ShareableList};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // ShareableList([1, 2.5, True, 'howdy', b'HoWdY', None])
/// let list = ShareableList::new(&[
///     1.into(),
///     2.5.into(),
///     true.into(),
///     "howdy".into(),
///     b"HoWdY".as_slice().into(),
///     ().into(),
/// ])?;
/// let name = list.shm().name().to_string();
/// let child = Process::start("editor", || {
///     let same = ShareableList::attach(&name).expect("attach"); // ShareableList(name=name)
///     same.set(0, -7).expect("set"); // sl[0] = -7
///     same.set(3, "hi").expect("set"); // a shorter str fits the slot
/// })?;
/// assert_eq!(child.join()?, 0);
/// assert_eq!(list.get(0)?, Item::Int(-7));
/// assert_eq!(list.get(3)?, Item::Str("hi".into()));
/// assert_eq!(list.format()?, "qdxxxxxxx?8s8sxxxxxx?x");
/// list.shm().unlink()?;
/// # Ok(()) }
/// ```
pub struct ShareableList {
    shm: SharedMemory,
    /// Python's `_allocated_offsets`: `len + 1` slot starts, from the data area, read once.
    offsets: Vec<usize>,
}

impl ShareableList {
    /// A new list holding `items`, in a new segment with a fresh name (Python's
    /// `ShareableList(items)`).
    ///
    /// # Errors
    ///
    /// [`TooLong`](SharedMemoryError::TooLong) for a `str`/`bytes` of more than 9 999 991
    /// bytes (its format would not fit 8 bytes); the errors of [`SharedMemory::create`].
    pub fn new(items: &[Item]) -> Result<Self, SharedMemoryError> {
        Self::create(&SharedMemory::options(), items)
    }

    /// A new list holding `items`, in a new segment named `name` (Python's
    /// `ShareableList(items, name=name)`).
    ///
    /// # Errors
    ///
    /// As [`new`](ShareableList::new), and the errors of [`SharedMemory::create_named`].
    pub fn create_named(name: &str, items: &[Item]) -> Result<Self, SharedMemoryError> {
        Self::create(&SharedMemory::options().name(name), items)
    }

    /// A new list holding `items`, in a new segment made with `options`.
    ///
    /// # Errors
    ///
    /// As [`new`](ShareableList::new).
    pub fn create(options: &CreateOptions, items: &[Item]) -> Result<Self, SharedMemoryError> {
        let mut formats = Vec::with_capacity(items.len());
        let mut offsets = vec![0usize];
        for (index, item) in items.iter().enumerate() {
            let (format, slot) = item.format();
            if slot > MAX_SLOT {
                return Err(SharedMemoryError::TooLong {
                    index,
                    len: item.text_len().unwrap_or(slot),
                    room: MAX_SLOT - 1,
                });
            }
            formats.push(format);
            offsets.push(offsets[index] + slot);
        }
        let n = items.len();
        let layout = Layout::new(n, &offsets);
        // The whole list, written before the segment gets its name: nobody attaches to a
        // half-written list.
        let mut image = Vec::with_capacity(layout.size);
        image.extend_from_slice(&(n as i64).to_ne_bytes());
        for &offset in &offsets {
            image.extend_from_slice(&(offset as i64).to_ne_bytes());
        }
        for (i, item) in items.iter().enumerate() {
            image.extend_from_slice(&item.payload(offsets[i + 1] - offsets[i]));
        }
        for format in &formats {
            image.extend_from_slice(&padded_format(format));
        }
        image.extend(items.iter().map(Item::code));
        debug_assert_eq!(image.len(), layout.size);
        let shm = options.create_with(layout.size, &image)?;
        Ok(Self { shm, offsets })
    }

    /// Attaches to the list in the segment `name` (Python's `ShareableList(name=name)`),
    /// made by Python or by this module.
    ///
    /// # Errors
    ///
    /// The errors of [`SharedMemory::attach`];
    /// [`Corrupt`](SharedMemoryError::Corrupt) if the segment does not hold a list in Python's
    /// layout.
    pub fn attach(name: &str) -> Result<Self, SharedMemoryError> {
        Self::from_shared_memory(SharedMemory::attach(name)?)
    }

    /// The list held by `shm` (a segment received from another process, say).
    ///
    /// # Errors
    ///
    /// [`Corrupt`](SharedMemoryError::Corrupt) if its bytes are not a list in Python's layout:
    /// every length and offset is checked against the segment's size, so no later access can
    /// go past it.
    pub fn from_shared_memory(shm: SharedMemory) -> Result<Self, SharedMemoryError> {
        let corrupt = |why: String| SharedMemoryError::Corrupt {
            name: shm.name().to_string(),
            why,
        };
        let size = shm.size();
        let n = read_i64(&shm, 0)?;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| {
                n.checked_add(2)
                    .and_then(|m| m.checked_mul(8))
                    .is_some_and(|h| h <= size)
            })
            .ok_or_else(|| corrupt(format!("a length of {n} does not fit {size} bytes")))?;
        let mut offsets = Vec::with_capacity(n + 1);
        for i in 0..=n {
            let offset = read_i64(&shm, 8 * (i + 1))?;
            let offset = usize::try_from(offset)
                .map_err(|_| corrupt(format!("item {i} starts at offset {offset}")))?;
            if i == 0 && offset != 0 {
                return Err(corrupt(format!("the first item starts at {offset}, not 0")));
            }
            if let Some(&before) = offsets.last()
                && offset < before + ALIGN
            {
                return Err(corrupt(format!(
                    "item {} has a slot of {} bytes",
                    i - 1,
                    offset.wrapping_sub(before)
                )));
            }
            offsets.push(offset);
        }
        let end = offsets[n]
            .checked_add(8 * (n + 2))
            .and_then(|e| e.checked_add(9 * n));
        if end.is_none_or(|end| end > size) {
            return Err(corrupt(format!(
                "{n} items with {} bytes of data do not fit {size} bytes",
                offsets[n]
            )));
        }
        Ok(Self { shm, offsets })
    }

    /// The number of items (Python's `len(sl)`); it never changes.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether the list has no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Another handle to the same list (see [`SharedMemory::try_clone`]), to give to a child
    /// while keeping this one.
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::try_clone`].
    pub fn try_clone(&self) -> Result<Self, SharedMemoryError> {
        Ok(Self {
            shm: self.shm.try_clone()?,
            offsets: self.offsets.clone(),
        })
    }

    /// The segment that holds the list (Python's `sl.shm`): its name, and `unlink`.
    pub fn shm(&self) -> &SharedMemory {
        &self.shm
    }

    /// Item `index` (Python's `sl[index]`; count from the end with `len() - k`).
    ///
    /// # Errors
    ///
    /// [`IndexOutOfRange`](SharedMemoryError::IndexOutOfRange) (Python's `IndexError`);
    /// [`NotUtf8`](SharedMemoryError::NotUtf8) for a `str` that is not UTF-8 (a torn write,
    /// or bytes written by a foreign program); [`Corrupt`](SharedMemoryError::Corrupt) for a
    /// format or code Python never writes.
    pub fn get(&self, index: usize) -> Result<Item, SharedMemoryError> {
        let layout = self.check(index)?;
        let format = self.read_format(&layout, index)?;
        let mut code = [0u8];
        self.shm.read_at(layout.codes + index, &mut code)?;
        let at = layout.data + self.offsets[index];
        let slot = self.offsets[index + 1] - self.offsets[index];
        let corrupt = |why: String| SharedMemoryError::Corrupt {
            name: self.shm.name().to_string(),
            why: format!("item {index}: {why}"),
        };
        let word = || -> Result<[u8; 8], SharedMemoryError> {
            let mut word = [0u8; 8];
            self.shm.read_at(at, &mut word)?;
            Ok(word)
        };
        // Python unpacks with the format, then applies the code's back-transformation.
        match (code[0], format.as_str()) {
            (3, _) => Ok(Item::None),
            (0, "q") => Ok(Item::Int(i64::from_ne_bytes(word()?))),
            (0, "d") => Ok(Item::Float(f64::from_ne_bytes(word()?))),
            (0, FORMAT_BOOL) => Ok(Item::Bool(word()?[7] != 0)),
            (0, FORMAT_NONE) => Ok(Item::Bool(word()?[6] != 0)),
            (code @ 0..=2, format) if format.ends_with('s') => {
                let len = format[..format.len() - 1]
                    .parse::<usize>()
                    .ok()
                    .filter(|&len| len <= slot)
                    .ok_or_else(|| corrupt(format!("format {format:?} in a slot of {slot}")))?;
                let mut bytes = vec![0u8; len];
                self.shm.read_at(at, &mut bytes)?;
                if code == 0 {
                    return Ok(Item::Bytes(bytes));
                }
                let kept = bytes
                    .iter()
                    .rposition(|&b| b != 0)
                    .map_or(0, |last| last + 1);
                bytes.truncate(kept);
                if code == 2 {
                    return Ok(Item::Bytes(bytes));
                }
                String::from_utf8(bytes)
                    .map(Item::Str)
                    .map_err(|_| SharedMemoryError::NotUtf8 { index })
            }
            (code, format) => Err(corrupt(format!("code {code} with format {format:?}"))),
        }
    }

    /// Replaces item `index` (Python's `sl[index] = value`). A `str` or `bytes` must fit the
    /// item's slot (see [Layout](ShareableList#layout)); numbers, bools and `None` always fit.
    ///
    /// # Errors
    ///
    /// [`IndexOutOfRange`](SharedMemoryError::IndexOutOfRange);
    /// [`TooLong`](SharedMemoryError::TooLong) (Python's `ValueError: bytes/str item exceeds
    /// available storage`).
    pub fn set(&self, index: usize, value: impl Into<Item>) -> Result<(), SharedMemoryError> {
        let item = value.into();
        let layout = self.check(index)?;
        let slot = self.offsets[index + 1] - self.offsets[index];
        let format = match item.text_len() {
            Some(len) if len > slot => {
                return Err(SharedMemoryError::TooLong {
                    index,
                    len,
                    room: slot,
                });
            }
            Some(_) => format!("{slot}s"),
            None => item.format().0,
        };
        // Python's order: the format and the code, then the value.
        self.shm
            .write_at(layout.formats + 8 * index, &padded_format(&format))?;
        self.shm.write_at(layout.codes + index, &[item.code()])?;
        let payload = item.payload(if item.text_len().is_some() {
            slot
        } else {
            ALIGN
        });
        self.shm
            .write_at(layout.data + self.offsets[index], &payload)
    }

    /// Every item, in order (Python's `list(sl)`).
    ///
    /// # Errors
    ///
    /// As [`get`](ShareableList::get).
    pub fn to_vec(&self) -> Result<Vec<Item>, SharedMemoryError> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }

    /// The `struct` formats of all items, joined (Python's `sl.format`).
    ///
    /// # Errors
    ///
    /// [`Corrupt`](SharedMemoryError::Corrupt) if a format is not ASCII.
    pub fn format(&self) -> Result<String, SharedMemoryError> {
        let layout = Layout::new(self.len(), &self.offsets);
        (0..self.len())
            .map(|i| self.read_format(&layout, i))
            .collect()
    }

    /// How many items equal `value` by Python's `==` (Python's `sl.count(value)`): see
    /// [`Item::py_eq`].
    ///
    /// # Errors
    ///
    /// As [`get`](ShareableList::get).
    pub fn count(&self, value: &Item) -> Result<usize, SharedMemoryError> {
        let mut n = 0;
        for i in 0..self.len() {
            n += usize::from(self.get(i)?.py_eq(value));
        }
        Ok(n)
    }

    /// The first index whose item equals `value` by Python's `==`, or `None` (Python's
    /// `sl.index(value)`, which raises `ValueError` instead).
    ///
    /// # Errors
    ///
    /// As [`get`](ShareableList::get).
    pub fn index(&self, value: &Item) -> Result<Option<usize>, SharedMemoryError> {
        for i in 0..self.len() {
            if self.get(i)?.py_eq(value) {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    fn check(&self, index: usize) -> Result<Layout, SharedMemoryError> {
        if index < self.len() {
            Ok(Layout::new(self.len(), &self.offsets))
        } else {
            Err(SharedMemoryError::IndexOutOfRange {
                index,
                len: self.len(),
            })
        }
    }

    fn read_format(&self, layout: &Layout, index: usize) -> Result<String, SharedMemoryError> {
        let mut raw = [0u8; 8];
        self.shm.read_at(layout.formats + 8 * index, &mut raw)?;
        let len = raw.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
        match std::str::from_utf8(&raw[..len]) {
            Ok(format) if format.is_ascii() => Ok(format.to_string()),
            _ => Err(SharedMemoryError::Corrupt {
                name: self.shm.name().to_string(),
                why: format!("item {index} has a format of bytes {raw:?}"),
            }),
        }
    }
}

/// Where the parts of a list of `n` items lie in its segment.
struct Layout {
    /// The data area (Python's `_offset_data_start`).
    data: usize,
    /// The formats (Python's `_offset_packing_formats`).
    formats: usize,
    /// The codes (Python's `_offset_back_transform_codes`).
    codes: usize,
    /// The whole list.
    size: usize,
}

impl Layout {
    /// For offsets checked at creation or attach: none of these sums overflows.
    fn new(n: usize, offsets: &[usize]) -> Self {
        let data = 8 * (n + 2);
        let formats = data + offsets[n];
        let codes = formats + 8 * n;
        Self {
            data,
            formats,
            codes,
            size: codes + n,
        }
    }
}

fn padded_format(format: &str) -> [u8; 8] {
    let mut raw = [0u8; 8];
    raw[..format.len()].copy_from_slice(format.as_bytes());
    raw
}

fn read_i64(shm: &SharedMemory, at: usize) -> Result<i64, SharedMemoryError> {
    let mut word = [0u8; 8];
    shm.read_at(at, &mut word)?;
    Ok(i64::from_ne_bytes(word))
}

impl fmt::Debug for ShareableList {
    /// Like Python's repr: `ShareableList([1, 'a'], name='psm_1a2b3c4d')`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items = match self.to_vec() {
            Ok(items) => items.py_repr(),
            Err(e) => format!("<{e}>"),
        };
        write!(
            f,
            "ShareableList({items}, name={})",
            self.shm.name().py_repr()
        )
    }
}

impl Serialize for ShareableList {
    /// As an argument of a process start: its segment travels (see [`SharedMemory`]).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.shm.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ShareableList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let shm = SharedMemory::deserialize(deserializer)?;
        Self::from_shared_memory(shm).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_slots_are_pythons() {
        assert_eq!(Item::Int(1).format(), ("q".to_string(), 8));
        assert_eq!(Item::from("").format(), ("8s".to_string(), 8));
        assert_eq!(Item::from("1234567").format(), ("8s".to_string(), 8));
        assert_eq!(Item::from("12345678").format(), ("16s".to_string(), 16));
        assert_eq!(Item::from(b"abc".as_slice()).code(), 2);
        assert_eq!(Item::Bool(true).payload(8), [0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn python_equality_across_number_types() {
        assert!(Item::Int(1).py_eq(&Item::Float(1.0)));
        assert!(Item::Bool(true).py_eq(&Item::Int(1)));
        assert!(!Item::Int(1).py_eq(&Item::Float(1.5)));
        assert!(!Item::Int(i64::MAX).py_eq(&Item::Float(9.223_372_036_854_776e18)));
        assert!(!Item::from("a").py_eq(&Item::from(b"a".as_slice())));
        assert!(Item::None.py_eq(&Item::None));
        assert!(!Item::Float(f64::NAN).py_eq(&Item::Float(f64::NAN)));
    }

    #[test]
    fn reprs_are_pythons() {
        let items = vec![
            Item::Int(-3),
            Item::Float(2.5),
            Item::Bool(false),
            Item::from("it's"),
            Item::from(b"a'\"\x00\xff".as_slice()),
            Item::None,
        ];
        assert_eq!(
            items.py_repr(),
            r#"[-3, 2.5, False, "it's", b'a\'"\x00\xff', None]"#
        );
    }
}
