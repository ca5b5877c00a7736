use proptest::prelude::*;

use super::*;

const EVERY: [Interaction; 8] = [
    Interaction::Create,
    Interaction::Read,
    Interaction::Vread,
    Interaction::Update,
    Interaction::Delete,
    Interaction::Search,
    Interaction::HistoryInstance,
    Interaction::HistoryType,
];

/// The interactions a scope grants on Observation.
fn granted(scope: &str) -> Vec<Interaction> {
    let s = Scope::parse(scope).unwrap();
    EVERY.into_iter().filter(|i| s.allows("Observation", *i)).collect()
}

#[test]
fn each_v2_letter_grants_its_interactions() {
    use Interaction::*;
    let table: [(&str, &[Interaction]); 6] = [
        ("system/Observation.c", &[Create]),
        ("system/Observation.r", &[Read, Vread, HistoryInstance]),
        ("system/Observation.u", &[Update]),
        ("system/Observation.d", &[Delete]),
        ("system/Observation.s", &[Search, HistoryType]),
        ("system/Observation.cruds", &EVERY),
    ];
    for (scope, expected) in table {
        assert_eq!(granted(scope), expected, "{scope}");
    }
}

#[test]
fn v1_permissions_map_to_v2() {
    let table = [
        ("user/Observation.read", "user/Observation.rs"),
        ("user/Observation.write", "user/Observation.cud"),
        ("user/Observation.*", "user/Observation.cruds"),
        ("patient/*.read", "patient/*.rs"),
        ("system/*.*", "system/*.cruds"),
    ];
    for (v1, v2) in table {
        assert_eq!(Scope::parse(v1).unwrap(), Scope::parse(v2).unwrap(), "{v1}");
        assert_eq!(Scope::parse(v1).unwrap().to_string(), v2);
    }
}

#[test]
fn contexts_and_types_are_parsed() {
    let s = Scope::parse("patient/Condition.rs").unwrap();
    assert_eq!(s.context, Context::Patient);
    assert_eq!(s.resource.as_deref(), Some("Condition"));
    assert_eq!(s.permissions(), "rs");
    let w = Scope::parse("system/*.c").unwrap();
    assert_eq!(w.context, Context::System);
    assert_eq!(w.resource, None);
    assert!(w.allows("Patient", Interaction::Create));
    assert!(w.allows("Provenance", Interaction::Create));
    assert!(
        !Scope::parse("user/Patient.r")
            .unwrap()
            .allows("Observation", Interaction::Read)
    );
    for t in crate::resource_types() {
        assert!(Scope::parse(&format!("user/{t}.r")).is_ok(), "{t}");
    }
}

#[test]
fn malformed_scopes_are_refused() {
    for bad in [
        "user/Observation",
        "user/Observation.",
        "admin/*.r",
        "User/*.r",
        "user/Observation.sr",
        "user/Observation.rr",
        "user/Observation.x",
        "user/Observation.R",
        "user/Observation.r.s",
        "user/Observation.reads",
        "user/.r",
        "user/Obs-1.r",
        "user/Obs_x.r",
        "user/**.r",
        "user/Observation.r\u{e9}",
        "user/\u{e9}.r",
        "/",
        "user/",
    ] {
        assert!(
            matches!(Scope::parse(bad), Err(ScopeError::Malformed(_))),
            "{bad}: {:?}",
            Scope::parse(bad)
        );
    }
}

#[test]
fn unknown_types_and_constraints_are_refused_with_their_own_errors() {
    assert!(matches!(
        Scope::parse("user/Specimens.r"),
        Err(ScopeError::UnknownType(_))
    ));
    assert!(matches!(
        Scope::parse("user/observation.r"),
        Err(ScopeError::UnknownType(_))
    ));
    assert!(matches!(
        Scope::parse("patient/Observation.rs?category=laboratory"),
        Err(ScopeError::Unsupported(_))
    ));
    assert!(matches!(
        ScopeSet::parse("openid patient/Observation.rs?category=laboratory"),
        Err(ScopeError::Unsupported(_))
    ));
}

#[test]
fn non_resource_words_are_ignored() {
    let s = ScopeSet::parse("openid fhirUser profile launch launch/patient offline_access system/Patient.r").unwrap();
    assert_eq!(s.to_string(), "system/Patient.r");
    assert_eq!(ScopeSet::parse("openid fhirUser"), Err(ScopeError::Empty));
    assert_eq!(ScopeSet::parse(""), Err(ScopeError::Empty));
    assert_eq!(ScopeSet::parse(" \t\n "), Err(ScopeError::Empty));
    assert_eq!(ScopeSet::parse("launch/patient"), Err(ScopeError::Empty));
    // A resource-scope prefix commits the word to the strict grammar.
    assert!(matches!(
        ScopeSet::parse("openid user/Observation"),
        Err(ScopeError::Malformed(_))
    ));
}

#[test]
fn a_set_allows_what_any_scope_allows() {
    let s = ScopeSet::parse("user/Observation.rs patient/*.read system/Patient.c").unwrap();
    assert!(s.allows("Observation", Interaction::Search));
    assert!(s.allows("Condition", Interaction::Vread));
    assert!(s.allows("Patient", Interaction::Create));
    assert!(!s.allows("Condition", Interaction::Create));
    assert!(!s.allows("Observation", Interaction::Delete));
    assert!(!ScopeSet::default().allows("Patient", Interaction::Read));
    assert_eq!(s.contexts(), vec![Context::Patient, Context::User, Context::System]);
    assert_eq!(
        ScopeSet::parse("system/Patient.r system/*.s").unwrap().contexts(),
        vec![Context::System]
    );
}

#[test]
fn sets_are_normalised() {
    let table = [
        // Merged per context and type, printed in the v2 form.
        ("system/Observation.c system/Observation.r", "system/Observation.cr"),
        ("user/Observation.read user/Observation.write", "user/Observation.cruds"),
        // A wildcard's permissions are not repeated on a type.
        ("system/Observation.rs system/*.r", "system/*.r system/Observation.s"),
        ("system/Patient.r system/*.rs", "system/*.rs"),
        // Sorted: patient, user, system; the wildcard first, then types.
        (
            "system/Patient.r user/Observation.rs patient/*.read patient/Condition.c",
            "patient/*.rs patient/Condition.c user/Observation.rs system/Patient.r",
        ),
        // Contexts are not merged with each other.
        ("user/*.r patient/*.r", "patient/*.r user/*.r"),
    ];
    for (asked, expected) in table {
        let s = ScopeSet::parse(asked).unwrap();
        assert_eq!(s.to_string(), expected, "{asked}");
        assert_eq!(ScopeSet::parse(&s.to_string()).unwrap(), s, "{asked}");
    }
    assert_eq!(ScopeSet::parse("user/*.r user/*.r").unwrap().scopes().len(), 1);
}

#[test]
fn narrowing_caps_to_the_ceiling() {
    // (requested, allowed, granted); "" is the empty set.
    let table = [
        (
            "patient/Observation.cruds system/*.cruds",
            "patient/*.rs",
            "patient/Observation.rs",
        ),
        ("patient/*.cruds", "patient/*.rs", "patient/*.rs"),
        ("user/*.rs", "patient/*.rs", ""),
        (
            "system/*.cruds",
            "system/Observation.c system/Observation.r",
            "system/Observation.cr",
        ),
        ("system/*.s", "system/Observation.c system/Observation.r", ""),
        ("system/Patient.rs", "system/Observation.cr", ""),
        (
            "system/Patient.rs system/Observation.cud",
            "system/*.cruds",
            "system/Observation.cud system/Patient.rs",
        ),
        ("user/*.cruds", "user/*.cruds", "user/*.cruds"),
        ("user/*.rs", "user/*.r user/Patient.s", "user/*.r user/Patient.s"),
        (
            "user/Observation.rs user/*.c",
            "user/*.cr",
            "user/*.c user/Observation.r",
        ),
    ];
    for (asked, allowed, expected) in table {
        let got = ScopeSet::parse(asked)
            .unwrap()
            .narrow(&ScopeSet::parse(allowed).unwrap());
        assert_eq!(got.to_string(), expected, "{asked} within {allowed}");
        assert_eq!(got.is_empty(), expected.is_empty());
    }
}

#[test]
fn narrowing_never_grants_more_than_either_side() {
    let allowed = ScopeSet::parse("system/Observation.c system/Observation.r").unwrap();
    let got = ScopeSet::parse("system/*.cruds").unwrap().narrow(&allowed);
    assert!(got.allows("Observation", Interaction::Create));
    assert!(got.allows("Observation", Interaction::Read));
    assert!(!got.allows("Observation", Interaction::Search));
    assert!(!got.allows("Patient", Interaction::Read));
    assert!(
        ScopeSet::parse("system/*.r")
            .unwrap()
            .narrow(&ScopeSet::default())
            .is_empty()
    );
}

#[test]
fn hostile_requests_are_bounded_and_quoted_briefly() {
    let long = format!("user/{}.r", "A".repeat(MAX_SCOPE_LEN));
    assert_eq!(ScopeSet::parse(&long), Err(ScopeError::TooLong));
    assert_eq!(Scope::parse(&long), Err(ScopeError::TooLong));
    let odd = format!("user/Observation.{}", "\u{202e}x".repeat(100));
    let err = Scope::parse(&odd).unwrap_err();
    assert!(matches!(&err, ScopeError::Malformed(q) if q.chars().count() == SHOWN));
    // The Debug quoting escapes control characters.
    let ctl = Scope::parse("user/Observation.\u{1b}[31m").unwrap_err().to_string();
    assert!(!ctl.contains('\u{1b}'), "{ctl}");
}

const WORDS: [&str; 12] = [
    "patient/*.rs",
    "user/*.cruds",
    "system/*.c",
    "system/Observation.cr",
    "user/Patient.read",
    "patient/Condition.write",
    "system/Patient.*",
    "user/Observation.s",
    "openid",
    "launch/patient",
    "system/Provenance.d",
    "patient/Encounter.u",
];

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,64}") {
        let _ = Scope::parse(&s);
        let _ = ScopeSet::parse(&s);
    }

    #[test]
    fn normalising_keeps_what_is_allowed(picks in prop::collection::vec(0..WORDS.len(), 1..8)) {
        let text: Vec<&str> = picks.iter().map(|i| WORDS[*i]).collect();
        let Ok(set) = ScopeSet::parse(&text.join(" ")) else {
            return Ok(());
        };
        let raw: Vec<Scope> = text.iter().filter_map(|w| Scope::parse(w).ok()).collect();
        let again = ScopeSet::parse(&set.to_string()).unwrap();
        prop_assert_eq!(&again, &set);
        for t in crate::resource_types().iter().copied() {
            for i in EVERY {
                prop_assert_eq!(set.allows(t, i), raw.iter().any(|s| s.allows(t, i)));
                // Narrowing by itself changes nothing; by everything, nothing either.
                prop_assert_eq!(set.narrow(&set).allows(t, i), set.allows(t, i));
                let all = ScopeSet::parse("patient/*.cruds user/*.cruds system/*.cruds").unwrap();
                prop_assert_eq!(set.narrow(&all).allows(t, i), set.allows(t, i));
            }
        }
    }

    #[test]
    fn narrowing_is_an_intersection(
        a in prop::collection::vec(0..WORDS.len(), 1..6),
        b in prop::collection::vec(0..WORDS.len(), 1..6),
    ) {
        let join = |v: &[usize]| v.iter().map(|i| WORDS[*i]).collect::<Vec<_>>().join(" ");
        let (Ok(x), Ok(y)) = (ScopeSet::parse(&join(&a)), ScopeSet::parse(&join(&b))) else {
            return Ok(());
        };
        let n = x.narrow(&y);
        for s in n.scopes() {
            for t in crate::resource_types().iter().copied() {
                for i in EVERY {
                    if s.allows(t, i) {
                        let in_x = x.scopes().iter().any(|o| o.context == s.context && o.allows(t, i));
                        let in_y = y.scopes().iter().any(|o| o.context == s.context && o.allows(t, i));
                        prop_assert!(in_x && in_y, "{} grants {:?} on {}", s, i, t);
                    }
                }
            }
        }
        for sx in x.scopes() {
            for t in crate::resource_types().iter().copied() {
                for i in EVERY {
                    let both = sx.allows(t, i)
                        && y.scopes().iter().any(|o| o.context == sx.context && o.allows(t, i));
                    let kept = n.scopes().iter().any(|o| o.context == sx.context && o.allows(t, i));
                    prop_assert!(!both || kept, "{} lost {:?} on {}", sx, i, t);
                }
            }
        }
    }
}
