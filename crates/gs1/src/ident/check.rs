//! The GS1 mod-10 check digit (GS1 General Specifications §7.9.1).
//!
//! Each data digit is weighted 3 and 1 alternately, starting with 3 at the digit next to
//! the check digit (the rightmost data digit), so the same routine serves GTIN-8/12/13/14,
//! GLN, SSCC and GSRN whatever their length. The check digit is what brings the weighted
//! sum up to a multiple of ten.

/// The check digit for `data` (the digits before the check digit), or `None` if `data` is
/// empty or holds a non-digit.
pub fn check_digit(data: &str) -> Option<char> {
    if data.is_empty() {
        return None;
    }
    let mut sum = 0u32;
    for (i, b) in data.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let weight = if i % 2 == 0 { 3 } else { 1 };
        sum += u32::from(b - b'0') * weight;
    }
    let digit = (10 - sum % 10) % 10;
    char::from_digit(digit, 10)
}

/// Whether the last digit of `key` is the check digit of the digits before it.
pub fn has_valid_check_digit(key: &str) -> bool {
    match key.len().checked_sub(1) {
        Some(split) if split > 0 && key.is_char_boundary(split) => {
            let (data, last) = key.split_at(split);
            check_digit(data).is_some_and(|c| last.starts_with(c))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn general_specifications_example() {
        // GenSpecs §7.9.1 worked example: GTIN-13 data 629104150021 -> check digit 3.
        assert_eq!(check_digit("629104150021"), Some('3'));
        assert!(has_valid_check_digit("6291041500213"));
        assert!(!has_valid_check_digit("6291041500214"));
    }

    #[test]
    fn lengths_and_rejects() {
        // SSCC from TDS §6.3.2: 10614141123456789 -> 7.
        assert_eq!(check_digit("10614141123456789"), Some('7'));
        // GTIN-8 from the GS1 Syntax Engine DL tests: 02345673.
        assert!(has_valid_check_digit("02345673"));
        assert_eq!(check_digit(""), None);
        assert_eq!(check_digit("12a"), None);
        assert!(!has_valid_check_digit("7"));
        assert!(!has_valid_check_digit(""));
        assert!(!has_valid_check_digit("1é"));
    }
}
