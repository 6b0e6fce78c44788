//! Metadata values: GGUF's thirteen value types, with arrays that hold one type each.

use std::fmt;

/// A metadata value as the file stores it. The type codes are GGUF's `gguf_metadata_value_type`:
/// `UINT8` = 0, `INT8`, `UINT16`, `INT16`, `UINT32`, `INT32`, `FLOAT32`, `BOOL`, `STRING`,
/// `ARRAY`, `UINT64`, `INT64`, `FLOAT64` = 12.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `UINT8`.
    U8(u8),
    /// `INT8`.
    I8(i8),
    /// `UINT16`.
    U16(u16),
    /// `INT16`.
    I16(i16),
    /// `UINT32`.
    U32(u32),
    /// `INT32`.
    I32(i32),
    /// `FLOAT32`.
    F32(f32),
    /// `BOOL`: one byte, 0 or 1.
    Bool(bool),
    /// `STRING`: a `u64` length, then that many bytes of UTF-8.
    String(String),
    /// `ARRAY`: an element type, a `u64` count, then the elements.
    Array(Array),
    /// `UINT64`.
    U64(u64),
    /// `INT64`.
    I64(i64),
    /// `FLOAT64`.
    F64(f64),
}

/// An `ARRAY` value. Every element of a GGUF array has the array's one element type, so an
/// array is a vector of that type (arrays of arrays nest, each inner array with its own type).
#[derive(Clone, Debug, PartialEq)]
pub enum Array {
    /// `UINT8` elements.
    U8(Vec<u8>),
    /// `INT8` elements.
    I8(Vec<i8>),
    /// `UINT16` elements.
    U16(Vec<u16>),
    /// `INT16` elements.
    I16(Vec<i16>),
    /// `UINT32` elements.
    U32(Vec<u32>),
    /// `INT32` elements.
    I32(Vec<i32>),
    /// `FLOAT32` elements.
    F32(Vec<f32>),
    /// `BOOL` elements.
    Bool(Vec<bool>),
    /// `STRING` elements.
    String(Vec<String>),
    /// `ARRAY` elements.
    Array(Vec<Array>),
    /// `UINT64` elements.
    U64(Vec<u64>),
    /// `INT64` elements.
    I64(Vec<i64>),
    /// `FLOAT64` elements.
    F64(Vec<f64>),
}

/// A value type code of the file: [`Value`]'s variants without their data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    /// The type stored as `code`, or `None` for codes past `FLOAT64` (12).
    pub(super) fn from_code(code: u32) -> Option<Self> {
        use ValueType::*;
        [
            U8, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64,
        ]
        .get(usize::try_from(code).ok()?)
        .copied()
    }

    /// The code in the file.
    pub(super) fn code(self) -> u32 {
        self as u32
    }

    /// The spec's name: `UINT8`, `STRING`, ...
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::U8 => "UINT8",
            Self::I8 => "INT8",
            Self::U16 => "UINT16",
            Self::I16 => "INT16",
            Self::U32 => "UINT32",
            Self::I32 => "INT32",
            Self::F32 => "FLOAT32",
            Self::Bool => "BOOL",
            Self::String => "STRING",
            Self::Array => "ARRAY",
            Self::U64 => "UINT64",
            Self::I64 => "INT64",
            Self::F64 => "FLOAT64",
        }
    }

    /// The fewest bytes a value of this type takes in the file: its width, 8 for a string (its
    /// length) and 12 for an array (element type and count). What bounds a count from the file
    /// before anything is allocated for it.
    pub(super) fn min_bytes(self) -> u64 {
        match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 | Self::String => 8,
            Self::Array => 12,
        }
    }
}

impl Value {
    /// The value's type.
    pub(super) fn value_type(&self) -> ValueType {
        match self {
            Self::U8(_) => ValueType::U8,
            Self::I8(_) => ValueType::I8,
            Self::U16(_) => ValueType::U16,
            Self::I16(_) => ValueType::I16,
            Self::U32(_) => ValueType::U32,
            Self::I32(_) => ValueType::I32,
            Self::F32(_) => ValueType::F32,
            Self::Bool(_) => ValueType::Bool,
            Self::String(_) => ValueType::String,
            Self::Array(_) => ValueType::Array,
            Self::U64(_) => ValueType::U64,
            Self::I64(_) => ValueType::I64,
            Self::F64(_) => ValueType::F64,
        }
    }

    /// The value of an integer of any width, or `None` for the other types.
    pub fn as_integer(&self) -> Option<i128> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::I8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::I16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::I32(v) => Some(v.into()),
            Self::U64(v) => Some(v.into()),
            Self::I64(v) => Some(v.into()),
            _ => None,
        }
    }

    /// The type and, for a number or bool, the value: `UINT32 30`, `STRING`, `ARRAY of
    /// STRING`; what an error says it found.
    pub(super) fn describe(&self) -> String {
        let ty = self.value_type().name();
        match self {
            Self::String(_) => ty.to_owned(),
            Self::Array(array) => format!("ARRAY of {}", array.element_type().name()),
            Self::F32(v) => format!("{ty} {v}"),
            Self::F64(v) => format!("{ty} {v}"),
            Self::Bool(v) => format!("{ty} {v}"),
            _ => format!("{ty} {}", self.as_integer().unwrap_or_default()),
        }
    }
}

impl Array {
    /// The element type.
    pub(super) fn element_type(&self) -> ValueType {
        match self {
            Self::U8(_) => ValueType::U8,
            Self::I8(_) => ValueType::I8,
            Self::U16(_) => ValueType::U16,
            Self::I16(_) => ValueType::I16,
            Self::U32(_) => ValueType::U32,
            Self::I32(_) => ValueType::I32,
            Self::F32(_) => ValueType::F32,
            Self::Bool(_) => ValueType::Bool,
            Self::String(_) => ValueType::String,
            Self::Array(_) => ValueType::Array,
            Self::U64(_) => ValueType::U64,
            Self::I64(_) => ValueType::I64,
            Self::F64(_) => ValueType::F64,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::U8(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::U16(v) => v.len(),
            Self::I16(v) => v.len(),
            Self::U32(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::F32(v) => v.len(),
            Self::Bool(v) => v.len(),
            Self::String(v) => v.len(),
            Self::Array(v) => v.len(),
            Self::U64(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::F64(v) => v.len(),
        }
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Value {
    /// Numbers, bools and strings as Rust prints them (strings quoted); arrays as their type
    /// and length, since a vocabulary has tens of thousands of entries.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => write!(f, "{s:?}"),
            Self::Array(a) => write!(f, "[{} x {}]", a.len(), a.element_type().name()),
            Self::F32(v) => write!(f, "{v}"),
            Self::F64(v) => write!(f, "{v}"),
            Self::Bool(v) => write!(f, "{v}"),
            _ => write!(f, "{}", self.as_integer().unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_codes_follow_the_spec() {
        assert_eq!(ValueType::from_code(0), Some(ValueType::U8));
        assert_eq!(ValueType::from_code(8), Some(ValueType::String));
        assert_eq!(ValueType::from_code(12), Some(ValueType::F64));
        assert_eq!(ValueType::from_code(13), None);
        assert_eq!(ValueType::from_code(u32::MAX), None);
        assert_eq!(ValueType::Array.code(), 9);
    }

    #[test]
    fn integers_of_every_width_widen() {
        assert_eq!(Value::I8(-3).as_integer(), Some(-3));
        assert_eq!(Value::U64(u64::MAX).as_integer(), Some(u64::MAX.into()));
        assert_eq!(Value::F32(1.0).as_integer(), None);
    }

    #[test]
    fn values_describe_and_display_themselves() {
        assert_eq!(Value::I32(-1).describe(), "INT32 -1");
        assert_eq!(Value::String("a".into()).describe(), "STRING");
        let tokens = Value::Array(Array::String(vec!["a".into(), "b".into()]));
        assert_eq!(tokens.describe(), "ARRAY of STRING");
        assert_eq!(tokens.to_string(), "[2 x STRING]");
        assert_eq!(Value::String("gpt2".into()).to_string(), "\"gpt2\"");
        assert_eq!(Value::F32(0.5).to_string(), "0.5");
    }
}
