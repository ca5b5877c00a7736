//! `POST /auth/token` forms from outside: `parse_token_form` on arbitrary bytes. Never
//! panics; an accepted form asks for a non-empty, normalised scope set that is no longer
//! than the form: each of its scopes comes from a distinct word of at least 8 characters
//! (`user/*.c`) of the form, and there is at most one per context and type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_api::auth::{MAX_FORM, parse_token_form};
use medledger_fhir::SUPPORTED_TYPES;

const FORM: &str = "application/x-www-form-urlencoded";
/// The shortest resource scope, `user/*.c`.
const SHORTEST_SCOPE: usize = 8;
/// `auth::MAX_ASSERTION` is private: the longest client assertion accepted.
const MAX_ASSERTION: usize = 8 * 1024;

fuzz_target!(|data: &[u8]| {
    // Only the form content type is read at all.
    assert!(parse_token_form("application/json", data).is_err());
    let Ok(req) = parse_token_form(FORM, data) else { return };
    assert!(data.len() <= MAX_FORM);
    assert!(req.assertion.len() <= MAX_ASSERTION);
    let scopes = req.scopes.scopes();
    assert!(!scopes.is_empty(), "a token request without a resource scope");
    assert!(
        scopes.len() * SHORTEST_SCOPE <= data.len(),
        "{} scopes from a {}-byte form",
        scopes.len(),
        data.len()
    );
    // Normalised: one scope per context and type (or wildcard).
    assert!(scopes.len() <= 3 * (SUPPORTED_TYPES.len() + 1));
    for (i, a) in scopes.iter().enumerate() {
        for b in &scopes[i + 1..] {
            assert!(
                (a.context, &a.resource) < (b.context, &b.resource),
                "not normalised: {a} then {b}"
            );
        }
    }
});
