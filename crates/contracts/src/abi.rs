//! ABI v1: the canonical binary encoding of a contract's structured input, output, facts
//! and state values.
//!
//! A message is a sequence of values, each a tag byte and its payload (little-endian):
//!
//! | tag | value | payload |
//! |---|---|---|
//! | `0x01` | bool | one byte, `0` or `1` |
//! | `0x02` | int | `i64`, 8 bytes |
//! | `0x03` | amount | `i64` hundredths ([`Amount`]), 8 bytes |
//! | `0x04` | bytes | `u32` length, then the bytes |
//! | `0x05` | string | `u32` length, then UTF-8 |
//! | `0x06` | list | `u32` count, then that many values |
//!
//! Every value has exactly one encoding, so equal values give equal bytes. Decoding is
//! bounded by [`AbiLimits`] (size, nesting, value count) and never panics.

use crate::amount::Amount;

pub const TAG_BOOL: u8 = 0x01;
pub const TAG_INT: u8 = 0x02;
pub const TAG_AMOUNT: u8 = 0x03;
pub const TAG_BYTES: u8 = 0x04;
pub const TAG_STR: u8 = 0x05;
pub const TAG_LIST: u8 = 0x06;

/// One ABI value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Amount(Amount),
    Bytes(Vec<u8>),
    Str(String),
    List(Vec<Value>),
}

/// Bounds on what [`decode`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiLimits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_values: usize,
}

impl Default for AbiLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            max_depth: 8,
            max_values: 4096,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AbiError {
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("message truncated at byte {at}")]
    Truncated { at: usize },
    #[error("unknown value tag {tag:#04x} at byte {at}")]
    UnknownTag { tag: u8, at: usize },
    #[error("bool byte {byte} at byte {at} is neither 0 nor 1")]
    BadBool { byte: u8, at: usize },
    #[error("string at byte {at} is not UTF-8")]
    BadUtf8 { at: usize },
    #[error("lists nested deeper than {max}")]
    TooDeep { max: usize },
    #[error("more than {max} values")]
    TooManyValues { max: usize },
}

/// Encodes values as one message.
pub fn encode(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        encode_value(v, &mut out);
    }
    out
}

pub fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Bool(b) => out.extend_from_slice(&[TAG_BOOL, u8::from(*b)]),
        Value::Int(i) => {
            out.push(TAG_INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Amount(a) => {
            out.push(TAG_AMOUNT);
            out.extend_from_slice(&a.cents().to_le_bytes());
        }
        Value::Bytes(b) => put_len_prefixed(TAG_BYTES, b, out),
        Value::Str(s) => put_len_prefixed(TAG_STR, s.as_bytes(), out),
        Value::List(items) => {
            out.push(TAG_LIST);
            out.extend_from_slice(&len_u32(items.len()).to_le_bytes());
            for item in items {
                encode_value(item, out);
            }
        }
    }
}

fn len_u32(len: usize) -> u32 {
    // Lengths past u32 cannot be decoded anyway; saturating keeps `encode` total, and
    // `decode` then reports the message as truncated.
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn put_len_prefixed(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    out.extend_from_slice(&len_u32(bytes.len()).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Decodes a whole message.
pub fn decode(bytes: &[u8], limits: &AbiLimits) -> Result<Vec<Value>, AbiError> {
    if bytes.len() > limits.max_bytes {
        return Err(AbiError::TooLarge {
            len: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let mut d = Decoder {
        bytes,
        pos: 0,
        values: 0,
        limits,
    };
    let mut out = Vec::new();
    while d.pos < bytes.len() {
        out.push(d.value(0)?);
    }
    Ok(out)
}

struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    values: usize,
    limits: &'a AbiLimits,
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], AbiError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(AbiError::Truncated { at: self.pos })?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], AbiError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len(&mut self) -> Result<usize, AbiError> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }

    fn value(&mut self, depth: usize) -> Result<Value, AbiError> {
        self.values += 1;
        if self.values > self.limits.max_values {
            return Err(AbiError::TooManyValues {
                max: self.limits.max_values,
            });
        }
        let at = self.pos;
        let [tag] = self.array()?;
        Ok(match tag {
            TAG_BOOL => match self.array()? {
                [0] => Value::Bool(false),
                [1] => Value::Bool(true),
                [byte] => return Err(AbiError::BadBool { byte, at: at + 1 }),
            },
            TAG_INT => Value::Int(i64::from_le_bytes(self.array()?)),
            TAG_AMOUNT => Value::Amount(Amount::from_cents(i64::from_le_bytes(self.array()?))),
            TAG_BYTES => {
                let n = self.len()?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            TAG_STR => {
                let n = self.len()?;
                let start = self.pos;
                let raw = self.take(n)?;
                let s = std::str::from_utf8(raw).map_err(|_| AbiError::BadUtf8 { at: start })?;
                Value::Str(s.to_owned())
            }
            TAG_LIST => {
                if depth >= self.limits.max_depth {
                    return Err(AbiError::TooDeep {
                        max: self.limits.max_depth,
                    });
                }
                let n = self.len()?;
                // Each value takes at least two bytes: never reserve more than could follow.
                let mut items = Vec::with_capacity(n.min(self.bytes.len() - self.pos));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::List(items)
            }
            tag => return Err(AbiError::UnknownTag { tag, at }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_bytes() {
        let msg = [
            Value::Bool(true),
            Value::Int(-2),
            Value::Amount(Amount::from_cents(1234)),
            Value::Str("é".into()),
            Value::List(vec![Value::Bytes(vec![9])]),
        ];
        let bytes = encode(&msg);
        let expected: &[u8] = &[
            0x01, 1, //
            0x02, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //
            0x03, 0xd2, 0x04, 0, 0, 0, 0, 0, 0, //
            0x05, 2, 0, 0, 0, 0xc3, 0xa9, //
            0x06, 1, 0, 0, 0, 0x04, 1, 0, 0, 0, 9,
        ];
        assert_eq!(bytes, expected);
        assert_eq!(decode(&bytes, &AbiLimits::default()), Ok(msg.to_vec()));
    }

    #[test]
    fn refuses_bad_messages() {
        let l = AbiLimits::default();
        assert_eq!(decode(&[0x01, 2], &l), Err(AbiError::BadBool { byte: 2, at: 1 }));
        assert_eq!(decode(&[0x02, 1, 2], &l), Err(AbiError::Truncated { at: 1 }));
        assert_eq!(decode(&[0x07], &l), Err(AbiError::UnknownTag { tag: 7, at: 0 }));
        assert_eq!(decode(&[0x05, 1, 0, 0, 0, 0xff], &l), Err(AbiError::BadUtf8 { at: 5 }));
        assert_eq!(
            decode(&[0x06, 0xff, 0xff, 0xff, 0xff], &l),
            Err(AbiError::Truncated { at: 5 })
        );
        let deep: Vec<u8> = std::iter::repeat_n([0x06, 1, 0, 0, 0], 9).flatten().collect();
        assert_eq!(decode(&deep, &l), Err(AbiError::TooDeep { max: 8 }));
        let tight = AbiLimits { max_bytes: 4, ..l };
        assert_eq!(decode(&[0; 5], &tight), Err(AbiError::TooLarge { len: 5, max: 4 }));
        let few = AbiLimits { max_values: 2, ..l };
        assert_eq!(
            decode(&[1, 0, 1, 0, 1, 0], &few),
            Err(AbiError::TooManyValues { max: 2 })
        );
    }
}
