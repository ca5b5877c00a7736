//! SMART scope requests from outside: `ScopeSet::parse` on arbitrary UTF-8. Never
//! panics; a parsed set prints to text that parses back to the same set, and narrowing it
//! to a member kind's ceiling (`auth::ceiling`, what `POST /auth/token` grants) is exactly
//! the intersection, per context: for every supported type and interaction, the narrowed
//! set allows what both the request and the ceiling allow in that context, and nothing
//! else. In particular it never grants what the ceiling does not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_api::auth::ceiling;
use medledger_fhir::SUPPORTED_TYPES;
use medledger_fhir::scope::{Context, Interaction, ScopeSet};
use medledger_ledger::identity::MemberKind;

/// Every member kind. The match has no catch-all, so a new kind does not compile here
/// until it is listed.
fn member_kinds() -> [MemberKind; 6] {
    let all = [
        MemberKind::Admin,
        MemberKind::Practitioner,
        MemberKind::Patient,
        MemberKind::Device,
        MemberKind::Service,
        MemberKind::Privacy,
    ];
    for k in all {
        match k {
            MemberKind::Admin
            | MemberKind::Practitioner
            | MemberKind::Patient
            | MemberKind::Device
            | MemberKind::Service
            | MemberKind::Privacy => {}
        }
    }
    all
}

/// Every interaction, listed the same way.
fn interactions() -> [Interaction; 8] {
    let all = [
        Interaction::Create,
        Interaction::Read,
        Interaction::Vread,
        Interaction::Update,
        Interaction::Delete,
        Interaction::Search,
        Interaction::HistoryInstance,
        Interaction::HistoryType,
    ];
    for i in all {
        match i {
            Interaction::Create
            | Interaction::Read
            | Interaction::Vread
            | Interaction::Update
            | Interaction::Delete
            | Interaction::Search
            | Interaction::HistoryInstance
            | Interaction::HistoryType => {}
        }
    }
    all
}

const CONTEXTS: [Context; 3] = [Context::Patient, Context::User, Context::System];

/// Whether a scope of context `ctx` in `set` allows `i` on `t`.
fn allows_in(set: &ScopeSet, ctx: Context, t: &str, i: Interaction) -> bool {
    set.scopes().iter().any(|s| s.context == ctx && s.allows(t, i))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(asked) = ScopeSet::parse(text) else { return };
    assert!(!asked.is_empty());
    let printed = asked.to_string();
    assert_eq!(
        ScopeSet::parse(&printed).as_ref(),
        Ok(&asked),
        "{printed:?} does not re-parse"
    );

    for kind in member_kinds() {
        let cap = ScopeSet::parse(ceiling(kind)).expect("every ceiling parses");
        let narrowed = asked.narrow(&cap);
        if !narrowed.is_empty() {
            let printed = narrowed.to_string();
            assert_eq!(
                ScopeSet::parse(&printed).as_ref(),
                Ok(&narrowed),
                "{printed:?} does not re-parse"
            );
        }
        for t in SUPPORTED_TYPES {
            for i in interactions() {
                if narrowed.allows(t, i) {
                    assert!(
                        cap.allows(t, i),
                        "{kind:?}: {narrowed} grants {i:?} on {t}, the ceiling does not"
                    );
                    assert!(
                        asked.allows(t, i),
                        "{kind:?}: {narrowed} grants {i:?} on {t}, not asked"
                    );
                }
                for ctx in CONTEXTS {
                    assert_eq!(
                        allows_in(&narrowed, ctx, t, i),
                        allows_in(&asked, ctx, t, i) && allows_in(&cap, ctx, t, i),
                        "{kind:?}: {asked} narrowed to {narrowed}: {ctx} {i:?} on {t}"
                    );
                }
            }
        }
    }
});
