//! `verify-card`: SMART Health Cards checked offline against a given issuer's keys.
//!
//! The input is a `.smart-health-card` file (`{"verifiableCredential": [jws, …]}`, every
//! card in it checked), a compact JWS, `shc:/…` QR text (one code a line, or the argument
//! itself) or a PNG image of QR codes; `-` reads stdin. Each card goes through
//! `medledger_credentials::shc::verify` (size, header, key by `kid`, the ES256 signature
//! before anything is inflated, bounded inflate, the payload, `nbf` and `exp` at `--at`,
//! and revocation when a `--crl` for its key is given).
//!
//! Output: per card a line `card N: valid` or `card N: refused: <reason>`; a valid card's
//! issuer, key, `nbf`, `exp`, whether revocation was checked, and the bundle's resource
//! types with their counts. Nothing that identifies the patient is printed unless
//! `--show-payload` asks for the bundle. Exit code 0 when every card is valid, 2
//! ([`BadInput`]) when one is refused or the input is malformed, 1 on I/O errors.
//!
//! Without `--jwks` a card would be checked against the consortium's issuer directory (the
//! issuer's membership at issue time), which the ledger does not have yet: the command
//! says so and exits with 2 rather than trust anything else.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use medledger_credentials::UnixTime;
use medledger_credentials::shc::crl::MAX_CRL_BYTES;
use medledger_credentials::shc::jwk::MAX_JWKS_BYTES;
use medledger_credentials::shc::{self, Crl, Jwks, ShcError, VerifiedCard, qr};
use serde_json::Value;

use crate::BadInput;
use crate::epcis::{display_name, read_bounded};

/// The largest input read: a card file, QR text or image.
const MAX_INPUT_BYTES: usize = 8 << 20;
/// The widest and tallest QR image accepted, in pixels (a phone photo is ~4000 wide).
const MAX_IMAGE_SIDE: u32 = 6000;
/// What the PNG decoder may allocate besides the decoded image.
const PNG_DECODER_BYTES: usize = 64 << 20;
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

#[derive(Args)]
pub struct VerifyCardArgs {
    /// A `.smart-health-card` file, a compact JWS, `shc:/…` QR text (in a file, or as this
    /// argument itself) or a PNG image of the QR code; `-` reads stdin.
    input: String,
    /// The issuer's JWK set (as published at `<iss>/.well-known/jwks.json`) to check the
    /// cards against. Required for now: the consortium's issuer directory is not built yet.
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
    /// A card revocation list (as published at `<iss>/.well-known/crl/<kid>.json`); a card
    /// signed by the list's key is checked against it. Repeat for several keys.
    #[arg(long, value_name = "FILE")]
    crl: Vec<PathBuf>,
    /// Refuse cards whose `iss` is not this URL (the issuer whose keys `--jwks` holds).
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// The time to check `nbf` and `exp` against, RFC 3339 (default: now).
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Also print each valid card's FHIR bundle, minified JSON on one line. It holds the
    /// patient's name and birth date: only print it where that may be seen.
    #[arg(long)]
    show_payload: bool,
}

/// One card as found in the input, before verification.
enum Found {
    Jws(String),
    /// `shc:/…` text, from a file, the argument or a QR code in an image.
    QrText(String),
    /// A QR code seen in an image that could not be decoded.
    UnreadableQr(String),
}

pub fn run(args: VerifyCardArgs) -> Result<()> {
    let Some(jwks_path) = &args.jwks else {
        return Err(BadInput(
            "the consortium's issuer directory (which organisations may issue cards, with which \
             keys, from when) is not built yet, so a card cannot be checked against it; pass \
             --jwks FILE to check it against a given issuer's keys"
                .to_owned(),
        )
        .into());
    };
    let at = match &args.at {
        Some(text) => UnixTime::parse_rfc3339(text).map_err(|e| BadInput(format!("--at: {e}")))?,
        None => now(),
    };
    let jwks = read_jwks(jwks_path)?;
    let crls = read_crls(&args.crl, &jwks)?;
    let found = read_cards(&args.input)?;

    let mut out = std::io::stdout().lock();
    let mut refused = 0;
    for (i, card) in found.into_iter().enumerate() {
        let n = i + 1;
        match check(card, &jwks, &crls, at, args.issuer.as_deref()) {
            Ok(card) => {
                writeln!(out, "card {n}: valid")?;
                write_summary(&mut out, &card)?;
                if args.show_payload {
                    writeln!(out, "{}", serde_json::to_string(&card.payload.bundle)?)?;
                }
            }
            Err(reason) => {
                refused += 1;
                writeln!(out, "card {n}: refused: {reason}")?;
            }
        }
    }
    out.flush()?;
    if refused == 0 {
        Ok(())
    } else {
        let name = input_name(&args.input);
        Err(BadInput(format!("{name}: {refused} card(s) refused (the reasons are above)")).into())
    }
}

fn now() -> UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
}

fn input_name(input: &str) -> String {
    if input.starts_with(qr::PREFIX) {
        "the QR text".to_owned()
    } else {
        display_name(Path::new(input))
    }
}

fn read_text(path: &Path, limit: usize, reader: &str) -> Result<String> {
    let bytes = read_bounded(path, limit, reader)?;
    String::from_utf8(bytes).map_err(|_| BadInput(format!("{}: not UTF-8 text", display_name(path))).into())
}

fn read_jwks(path: &Path) -> Result<Jwks> {
    let text = read_text(path, MAX_JWKS_BYTES, "key set reader")?;
    Jwks::from_json(&text).map_err(|e| BadInput(format!("{}: {e}", display_name(path))).into())
}

/// The revocation lists, each for a key of the set and at most one per key.
fn read_crls(paths: &[PathBuf], jwks: &Jwks) -> Result<Vec<Crl>> {
    let mut crls: Vec<Crl> = Vec::new();
    for path in paths {
        let name = display_name(path);
        let text = read_text(path, MAX_CRL_BYTES, "revocation list reader")?;
        let crl = Crl::from_json(&text).map_err(|e| BadInput(format!("{name}: {e}")))?;
        if !jwks.keys.iter().any(|k| k.kid == crl.kid) {
            let message = format!(
                "{name}: the revocation list is for key {:?}, which is not in the key set",
                crl.kid
            );
            return Err(BadInput(message).into());
        }
        if crls.iter().any(|c| c.kid == crl.kid) {
            let message = format!("{name}: a second revocation list for key {:?}", crl.kid);
            return Err(BadInput(message).into());
        }
        crls.push(crl);
    }
    Ok(crls)
}

fn read_cards(input: &str) -> Result<Vec<Found>> {
    if input.starts_with(qr::PREFIX) {
        return Ok(vec![Found::QrText(input.trim().to_owned())]);
    }
    let path = Path::new(input);
    let name = display_name(path);
    let bytes = read_bounded(path, MAX_INPUT_BYTES, "card reader")?;
    if bytes.starts_with(PNG_SIGNATURE) {
        return qr_codes_in_png(&bytes).map_err(|e| BadInput(format!("{name}: {e}")).into());
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| BadInput(format!("{name}: neither a PNG image nor UTF-8 text")))?
        .trim_start_matches('\u{feff}')
        .trim();
    if text.is_empty() {
        return Err(BadInput(format!("{name}: empty")).into());
    }
    if text.starts_with('{') {
        return cards_in_file(text).map_err(|e| BadInput(format!("{name}: {e}")).into());
    }
    if text.starts_with(qr::PREFIX) {
        let lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        return Ok(lines.map(|l| Found::QrText(l.to_owned())).collect());
    }
    Ok(vec![Found::Jws(text.to_owned())])
}

/// A `.smart-health-card` file (spec "Health Cards as files"): every entry of its
/// `verifiableCredential` array.
fn cards_in_file(text: &str) -> Result<Vec<Found>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = v
        .get("verifiableCredential")
        .and_then(Value::as_array)
        .ok_or("no verifiableCredential array (not a .smart-health-card file)")?;
    if list.is_empty() {
        return Err("the verifiableCredential array is empty".to_owned());
    }
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            c.as_str()
                .map(|jws| Found::Jws(jws.to_owned()))
                .ok_or(format!("verifiableCredential[{i}] is not a string"))
        })
        .collect()
}

/// The QR codes of a PNG image, read as greyscale (colour by luma, transparency over white).
fn qr_codes_in_png(bytes: &[u8]) -> Result<Vec<Found>, String> {
    let limits = png::Limits {
        bytes: PNG_DECODER_BYTES,
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let header = decoder
        .read_header_info()
        .map_err(|e| format!("not a readable PNG image: {e}"))?;
    let (width, height) = (header.width, header.height);
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(format!(
            "the image is {width}x{height} pixels, over the limit of {MAX_IMAGE_SIDE} a side"
        ));
    }
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("not a readable PNG image: {e}"))?;
    let size = reader.output_buffer_size().ok_or("the image is too large")?;
    let mut pixels = vec![0; size];
    let frame = reader
        .next_frame(&mut pixels)
        .map_err(|e| format!("not a readable PNG image: {e}"))?;
    if frame.bit_depth != png::BitDepth::Eight {
        return Err("the image's bit depth could not be read as 8 bits".to_owned());
    }
    let color = frame.color_type;
    let channels = color.samples();
    let line = frame.line_size;
    let luma = |x: usize, y: usize| -> u8 {
        let p = &pixels[y * line + x * channels..][..channels];
        match p {
            [g] => *g,
            [g, a] => over_white(*g, *a),
            [r, g, b] => rec601(*r, *g, *b),
            [r, g, b, a] => over_white(rec601(*r, *g, *b), *a),
            _ => 255,
        }
    };
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width as usize, height as usize, luma);
    let grids = image.detect_grids();
    if grids.is_empty() {
        return Err("no QR code found in the image".to_owned());
    }
    Ok(grids
        .iter()
        .map(|grid| match grid.decode() {
            Ok((_, text)) => Found::QrText(text),
            Err(e) => Found::UnreadableQr(format!("a QR code in the image cannot be decoded ({e})")),
        })
        .collect())
}

fn rec601(r: u8, g: u8, b: u8) -> u8 {
    ((299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b)) / 1000) as u8
}

fn over_white(grey: u8, alpha: u8) -> u8 {
    let (grey, alpha) = (u32::from(grey), u32::from(alpha));
    ((grey * alpha + 255 * (255 - alpha)) / 255) as u8
}

/// Verifies one card; the reason when it is refused.
fn check(found: Found, jwks: &Jwks, crls: &[Crl], at: UnixTime, issuer: Option<&str>) -> Result<VerifiedCard, String> {
    let jws = match found {
        Found::Jws(jws) => jws,
        Found::QrText(text) => qr::from_numeric(&text).map_err(|e| reason(&e))?,
        Found::UnreadableQr(why) => return Err(why),
    };
    let card = shc::verify(&jws, jwks, at, None).map_err(|e| reason(&e))?;
    // Revocation with the list for the card's own key, once its signature holds.
    let card = match crls.iter().find(|c| c.kid == card.kid) {
        Some(crl) => shc::verify(&jws, jwks, at, Some(crl)).map_err(|e| reason(&e))?,
        None => card,
    };
    if let Some(expected) = issuer
        && card.payload.iss != expected
    {
        return Err(format!(
            "issued by {:?}, not by --issuer {expected:?}",
            printable(&card.payload.iss)
        ));
    }
    Ok(card)
}

/// The crate's reason, with times also written as RFC 3339.
fn reason(e: &ShcError) -> String {
    match e {
        ShcError::NotYetValid(t) | ShcError::Expired(t) => format!("{e} = {}", rfc3339(*t)),
        _ => e.to_string(),
    }
}

fn rfc3339(seconds: f64) -> String {
    UnixTime(seconds.floor() as i64).to_rfc3339()
}

fn write_summary(out: &mut impl Write, card: &VerifiedCard) -> std::io::Result<()> {
    let payload = &card.payload;
    writeln!(out, "  issuer: {}", printable(&payload.iss))?;
    writeln!(out, "  key: {}", card.kid)?;
    writeln!(out, "  nbf: {}", rfc3339(payload.nbf))?;
    match payload.exp {
        Some(exp) => writeln!(out, "  exp: {}", rfc3339(exp))?,
        None => writeln!(out, "  exp: none")?,
    }
    let revocation = match (card.revocation_checked, card.crl_version, &payload.rid) {
        (true, _, Some(_)) => "checked, not revoked".to_owned(),
        (true, _, None) => "the card has no rid, so no list can revoke it".to_owned(),
        (false, Some(version), _) => {
            format!("not checked: the issuer publishes a list for this key (crlVersion {version}); pass --crl")
        }
        (false, None, _) => "not checked (the key has no crlVersion and no --crl was given)".to_owned(),
    };
    writeln!(out, "  revocation: {revocation}")?;
    let counts = resource_counts(&payload.bundle);
    let counts: Vec<String> = counts.iter().map(|(t, n)| format!("{t} {n}")).collect();
    writeln!(out, "  resources: {}", counts.join(", "))?;
    Ok(())
}

/// A signed string from the card, cut to 200 characters and without control characters,
/// so that a card cannot forge lines of the output.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// The bundle's entries by `resource.resourceType`, sorted by type.
fn resource_counts(bundle: &Value) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for entry in entries {
        let kind = entry
            .pointer("/resource/resourceType")
            .and_then(Value::as_str)
            .unwrap_or("(no resourceType)");
        *counts.entry(printable(kind)).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resources_are_counted_by_type() {
        let bundle = json!({"resourceType": "Bundle", "entry": [
            {"resource": {"resourceType": "Patient"}},
            {"resource": {"resourceType": "Immunization"}},
            {"resource": {"resourceType": "Immunization"}},
            {"fullUrl": "resource:3"},
        ]});
        let counts: Vec<(String, usize)> = resource_counts(&bundle).into_iter().collect();
        assert_eq!(
            counts,
            [("(no resourceType)", 1), ("Immunization", 2), ("Patient", 1)].map(|(t, n)| (t.to_owned(), n))
        );
        assert!(resource_counts(&json!({"resourceType": "Bundle"})).is_empty());
    }

    #[test]
    fn transparency_is_composited_over_white() {
        assert_eq!(over_white(0, 255), 0);
        assert_eq!(over_white(0, 0), 255);
        assert_eq!(rec601(255, 255, 255), 255);
        assert_eq!(rec601(0, 0, 0), 0);
    }

    #[test]
    fn a_png_without_a_qr_code_or_not_a_png_is_malformed() {
        assert!(qr_codes_in_png(b"\x89PNG\r\n\x1a\nbroken").is_err());
        let blank = blank_png(64, 64);
        assert_eq!(
            qr_codes_in_png(&blank).err().as_deref(),
            Some("no QR code found in the image")
        );
        let huge = blank_png(MAX_IMAGE_SIDE + 1, 1);
        assert!(qr_codes_in_png(&huge).is_err_and(|e| e.contains("over the limit")));
    }

    fn blank_png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&vec![255; (width * height) as usize]).unwrap();
        writer.finish().unwrap();
        out
    }
}
