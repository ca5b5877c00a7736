//! The `shc:/` QR form (spec "Health Cards as QR Codes", "Encoding QRs").
//!
//! - Numeric form: `shc:/` then, for each JWS character `c`, the two decimal digits of
//!   `ord(c) − 45` (`-` is 45, the lowest character of a compact JWS; `z` gives 77).
//! - One QR: at most 1195 JWS characters, version ≤ 22, error correction L, two segments:
//!   `shc:/` in byte mode, the digits in numeric mode.
//! - Chunks (`shc:/C/N/…`) are deprecated: never written, refused when read.
//!
//! Rendering: [`to_svg`] and [`to_png`] draw the code with the four-module quiet zone
//! ISO/IEC 18004 asks for.

use super::ShcError;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use qrcode::QrCode;
use qrcode::bits::Bits;
use qrcode::types::{Color, EcLevel, Version};
use std::io::Write;

pub const PREFIX: &str = "shc:/";
/// The longest JWS a single QR may hold.
pub const MAX_SINGLE_QR_JWS: usize = 1195;
/// The largest QR version the specification allows (105×105 modules).
pub const MAX_VERSION: i16 = 22;
const QUIET_ZONE: usize = 4;

/// `shc:/` + digits, for a JWS that fits one QR.
pub fn to_numeric(jws: &str) -> Result<String, ShcError> {
    if jws.len() > MAX_SINGLE_QR_JWS {
        return Err(ShcError::QrTooLong(jws.len()));
    }
    Ok(format!("{PREFIX}{}", digits_of(jws)?))
}

fn digits_of(jws: &str) -> Result<String, ShcError> {
    let mut out = String::with_capacity(jws.len() * 2);
    for b in jws.bytes() {
        let n = b
            .checked_sub(45)
            .filter(|n| *n <= 77)
            .ok_or(ShcError::QrDigits("a JWS character outside '-'..='z'"))?;
        out.push(char::from(b'0' + n / 10));
        out.push(char::from(b'0' + n % 10));
    }
    Ok(out)
}

/// The JWS in a scanned `shc:/…` text. Chunked content is refused.
pub fn from_numeric(text: &str) -> Result<String, ShcError> {
    let digits = text.strip_prefix(PREFIX).ok_or(ShcError::QrPrefix)?;
    if digits.contains('/') {
        return Err(ShcError::Chunked);
    }
    if digits.len() > MAX_SINGLE_QR_JWS * 2 {
        return Err(ShcError::QrTooLong(digits.len() / 2));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(ShcError::QrDigits("an odd number of digits"));
    }
    let mut jws = String::with_capacity(digits.len() / 2);
    for pair in digits.as_bytes().chunks(2) {
        let [hi, lo] = pair else {
            return Err(ShcError::QrDigits("an odd number of digits"));
        };
        if !hi.is_ascii_digit() || !lo.is_ascii_digit() {
            return Err(ShcError::QrDigits("a character that is not a digit"));
        }
        let n = (hi - b'0') * 10 + (lo - b'0');
        if n > 77 {
            return Err(ShcError::QrDigits("a pair of digits above 77"));
        }
        jws.push(char::from(n + 45));
    }
    Ok(jws)
}

/// The QR code of a JWS: byte segment `shc:/`, numeric segment, EC level L, the smallest
/// version that holds it (at most 22).
pub fn qr_code(jws: &str) -> Result<QrCode, ShcError> {
    if jws.len() > MAX_SINGLE_QR_JWS {
        return Err(ShcError::QrTooLong(jws.len()));
    }
    let digits = digits_of(jws)?;
    for v in 1..=MAX_VERSION {
        let mut bits = Bits::new(Version::Normal(v));
        let fits = bits.push_byte_data(PREFIX.as_bytes()).is_ok()
            && bits.push_numeric_data(digits.as_bytes()).is_ok()
            && bits.push_terminator(EcLevel::L).is_ok();
        if fits {
            return QrCode::with_bits(bits, EcLevel::L).map_err(|e| ShcError::Qr(e.to_string()));
        }
    }
    Err(ShcError::QrTooLong(jws.len()))
}

/// The code's modules, with the quiet zone, row by row: `true` is dark.
pub fn modules(code: &QrCode) -> (usize, Vec<bool>) {
    let width = code.width();
    let side = width + 2 * QUIET_ZONE;
    let colors = code.to_colors();
    let mut grid = vec![false; side * side];
    for y in 0..width {
        for x in 0..width {
            grid[(y + QUIET_ZONE) * side + x + QUIET_ZONE] = colors[y * width + x] == Color::Dark;
        }
    }
    (side, grid)
}

/// An SVG drawing, one unit per module, the dark modules as horizontal runs.
pub fn to_svg(code: &QrCode) -> String {
    let (side, grid) = modules(code);
    let mut path = String::new();
    for y in 0..side {
        let row = &grid[y * side..(y + 1) * side];
        let mut x = 0;
        while x < side {
            if row[x] {
                let start = x;
                while x < side && row[x] {
                    x += 1;
                }
                path.push_str(&format!("M{start} {y}h{}v1h-{}z", x - start, x - start));
            } else {
                x += 1;
            }
        }
    }
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {s} {s}" shape-rendering="crispEdges">"#,
            r##"<rect width="{s}" height="{s}" fill="#ffffff"/><path fill="#000000" d="{p}"/></svg>"##
        ),
        s = side,
        p = path
    )
}

/// A PNG image (1-bit greyscale), `scale` pixels per module (1 to 64).
pub fn to_png(code: &QrCode, scale: usize) -> Result<Vec<u8>, ShcError> {
    if !(1..=64).contains(&scale) {
        return Err(ShcError::Qr("scale must be 1 to 64".into()));
    }
    let (side, grid) = modules(code);
    let px = side * scale;
    let row_bytes = px.div_ceil(8);
    let mut raw = Vec::with_capacity((row_bytes + 1) * px);
    for y in 0..px {
        raw.push(0); // filter type None
        let mut row = vec![0u8; row_bytes];
        for (x, byte_bit) in (0..px).map(|x| (x, x % 8)) {
            // 1 is white in greyscale; dark modules stay 0.
            if !grid[(y / scale) * side + x / scale] {
                row[x / 8] |= 0x80 >> byte_bit;
            }
        }
        raw.extend_from_slice(&row);
    }
    let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
    z.write_all(&raw).map_err(|e| ShcError::Qr(e.to_string()))?;
    let idat = z.finish().map_err(|e| ShcError::Qr(e.to_string()))?;
    let size = u32::try_from(px).map_err(|_| ShcError::Qr("image too large".into()))?;
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&size.to_be_bytes());
    ihdr.extend_from_slice(&size.to_be_bytes());
    // Bit depth 1, colour type 0 (greyscale), deflate, filter method 0, no interlace.
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &idat);
    chunk(&mut png, b"IEND", &[]);
    Ok(png)
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    // Chunks here are far below 2^31 bytes.
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}
