//! The canonical binary encoding.
//!
//! Every value that is signed, hashed or stored is encoded with this codec, so that
//! two nodes always produce the same bytes for the same value:
//!
//! - unsigned integers: fixed width, little endian;
//! - `bool`: one byte, `0` or `1` (anything else is an error);
//! - byte strings and UTF-8 strings: a `u32` length, then the bytes;
//! - sequences: a `u32` count, then each element;
//! - `Option<T>`: a tag byte (`0` none, `1` some) then the value;
//! - enums: a `u8` tag, then the variant's fields in order;
//! - structs: the fields in declaration order, nothing between them.
//!
//! Decoding is strict: every length is checked against a limit before anything is
//! allocated, trailing bytes are an error, and every error names what was being read.

use thiserror::Error;

/// Why a byte string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("unexpected end of input while reading {what}")]
    UnexpectedEnd { what: &'static str },
    #[error("{what}: length {len} exceeds the limit of {max}")]
    TooLong { what: &'static str, len: usize, max: usize },
    #[error("{what}: invalid tag {tag}")]
    InvalidTag { what: &'static str, tag: u8 },
    #[error("{what}: {reason}")]
    Invalid { what: &'static str, reason: &'static str },
    #[error("{count} trailing bytes after the value")]
    TrailingBytes { count: usize },
    #[error("unsupported encoding version {version} for {what}")]
    UnsupportedVersion { what: &'static str, version: u8 },
}

/// A value with a canonical encoding.
pub trait Encode {
    fn encode_to(&self, out: &mut Vec<u8>);

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }
}

/// A value that can be read back from its canonical encoding.
pub trait Decode: Sized {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a whole buffer; trailing bytes are an error.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let value = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(value)
    }
}

/// A cursor over untrusted bytes.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }

    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::UnexpectedEnd { what });
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::InvalidTag { what, tag }),
        }
    }

    /// A length prefix, checked against `max` and against the bytes that are left.
    pub fn len(&mut self, max: usize, what: &'static str) -> Result<usize, DecodeError> {
        let len = self.u32(what)? as usize;
        if len > max {
            return Err(DecodeError::TooLong { what, len, max });
        }
        Ok(len)
    }

    pub fn bytes(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.len(max, what)?;
        self.take(len, what)
    }

    pub fn string(&mut self, max: usize, what: &'static str) -> Result<String, DecodeError> {
        let raw = self.bytes(max, what)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Invalid {
                what,
                reason: "not valid UTF-8",
            })
    }

    /// A sequence of at most `max` elements. The count is also bounded by the bytes left,
    /// assuming every element takes at least `min_elem_len` bytes, so a hostile count
    /// cannot make us allocate.
    pub fn seq<T>(
        &mut self,
        max: usize,
        min_elem_len: usize,
        what: &'static str,
        mut elem: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = self.len(max, what)?;
        if count.saturating_mul(min_elem_len.max(1)) > self.remaining() {
            return Err(DecodeError::UnexpectedEnd { what });
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(elem(self)?);
        }
        Ok(out)
    }
}

/// Writers for the primitive encodings, used by the `Encode` impls.
pub mod put {
    pub fn u8(out: &mut Vec<u8>, v: u8) {
        out.push(v);
    }
    pub fn u16(out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(out: &mut Vec<u8>, v: u64) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bool(out: &mut Vec<u8>, v: bool) {
        out.push(u8::from(v));
    }
    /// # Panics
    /// Never in practice: every encoded value is far below 4 GiB.
    pub fn len(out: &mut Vec<u8>, len: usize) {
        u32(out, u32::try_from(len).unwrap_or(u32::MAX));
    }
    pub fn bytes(out: &mut Vec<u8>, v: &[u8]) {
        len(out, v.len());
        out.extend_from_slice(v);
    }
    pub fn str(out: &mut Vec<u8>, v: &str) {
        bytes(out, v.as_bytes());
    }
}

impl Encode for u64 {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put::u64(out, *self);
    }
}

impl Decode for u64 {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u64("u64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_length_is_rejected_before_allocation() {
        let mut bytes = Vec::new();
        put::u32(&mut bytes, u32::MAX);
        let mut r = Reader::new(&bytes);
        let err = r.bytes(1024, "memo").unwrap_err();
        assert!(matches!(err, DecodeError::TooLong { len, .. } if len == u32::MAX as usize));

        let mut r = Reader::new(&bytes);
        let err = r.seq(usize::MAX, 8, "list", |r| r.u64("x")).unwrap_err();
        assert_eq!(err, DecodeError::UnexpectedEnd { what: "list" });
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let err = u64::decode(&[0u8; 9]).unwrap_err();
        assert_eq!(err, DecodeError::TrailingBytes { count: 1 });
    }

    #[test]
    fn bool_is_strict() {
        assert!(Reader::new(&[2]).bool("flag").is_err());
        assert!(Reader::new(&[1]).bool("flag").unwrap());
    }
}
