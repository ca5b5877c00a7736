//! Value normalisation for the event hash ID (CBV 2.0 §8.9, rules 6, 14, 17 and 18).
//!
//! Every value that enters the pre-hash string, except timestamps, goes through
//! [`canonical_value`]:
//!
//! 1. CBV 1.x URNs (`urn:epcglobal:cbv:bizstep:`, `disp:`, `btt:`, `sdt:`, `er:`) are rewritten
//!    to their CBV 2.0 Web URIs (`https://ref.gs1.org/cbv/BizStep-` …) (rule 14).
//! 2. A value that reads as a number is written without trailing zeros (rule 6). The reference
//!    implementation does this by reading the value as an IEEE-754 double and printing it the
//!    shortest way; we do the same, so a long digit string (a 24-digit `stringValue`) loses
//!    precision exactly as it does there, and the hashes agree.
//! 3. EPC URIs (`urn:epc:id:`, `urn:epc:class:lgtin:`, `urn:epc:idpat:`) become canonical
//!    GS1 Digital Link URIs (rule 17; TDS 2.0 §6 and §7 give the EPC URI grammar, GS1 Digital
//!    Link 1.2 §4.11 the canonical form); Digital Link URIs are constrained (rule 18): the
//!    domain becomes `https://id.gs1.org`, the query string goes, and only the finest key
//!    level is kept (`01 21`, `01 235`, `01 10`, `8006 21`, `8006 10`, `414 254`, `8010 8011`,
//!    else the key alone; CPV `22` is dropped).
//!
//! Values this code cannot read as any of these stay as they are.

/// Applies the three normalisations above, in that order.
pub(crate) fn canonical_value(text: &str) -> String {
    let text = web_vocabulary(text);
    let text = numeric(&text).unwrap_or(text);
    normalise_gs1_uri(&text).unwrap_or(text)
}

const CBV_URN_TO_WEB: [(&str, &str); 5] = [
    ("urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-"),
    ("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-"),
    ("urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-"),
    ("urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-"),
    ("urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-"),
];

fn web_vocabulary(text: &str) -> String {
    let mut out = text.to_owned();
    for (urn, web) in CBV_URN_TO_WEB {
        if out.contains(urn) {
            out = out.replace(urn, web);
        }
    }
    out
}

/// The shortest form of a value that reads as a finite double: an integral value as an
/// integer (`1.0` → `1`, `1e3` → `1000`), another as the shortest round-trip decimal, in
/// exponent form below 1e-4 (`1e-05`), as Python's `repr(float)` writes it.
pub(crate) fn numeric(text: &str) -> Option<String> {
    let t = text.trim();
    let looks_numeric = !t.is_empty()
        && t.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.' | b'e' | b'E'))
        && t.bytes().any(|c| c.is_ascii_digit());
    if !looks_numeric {
        return None;
    }
    let value: f64 = t.parse().ok()?;
    format_double(value)
}

/// Writes a finite double the way [`numeric`] describes; `None` for NaN and infinities.
pub(crate) fn format_double(value: f64) -> Option<String> {
    if !value.is_finite() {
        return None;
    }
    if value.fract() == 0.0 {
        let s = format!("{value:.0}");
        return Some(if s == "-0" { "0".to_owned() } else { s });
    }
    if value.abs() < 1e-4 {
        let s = format!("{value:e}");
        let (mantissa, exponent) = s.split_once('e')?;
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(d) => ("-", d),
            None => ("+", exponent),
        };
        return Some(format!("{mantissa}e{sign}{digits:0>2}"));
    }
    Some(format!("{value}"))
}

/// GS1 Digital Link percent-encoding of the characters EPC URIs leave bare but a URI path
/// segment may not (GS1 Digital Link 1.2, table 7-1); `%xx` escapes already present stay.
fn dl_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '!' => out.push_str("%21"),
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '*' => out.push_str("%2A"),
            '+' => out.push_str("%2B"),
            ',' => out.push_str("%2C"),
            ':' => out.push_str("%3A"),
            _ => out.push(c),
        }
    }
    out
}

/// The GS1 mod-10 check digit (GS1 General Specifications §7.9.1).
fn check_digit(digits: &str) -> char {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_digit())
}

/// Counts the characters of an EPC URI component in the GS1 AI encodable set 82 as the EPC
/// URI writes it (TDS 2.0 §5: bare `!'()*+,-.:;=_` and alphanumerics, `%xx` for the rest);
/// `None` if a character falls outside it.
fn urn_component_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut count = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let (h, l) = (*b.get(i + 1)?, *b.get(i + 2)?);
            if !escape_allowed(h, l) {
                return None;
            }
            i += 3;
        } else if c.is_ascii_alphanumeric() || b"!')(*+,.:;=_-".contains(&c) {
            i += 1;
        } else {
            return None;
        }
        count += 1;
    }
    Some(count)
}

/// The `%xx` escapes TDS 2.0 allows in EPC URIs: `"`, `%`, `&`, `/`, `<`, `>`, `?`, and the
/// escaped forms of characters that may also appear bare.
fn escape_allowed(high: u8, low: u8) -> bool {
    let low = low.to_ascii_uppercase();
    let hex = low.is_ascii_digit() || (b'A'..=b'F').contains(&low);
    hex && match high {
        b'2' => matches!(low, b'1' | b'2' | b'5'..=b'9' | b'A'..=b'F'),
        b'3' => true,
        b'4' => low != b'0',
        b'5' => matches!(low, b'0' | b'A' | b'F'),
        b'6' => low != b'0',
        b'7' => matches!(low, b'0' | b'A'),
        _ => false,
    }
}

fn component_ok(s: &str, max: usize) -> bool {
    matches!(urn_component_len(s), Some(n) if (1..=max).contains(&n))
}

/// `company_prefix` (6 to 12 digits) and a digit reference making `total` digits together.
fn prefix_and_ref(company_prefix: &str, reference: &str, total: usize) -> bool {
    (6..=12).contains(&company_prefix.len())
        && all_digits(company_prefix)
        && all_digits(reference)
        && company_prefix.len() + reference.len() == total
}

/// GTIN-14 from an EPC `CompanyPrefix.IndicatorItemRef` pair (TDS 2.0 §6.3.1).
fn gtin(company_prefix: &str, indicator_item: &str) -> Option<String> {
    if !prefix_and_ref(company_prefix, indicator_item, 13) {
        return None;
    }
    let body = format!("{}{company_prefix}{}", &indicator_item[..1], &indicator_item[1..]);
    let check = check_digit(&body);
    Some(format!("{body}{check}"))
}

/// A 13-digit key (GLN, GDTI, SGCN) from prefix and 12-digit reference, with check digit.
fn key13(company_prefix: &str, reference: &str) -> Option<String> {
    if !prefix_and_ref(company_prefix, reference, 12) {
        return None;
    }
    let body = format!("{company_prefix}{reference}");
    let check = check_digit(&body);
    Some(format!("{body}{check}"))
}

fn with_check(company_prefix: &str, reference: &str, total: usize) -> Option<String> {
    if !prefix_and_ref(company_prefix, reference, total) {
        return None;
    }
    let body = format!("{company_prefix}{reference}");
    let check = check_digit(&body);
    Some(format!("{body}{check}"))
}

const DL: &str = "https://id.gs1.org";

/// Normalises an EPC URI or GS1 Digital Link URI; `None` if `uri` is neither (or not valid).
pub(crate) fn normalise_gs1_uri(uri: &str) -> Option<String> {
    if let Some(rest) = uri.strip_prefix("urn:epc:id:") {
        epc_id(rest)
    } else if let Some(rest) = uri.strip_prefix("urn:epc:class:lgtin:") {
        let mut p = rest.splitn(3, '.');
        let (cp, item, lot) = (p.next()?, p.next()?, p.next()?);
        component_ok(lot, 20).then_some(())?;
        Some(format!("{DL}/01/{}/10/{}", gtin(cp, item)?, dl_escape(lot)))
    } else if let Some(rest) = uri.strip_prefix("urn:epc:idpat:") {
        epc_pattern(rest)
    } else if uri.starts_with("https://") || uri.starts_with("http://") {
        digital_link(uri)
    } else {
        None
    }
}

/// EPC pure identity URIs (TDS 2.0 §6.3) to Digital Link.
fn epc_id(rest: &str) -> Option<String> {
    let (scheme, body) = rest.split_once(':')?;
    let three = || {
        let mut p = body.splitn(3, '.');
        Some((p.next()?, p.next()?, p.next()?))
    };
    let two = || {
        let (a, b) = body.split_once('.')?;
        (!b.contains('.')).then_some((a, b))
    };
    match scheme {
        "sgtin" => {
            let (cp, item, serial) = three()?;
            component_ok(serial, 20).then_some(())?;
            Some(format!("{DL}/01/{}/21/{}", gtin(cp, item)?, dl_escape(serial)))
        }
        "sscc" => {
            let (cp, serial_ref) = two()?;
            if !prefix_and_ref(cp, serial_ref, 17) {
                return None;
            }
            let body = format!("{}{cp}{}", &serial_ref[..1], &serial_ref[1..]);
            let check = check_digit(&body);
            Some(format!("{DL}/00/{body}{check}"))
        }
        "sgln" => {
            let (cp, location, extension) = three()?;
            component_ok(extension, 20).then_some(())?;
            let gln = key13(cp, location)?;
            Some(if extension == "0" {
                format!("{DL}/414/{gln}")
            } else {
                format!("{DL}/414/{gln}/254/{}", dl_escape(extension))
            })
        }
        "grai" => {
            let (cp, asset_type, serial) = three()?;
            component_ok(serial, 16).then_some(())?;
            let key = key13(cp, asset_type)?;
            Some(format!("{DL}/8003/0{key}{}", dl_escape(serial)))
        }
        "giai" => {
            let (cp, asset) = body.split_once('.')?;
            let ok = (6..=12).contains(&cp.len()) && all_digits(cp) && component_ok(asset, 30 - cp.len());
            ok.then(|| format!("{DL}/8004/{cp}{}", dl_escape(asset)))
        }
        "gsrn" | "gsrnp" => {
            let (cp, service) = two()?;
            let key = with_check(cp, service, 17)?;
            let ai = if scheme == "gsrn" { "8018" } else { "8017" };
            Some(format!("{DL}/{ai}/{key}"))
        }
        "gdti" => {
            let (cp, doc_type, serial) = three()?;
            component_ok(serial, 17).then_some(())?;
            Some(format!("{DL}/253/{}{}", key13(cp, doc_type)?, dl_escape(serial)))
        }
        "cpi" => {
            let (cp, tail) = body.split_once('.')?;
            let (cp_ref, serial) = tail.rsplit_once('.')?;
            let ref_ok = !cp_ref.is_empty()
                && cp_ref.len() + cp.len() <= 30
                && cpi_reference_ok(cp_ref)
                && (6..=12).contains(&cp.len())
                && all_digits(cp);
            let serial_ok = (1..=12).contains(&serial.len()) && all_digits(serial);
            (ref_ok && serial_ok).then(|| format!("{DL}/8010/{cp}{cp_ref}/8011/{serial}"))
        }
        "sgcn" => {
            let (cp, coupon, serial) = three()?;
            let serial_ok = (1..=12).contains(&serial.len()) && all_digits(serial);
            serial_ok.then_some(())?;
            Some(format!("{DL}/255/{}{serial}", key13(cp, coupon)?))
        }
        "ginc" => {
            let (cp, consignment) = body.split_once('.')?;
            let ok = (6..=12).contains(&cp.len()) && all_digits(cp) && component_ok(consignment, 30 - cp.len());
            ok.then(|| format!("{DL}/401/{cp}{}", dl_escape(consignment)))
        }
        "gsin" => {
            let (cp, shipper) = two()?;
            Some(format!("{DL}/402/{}", with_check(cp, shipper, 16)?))
        }
        "itip" => {
            let mut p = body.splitn(5, '.');
            let (cp, item, piece, total, serial) = (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
            let pt_ok = piece.len() == 2 && total.len() == 2 && all_digits(piece) && all_digits(total);
            (pt_ok && component_ok(serial, 20)).then_some(())?;
            let g = gtin(cp, item)?;
            Some(format!("{DL}/8006/{g}{piece}{total}/21/{}", dl_escape(serial)))
        }
        "upui" => {
            let (cp, item, tpx) = three()?;
            component_ok(tpx, 28).then_some(())?;
            Some(format!("{DL}/01/{}/235/{}", gtin(cp, item)?, dl_escape(tpx)))
        }
        "pgln" => {
            let (cp, party) = two()?;
            Some(format!("{DL}/417/{}", key13(cp, party)?))
        }
        _ => None,
    }
}

/// CPI component/part references: digits, upper-case letters, `-`, and `%23` `%2D` `%2F`.
fn cpi_reference_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (b.get(i + 1), b.get(i + 2).map(u8::to_ascii_uppercase)) {
                (Some(b'2'), Some(b'3' | b'D' | b'F')) => i += 3,
                _ => return false,
            }
        } else if b[i].is_ascii_digit() || b[i].is_ascii_uppercase() || b[i] == b'-' {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// EPC pattern URIs whose serial part is `*` (TDS 2.0 §8): the class-level key.
fn epc_pattern(rest: &str) -> Option<String> {
    let (scheme, body) = rest.split_once(':')?;
    let body = body.strip_suffix(".*")?;
    let pair = || {
        let (a, b) = body.split_once('.')?;
        (!b.contains('.')).then_some((a, b))
    };
    match scheme {
        "sgtin" | "upui" => {
            let (cp, item) = pair()?;
            Some(format!("{DL}/01/{}", gtin(cp, item)?))
        }
        "grai" => {
            let (cp, asset_type) = pair()?;
            Some(format!("{DL}/8003/0{}", key13(cp, asset_type)?))
        }
        "gdti" => {
            let (cp, doc_type) = pair()?;
            Some(format!("{DL}/253/{}", key13(cp, doc_type)?))
        }
        "sgcn" => {
            let (cp, coupon) = pair()?;
            Some(format!("{DL}/255/{}", key13(cp, coupon)?))
        }
        "cpi" => {
            let (cp, cp_ref) = pair()?;
            let ok = (6..=12).contains(&cp.len()) && all_digits(cp) && !cp_ref.is_empty() && cpi_reference_ok(cp_ref);
            ok.then(|| format!("{DL}/8010/{cp}{cp_ref}"))
        }
        "itip" => {
            let mut p = body.splitn(4, '.');
            let (cp, item, piece, total) = (p.next()?, p.next()?, p.next()?, p.next()?);
            let pt_ok = piece.len() == 2 && total.len() == 2 && all_digits(piece) && all_digits(total);
            pt_ok.then_some(())?;
            Some(format!("{DL}/8006/{}{piece}{total}", gtin(cp, item)?))
        }
        _ => None,
    }
}

/// Primary keys a Digital Link path may start with, by AI and by short name.
const PRIMARY_KEYS: [(&str, &str); 14] = [
    ("01", "gtin"),
    ("8006", "itip"),
    ("8010", "cpid"),
    ("414", "gln"),
    ("417", "party"),
    ("8017", "gsrnp"),
    ("8018", "gsrn"),
    ("255", "gcn"),
    ("00", "sscc"),
    ("253", "gdti"),
    ("401", "ginc"),
    ("402", "gsin"),
    ("8003", "grai"),
    ("8004", "giai"),
];

fn primary_key_ai(segment: &str) -> Option<&'static str> {
    PRIMARY_KEYS
        .iter()
        .find(|(ai, short)| segment == *ai || segment == *short)
        .map(|(ai, _)| *ai)
}

fn qualifier_ai(segment: &str) -> &str {
    match segment {
        "cpv" => "22",
        "lot" => "10",
        "ser" => "21",
        other => other,
    }
}

/// Constrains a GS1 Digital Link URI (rule 18); `None` if `uri` carries no GS1 key path.
fn digital_link(uri: &str) -> Option<String> {
    let after_scheme = uri.split_once("://")?.1;
    let without_query = after_scheme.split(['?', '#']).next()?;
    let (_authority, path) = without_query.split_once('/')?;
    let segments: Vec<&str> = path.split('/').collect();
    let start = segments.iter().position(|s| primary_key_ai(s).is_some())?;
    let key_ai = primary_key_ai(segments[start])?;
    let mut value = (*segments.get(start + 1)?).to_owned();
    if value.len() < 5 || !value.bytes().take(4).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut rest = &segments[start + 2..];
    if rest.last() == Some(&"") {
        rest = &rest[..rest.len() - 1];
    }
    if !rest.len().is_multiple_of(2) {
        return None;
    }
    let qualifiers: Vec<(&str, &str)> = rest.chunks(2).map(|pair| (qualifier_ai(pair[0]), pair[1])).collect();
    if key_ai == "01" && all_digits(&value) && matches!(value.len(), 8 | 12 | 13) {
        value = format!("{value:0>14}");
    }
    let find = |ai: &str| qualifiers.iter().find(|(q, _)| *q == ai).map(|(_, v)| *v);
    let allowed: &[&str] = match key_ai {
        "01" => &["22", "10", "21", "235"],
        "8006" => &["22", "10", "21"],
        "414" => &["254"],
        "8010" => &["8011"],
        _ => &[],
    };
    if qualifiers.iter().any(|(q, _)| !allowed.contains(q)) {
        return None;
    }
    let finest = match key_ai {
        "01" => ["21", "235", "10"].into_iter().find_map(|q| find(q).map(|v| (q, v))),
        "8006" => ["21", "10"].into_iter().find_map(|q| find(q).map(|v| (q, v))),
        "414" => find("254").map(|v| ("254", v)),
        "8010" => find("8011").map(|v| ("8011", v)),
        _ => None,
    };
    if !dl_key_valid(key_ai, &value) {
        return None;
    }
    match finest {
        Some((q, v)) if dl_qualifier_valid(q, v) => Some(format!("{DL}/{key_ai}/{value}/{q}/{v}")),
        Some(_) => None,
        None => Some(format!("{DL}/{key_ai}/{value}")),
    }
}

/// Characters of a Digital Link path value: set 82 with its URI-reserved characters
/// percent-encoded.
fn dl_chars_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let (h, l) = (*b.get(i + 1)?, *b.get(i + 2)?);
            if !(h.is_ascii_hexdigit() && l.is_ascii_hexdigit()) {
                return None;
            }
            i += 3;
        } else if b[i].is_ascii_alphanumeric() || b"\"'-.;<=>?_".contains(&b[i]) {
            i += 1;
        } else {
            return None;
        }
        n += 1;
    }
    Some(n)
}

fn digits_then_chars(value: &str, digits: usize, max_chars: usize) -> bool {
    value.len() >= digits
        && value.is_char_boundary(digits)
        && all_digits(&value[..digits])
        && matches!(dl_chars_len(&value[digits..]), Some(n) if n <= max_chars)
}

fn dl_key_valid(ai: &str, value: &str) -> bool {
    let fixed = |n: usize| value.len() == n && all_digits(value);
    match ai {
        "00" | "8006" | "8017" | "8018" => fixed(18),
        "01" => fixed(14),
        "402" => fixed(17),
        "414" | "417" => fixed(13),
        "253" => digits_then_chars(value, 13, 17),
        "255" => value.len() <= 25 && fixed(value.len()) && value.len() >= 13,
        "8003" => digits_then_chars(value, 14, 16),
        "401" | "8004" => matches!(dl_chars_len(value), Some(n) if n <= 30),
        "8010" => value.len() <= 30 && cpi_reference_ok(value),
        _ => false,
    }
}

fn dl_qualifier_valid(ai: &str, value: &str) -> bool {
    match ai {
        "21" | "10" | "254" => matches!(dl_chars_len(value), Some(n) if (1..=20).contains(&n)),
        "235" => matches!(dl_chars_len(value), Some(n) if (1..=28).contains(&n)),
        "8011" => (1..=12).contains(&value.len()) && all_digits(value),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_lose_trailing_zeros() {
        assert_eq!(numeric("452.0").as_deref(), Some("452"));
        assert_eq!(numeric("0.50").as_deref(), Some("0.5"));
        assert_eq!(numeric("+01:00"), None);
        assert_eq!(numeric("1e3").as_deref(), Some("1000"));
        assert_eq!(numeric("0.00001").as_deref(), Some("1e-05"));
        assert_eq!(numeric("-0").as_deref(), Some("0"));
        assert_eq!(
            numeric("111100001111000011110000").as_deref(),
            Some("111100001111000003641344")
        );
        assert_eq!(numeric("nan"), None);
        assert_eq!(numeric("2019-10-21"), None);
    }

    #[test]
    fn epc_uris_become_digital_links() {
        let n = |s: &str| normalise_gs1_uri(s).unwrap_or_default();
        assert_eq!(
            n("urn:epc:id:sgtin:0614141.011111.987"),
            "https://id.gs1.org/01/00614141111114/21/987"
        );
        assert_eq!(
            n("urn:epc:id:sscc:4012345.0000000333"),
            "https://id.gs1.org/00/040123450000003338"
        );
        assert_eq!(
            n("urn:epc:id:sgln:4012345.00011.987"),
            "https://id.gs1.org/414/4012345000115/254/987"
        );
        assert_eq!(
            n("urn:epc:id:sgln:4012345.00011.0"),
            "https://id.gs1.org/414/4012345000115"
        );
        assert_eq!(
            n("urn:epc:id:pgln:999999999999."),
            "https://id.gs1.org/417/9999999999994"
        );
        assert_eq!(
            n("urn:epc:id:gdti:987659999999..9"),
            "https://id.gs1.org/253/98765999999929"
        );
        assert_eq!(
            n("urn:epc:id:sgtin:0614141.812345.6789%2F%26%25%22!%3F()"),
            "https://id.gs1.org/01/80614141123458/21/6789%2F%26%25%22%21%3F%28%29"
        );
        assert_eq!(
            n("urn:epc:idpat:sgtin:4012345.044444.*"),
            "https://id.gs1.org/01/04012345444445"
        );
        assert_eq!(n("urn:epc:id:sgtin:0614141.011111"), "");
    }

    #[test]
    fn digital_links_are_constrained() {
        let n = |s: &str| normalise_gs1_uri(s).unwrap_or_default();
        assert_eq!(
            n("https://example.com/gtin/09780345418913/21/765tz?abc=211121"),
            "https://id.gs1.org/01/09780345418913/21/765tz"
        );
        assert_eq!(
            n("https://id.gs1.de/414/4012345000115"),
            "https://id.gs1.org/414/4012345000115"
        );
        assert_eq!(
            n("https://id.gs1.org/01/4012345111118/10/ABC/21/1"),
            "https://id.gs1.org/01/04012345111118/21/1"
        );
        assert_eq!(n("http://transaction.acme.com/po/12345678"), "");
        assert_eq!(n("https://example.com/ErrorCode-A827"), "");
    }
}
