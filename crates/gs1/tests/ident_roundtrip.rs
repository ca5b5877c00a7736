//! Round trips between the forms, over generated identifiers.

use medledger_gs1::ident::{
    CompanyPrefixLen, DigitalLink, Element, ElementString, EpcUri, Gln, GlnExtension, Gtin, Lot, Serial, Sscc,
    Symbology, check_digit,
};
use proptest::prelude::*;

/// `n` random digits followed by their GS1 check digit.
fn key(n: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..10, n).prop_map(|digits| {
        let data: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        let cd = check_digit(&data).unwrap_or('0');
        format!("{data}{cd}")
    })
}

/// 1–20 characters of CSET 82, every punctuation mark included.
fn cset82(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Za-z0-9!\"%&'()*+,\\-./:;<=>?_]{{1,{max}}}"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn date(day_zero: bool) -> impl Strategy<Value = String> {
    (0u32..100, 1u32..=12, if day_zero { 0u32..=28 } else { 1u32..=28 })
        .prop_map(|(y, m, d)| format!("{y:02}{m:02}{d:02}"))
}

fn element(ai: &str, value: String) -> Element {
    Element::parse(ai, &value).unwrap_or_else(|e| panic!("({ai}){value}: {e}"))
}

/// A trade item's element string: (01) and any of the attributes a pack or its Digital
/// Link may carry, in any order.
fn trade_item() -> impl Strategy<Value = ElementString> {
    let attributes = (
        prop::option::of(cset82(20)),
        prop::option::of(cset82(20)),
        prop::option::of(cset82(20)),
        prop::option::of(date(true)),
        prop::option::of(date(true)),
        prop::option::of((date(false), 0u32..24, 0u32..60)),
        prop::option::of(cset82(30)),
        prop::option::of(cset82(20)),
        prop::option::of(proptest::string::string_regex("[0-9]{1,8}").unwrap_or_else(|e| panic!("{e}"))),
    );
    (key(13), attributes)
        .prop_map(
            |(gtin, (lot, serial, cpv, expiry, prod, expiry_time, order, nhrn, count))| {
                let mut v = vec![element("01", gtin)];
                v.extend(lot.map(|x| element("10", x)));
                v.extend(serial.map(|x| element("21", x)));
                v.extend(cpv.map(|x| element("22", x)));
                v.extend(expiry.map(|x| element("17", x)));
                v.extend(prod.map(|x| element("11", x)));
                v.extend(expiry_time.map(|(d, h, m)| element("7003", format!("{d}{h:02}{m:02}"))));
                v.extend(order.map(|x| element("400", x)));
                v.extend(nhrn.map(|x| element("714", x)));
                v.extend(count.map(|x| element("30", x)));
                v
            },
        )
        .prop_shuffle()
        .prop_map(|v| ElementString::new(v).unwrap_or_else(|e| panic!("{e}")))
}

fn sorted(es: &ElementString) -> Vec<(String, String)> {
    let mut v: Vec<_> = es
        .elements()
        .iter()
        .map(|e| (e.ai().code().to_string(), e.value().to_string()))
        .collect();
    v.sort();
    v
}

fn symbology() -> impl Strategy<Value = Option<Symbology>> {
    prop::sample::select(vec![
        None,
        Some(Symbology::DataMatrix),
        Some(Symbology::Gs1_128),
        Some(Symbology::QrCode),
        Some(Symbology::DataBar),
        Some(Symbology::DotCode),
    ])
}

fn stem() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        DigitalLink::DEFAULT_STEM.to_string(),
        "https://example.com".into(),
        "http://a.example:8080/prefix/path".into(),
        "HTTPS://[2001:db8::1]".into(),
    ])
}

proptest! {
    #[test]
    fn element_string_through_bracketed(es in trade_item()) {
        prop_assert_eq!(ElementString::parse_bracketed(&es.to_bracketed()), Ok(es));
    }

    #[test]
    fn element_string_through_scanned(es in trade_item(), symbology in symbology()) {
        let scanned = es.to_gs(symbology);
        prop_assert!(!scanned.ends_with(char::from(0x1d)), "trailing FNC1");
        prop_assert_eq!(ElementString::parse_gs(&scanned), Ok(es));
    }

    #[test]
    fn element_string_through_digital_link(es in trade_item(), stem in stem()) {
        let uri = es.to_digital_link(&stem).unwrap_or_else(|e| panic!("{es}: {e}"));
        let dl = DigitalLink::parse(&uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
        // The URI puts the key and its qualifiers first; the set of elements is unchanged.
        prop_assert_eq!(sorted(dl.elements()), sorted(&es));
        prop_assert_eq!(dl.to_string(), uri.clone());
        prop_assert_eq!(dl.elements().to_digital_link(&stem), Ok(uri));
        prop_assert_eq!(dl.stem(), stem.trim_end_matches('/'));
    }

    #[test]
    fn sgtin_through_urn_for_every_prefix_length(gtin in key(13), serial in cset82(20)) {
        let gtin = Gtin::parse(&gtin).unwrap_or_else(|e| panic!("{e}"));
        let serial = Serial::parse(&serial).unwrap_or_else(|e| panic!("{e}"));
        for len in 6..=12 {
            let company_prefix_len = CompanyPrefixLen::new(len).unwrap_or_else(|e| panic!("{e}"));
            let uri = EpcUri::Sgtin { gtin: gtin.clone(), serial: serial.clone(), company_prefix_len };
            let text = uri.to_string();
            prop_assert_eq!(EpcUri::parse(&text), Ok(uri.clone()));
            prop_assert_eq!(uri.company_prefix(), &gtin.as_str()[1..=len]);
            let es = uri.to_elements().unwrap_or_else(|e| panic!("{e}"));
            prop_assert_eq!(es.get("01"), Some(gtin.as_str()));
            prop_assert_eq!(es.get("21"), Some(serial.as_str()));
            prop_assert_eq!(EpcUri::instance_from_elements(&es, company_prefix_len), Ok(uri.clone()));
            // And through the Digital Link.
            let dl = uri.to_digital_link(DigitalLink::DEFAULT_STEM).unwrap_or_else(|e| panic!("{e}"));
            let dl = DigitalLink::parse(&dl.to_string()).unwrap_or_else(|e| panic!("{e}"));
            prop_assert_eq!(EpcUri::from_digital_link(&dl, company_prefix_len), Ok(uri));
        }
    }

    #[test]
    fn sscc_sgln_lgtin_through_urn(
        sscc in key(17),
        gln in key(12),
        ext in prop::option::of(cset82(20)),
        gtin in key(13),
        lot in cset82(20),
        len in 6usize..=12,
    ) {
        let company_prefix_len = CompanyPrefixLen::new(len).unwrap_or_else(|e| panic!("{e}"));
        let ext = ext.filter(|e| e != "0");
        let uris = [
            EpcUri::Sscc { sscc: Sscc::parse(&sscc).unwrap_or_else(|e| panic!("{e}")), company_prefix_len },
            EpcUri::Sgln {
                gln: Gln::parse(&gln).unwrap_or_else(|e| panic!("{e}")),
                extension: ext.map(|e| GlnExtension::parse(&e).unwrap_or_else(|e| panic!("{e}"))),
                company_prefix_len,
            },
            EpcUri::Lgtin {
                gtin: Gtin::parse(&gtin).unwrap_or_else(|e| panic!("{e}")),
                lot: Lot::parse(&lot).unwrap_or_else(|e| panic!("{e}")),
                company_prefix_len,
            },
            EpcUri::SgtinPattern { gtin: Gtin::parse(&gtin).unwrap_or_else(|e| panic!("{e}")), company_prefix_len },
        ];
        for uri in uris {
            prop_assert_eq!(EpcUri::parse(&uri.to_string()), Ok(uri.clone()));
            let es = uri.to_elements().unwrap_or_else(|e| panic!("{e}"));
            let back = match uri {
                EpcUri::Lgtin { .. } | EpcUri::SgtinPattern { .. } => EpcUri::class_from_elements(&es, company_prefix_len),
                _ => EpcUri::instance_from_elements(&es, company_prefix_len),
            };
            prop_assert_eq!(back, Ok(uri));
        }
    }
}
