//! A small, defensive MessagePack decoder: enough for Flax checkpoints, and safe on hostile
//! input (every length is checked against the bytes that remain, nesting depth is bounded).

use std::collections::BTreeMap;

/// A decoded MessagePack value. Map keys are kept as strings (Flax writes string keys only).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bin(Vec<u8>),
    Array(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Ext(i8, Vec<u8>),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("invalid MessagePack marker 0x{marker:02x} at byte {offset}")]
    BadMarker { marker: u8, offset: usize },
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    #[error("map key at byte {0} is not a string or integer")]
    BadKey(usize),
    #[error("string at byte {0} is not UTF-8")]
    BadUtf8(usize),
    #[error("{0} trailing bytes after the top-level value")]
    Trailing(usize),
}

const MAX_DEPTH: usize = 128;

/// Decodes exactly one value spanning all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = reader.value(0)?;
    if reader.pos != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - reader.pos));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated(self.pos))?;
        let slice = self.bytes.get(self.pos..end).ok_or(DecodeError::Truncated(self.pos))?;
        self.pos = end;
        Ok(slice)
    }

    fn be(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// A container or blob length; each element needs at least one byte, so a length above the
    /// remaining input is rejected before anything is allocated.
    fn len(&mut self, n: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let len = self.be(n)? as usize;
        if len > self.bytes.len() - self.pos {
            return Err(DecodeError::Truncated(at));
        }
        Ok(len)
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep(MAX_DEPTH));
        }
        let offset = self.pos;
        let marker = self.take(1)?[0];
        Ok(match marker {
            0x00..=0x7f => Value::Int(i128::from(marker)),
            0x80..=0x8f => self.map(usize::from(marker & 0x0f), depth)?,
            0x90..=0x9f => self.array(usize::from(marker & 0x0f), depth)?,
            0xa0..=0xbf => self.str(usize::from(marker & 0x1f))?,
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let n = self.len(1 << (marker - 0xc4))?;
                Value::Bin(self.take(n)?.to_vec())
            }
            0xc7..=0xc9 => {
                let n = self.len(1 << (marker - 0xc7))?;
                let kind = self.take(1)?[0] as i8;
                Value::Ext(kind, self.take(n)?.to_vec())
            }
            0xca => Value::Float(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => Value::Float(f64::from_bits(self.be(8)?)),
            0xcc..=0xcf => Value::Int(i128::from(self.be(1 << (marker - 0xcc))?)),
            0xd0 => Value::Int(i128::from(self.be(1)? as u8 as i8)),
            0xd1 => Value::Int(i128::from(self.be(2)? as u16 as i16)),
            0xd2 => Value::Int(i128::from(self.be(4)? as u32 as i32)),
            0xd3 => Value::Int(i128::from(self.be(8)? as i64)),
            0xd4..=0xd8 => {
                let kind = self.take(1)?[0] as i8;
                Value::Ext(kind, self.take(1 << (marker - 0xd4))?.to_vec())
            }
            0xd9..=0xdb => {
                let n = self.len(1 << (marker - 0xd9))?;
                self.str(n)?
            }
            0xdc | 0xdd => {
                let n = self.len(2 << (marker - 0xdc))?;
                self.array(n, depth)?
            }
            0xde | 0xdf => {
                let n = self.len(2 << (marker - 0xde))?;
                self.map(n, depth)?
            }
            0xe0..=0xff => Value::Int(i128::from(marker as i8)),
            0xc1 => return Err(DecodeError::BadMarker { marker, offset }),
        })
    }

    fn str(&mut self, n: usize) -> Result<Value, DecodeError> {
        let at = self.pos;
        let bytes = self.take(n)?;
        let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::BadUtf8(at))?;
        Ok(Value::Str(s.to_owned()))
    }

    fn array(&mut self, n: usize, depth: usize) -> Result<Value, DecodeError> {
        let mut items = Vec::with_capacity(n.min(self.bytes.len() - self.pos));
        for _ in 0..n {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, n: usize, depth: usize) -> Result<Value, DecodeError> {
        let mut map = BTreeMap::new();
        for _ in 0..n {
            let at = self.pos;
            let key = match self.value(depth + 1)? {
                Value::Str(s) => s,
                Value::Int(i) => i.to_string(),
                _ => return Err(DecodeError::BadKey(at)),
            };
            let value = self.value(depth + 1)?;
            map.insert(key, value);
        }
        Ok(Value::Map(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_scalars_containers_and_ext() {
        // {"a": [1, -1, 1.5], "b": bin(2), "c": ext(1, 3 bytes)}
        let bytes = [
            0x83, 0xa1, b'a', 0x93, 0x01, 0xff, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xa1, b'b', 0xc4, 0x02, 7, 8, 0xa1, b'c', 0xc7, 0x03,
            0x01, 1, 2, 3,
        ];
        let Value::Map(map) = decode(&bytes).unwrap() else { panic!() };
        assert_eq!(map["a"], Value::Array(vec![Value::Int(1), Value::Int(-1), Value::Float(1.5)]));
        assert_eq!(map["b"], Value::Bin(vec![7, 8]));
        assert_eq!(map["c"], Value::Ext(1, vec![1, 2, 3]));
    }

    #[test]
    fn rejects_truncation_huge_lengths_and_deep_nesting() {
        assert!(matches!(decode(&[0x92, 0x01]), Err(DecodeError::Truncated(_))));
        assert!(matches!(decode(&[0xc6, 0xff, 0xff, 0xff, 0xff, 0x00]), Err(DecodeError::Truncated(_))));
        assert!(matches!(decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]), Err(DecodeError::Truncated(_))));
        let deep = vec![0x91u8; 1000];
        assert!(matches!(decode(&deep), Err(DecodeError::TooDeep(_))));
        assert!(matches!(decode(&[0x01, 0x02]), Err(DecodeError::Trailing(1))));
        assert!(matches!(decode(&[0xc1]), Err(DecodeError::BadMarker { .. })));
    }
}
