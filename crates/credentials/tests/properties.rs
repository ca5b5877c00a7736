//! Properties of the codecs, over generated inputs.

use medledger_credentials::jcs;
use medledger_credentials::npi::Npi;
use medledger_credentials::shc::qr;
use medledger_credentials::status_list::{MIN_ENTRIES, StatusList};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53)..=(1i64 << 53)).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn jcs_output_parses_back_to_the_same_document_and_is_a_fixed_point(v in json_value()) {
        let canonical = jcs::canonicalize(&v).unwrap();
        let back: Value = serde_json::from_str(&canonical).unwrap();
        // An integral double may come back as an integer: compare canonical forms.
        prop_assert_eq!(jcs::canonicalize(&back).unwrap(), canonical);
    }

    #[test]
    fn qr_numeric_form_round_trips(jws in "[-A-Za-z0-9_.]{0,1195}") {
        let numeric = qr::to_numeric(&jws).unwrap();
        prop_assert_eq!(numeric.len(), 5 + 2 * jws.len());
        prop_assert_eq!(qr::from_numeric(&numeric).unwrap(), jws);
    }

    #[test]
    fn status_lists_round_trip(bits in prop::collection::btree_set(0u64..(MIN_ENTRIES as u64 * 2), 0..64)) {
        let mut list = StatusList::new(MIN_ENTRIES * 2).unwrap();
        for &b in &bits {
            list.set(b, true).unwrap();
        }
        let back = StatusList::decode(&list.encode(), 1 << 20).unwrap();
        for i in (0..MIN_ENTRIES as u64 * 2).step_by(997).chain(bits.iter().copied()) {
            prop_assert_eq!(back.get(i).unwrap(), bits.contains(&i));
        }
    }

    #[test]
    fn each_nine_digit_prefix_has_one_check_digit(prefix in 0u32..1_000_000_000) {
        let valid = (0..10).filter(|d| Npi::parse(&format!("{prefix:09}{d}")).is_ok()).count();
        prop_assert_eq!(valid, 1);
    }
}
