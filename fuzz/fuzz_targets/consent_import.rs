//! Hostile FHIR Consent files (`medledger tx consent-import`) and node config files:
//! mapping a Consent to a ledger transaction and parsing `config.toml` never panic; a
//! mapped grant's body re-encodes and decodes to the same transaction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_api::fhir::consent::{Imported, from_fhir};
use medledger_ledger::Payload;
use medledger_types::TimestampMs;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(imported) = from_fhir(&v, TimestampMs(1_790_000_000_000))
    {
        let payload = match imported {
            Imported::Grant(g) => Payload::ConsentGrant(g),
            Imported::Revoke(r) => Payload::ConsentRevoke(r),
        };
        let again = Payload::decode(payload.kind(), &payload.body()).expect("a mapped consent decodes");
        assert_eq!(again, payload);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(c) = medledger_node::config::Config::parse(text)
    {
        // A valid config survives its own round trip.
        assert_eq!(medledger_node::config::Config::parse(&c.to_toml()).ok(), Some(c));
    }
});
