//! The SMART Health Card reader on arbitrary text: the `shc:/` numeric QR decoder, the
//! compact JWS split and header checks, the bounded raw inflate and the payload parser.
//! Never panics, never inflates past the bound, and never accepts a card the fuzzer did
//! not sign (it has no issuer key).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_credentials::UnixTime;
use medledger_credentials::shc::{self, Crl, IssuerKey, Jwks, card, qr};
use std::sync::OnceLock;

fn jwks() -> &'static Jwks {
    static JWKS: OnceLock<Jwks> = OnceLock::new();
    JWKS.get_or_init(|| {
        let key = IssuerKey::from_bytes(&[7; 32]).expect("a valid scalar");
        let set = serde_json::json!({ "keys": [key.public_jwk(Some(1))] });
        Jwks::from_json(&set.to_string()).expect("our own key set")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // As scanned from a QR, and as a JWS directly (a file download).
    let from_qr = qr::from_numeric(text);
    if let Ok(jws) = &from_qr {
        assert_eq!(qr::to_numeric(jws).as_deref(), Ok(text), "numeric form round-trips");
    }
    for jws in [from_qr.ok().as_deref(), Some(text)].into_iter().flatten() {
        if let Ok((_, payload)) = card::decode_unverified(jws) {
            assert!(serde_json::to_vec(&payload.to_json()).is_ok_and(|v| v.len() <= shc::MAX_PAYLOAD_BYTES * 2));
        }
        let crl = Crl { kid: String::new(), ctr: 1, rids: Vec::new() };
        assert!(shc::verify(jws, jwks(), UnixTime(1_700_000_000), Some(&crl)).is_err());
    }
});
