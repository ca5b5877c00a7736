use medledger_types::Height;

use super::*;

const NOW: TimestampMs = TimestampMs(1_790_000_000_000);

fn record(grantee: Grantee, scope: ConsentScope, expires: Option<TimestampMs>) -> ConsentRecord {
    ConsentRecord {
        patient: "pt-7f3a".into(),
        grantee,
        scope,
        purposes: vec![Purpose::Treatment, Purpose::Research],
        expires,
        granted_at: TimestampMs(NOW.0 - 60_000),
        granted_height: Height(9),
        revoked_at: None,
    }
}

fn org(s: &str) -> OrgId {
    OrgId::new(s).unwrap()
}

#[test]
fn what_the_server_shows_imports_to_the_same_grant() {
    let cases = [
        record(
            Grantee::Org(org("clinic-b")),
            ConsentScope::Types(vec!["Condition".into(), "Observation".into()]),
            Some(TimestampMs(NOW.0 + 86_400_000)),
        ),
        record(
            Grantee::Practitioner {
                org: org("clinic-b"),
                member: MemberId::new("dr-b").unwrap(),
            },
            ConsentScope::Records(vec![("Observation".into(), "o-1".into())]),
            None,
        ),
        record(
            Grantee::Study("trial-42".into()),
            ConsentScope::Types(vec!["*".into()]),
            None,
        ),
    ];
    for c in cases {
        let resource = to_fhir("c-1", &c, NOW);
        let Imported::Grant(g) = from_fhir(&resource, NOW).unwrap() else {
            panic!("not a grant: {resource}");
        };
        assert_eq!(g.consent_id, "c-1");
        assert_eq!(g.patient, c.patient);
        assert_eq!(g.grantee, c.grantee);
        assert_eq!(g.scope, c.scope);
        assert_eq!(g.purposes, c.purposes);
        assert_eq!(g.expires, c.expires);
    }
}

#[test]
fn inactive_withdraws_the_ledger_consent() {
    let c = record(
        Grantee::Org(org("clinic-b")),
        ConsentScope::Types(vec!["*".into()]),
        None,
    );
    let mut resource = to_fhir("c-9", &c, NOW);
    resource["status"] = "inactive".into();
    assert_eq!(
        from_fhir(&resource, NOW).unwrap(),
        Imported::Revoke(ConsentRevoke {
            patient: "pt-7f3a".into(),
            consent_id: "c-9".into(),
        })
    );
    resource.as_object_mut().unwrap().remove("id");
    assert!(from_fhir(&resource, NOW).unwrap_err().starts_with("id:"));
}

fn minimal() -> Value {
    json!({
        "resourceType": "Consent",
        "status": "active",
        "patient": {"reference": "Patient/pt-1"},
        "provision": {
            "type": "permit",
            "actor": [{"reference": {"reference": "Organization/clinic-b"}}],
            "purpose": [{"system": ACT_REASON, "code": "TREAT"}],
            "class": [{"system": RESOURCE_TYPES, "code": "Observation"}],
            "period": {"end": "2099-12-31"}
        }
    })
}

#[test]
fn hand_written_consents_map_as_expected() {
    let Imported::Grant(g) = from_fhir(&minimal(), NOW).unwrap() else {
        panic!()
    };
    assert_eq!(g.consent_id, "");
    assert_eq!(g.grantee, Grantee::Org(org("clinic-b")));
    assert_eq!(g.scope, ConsentScope::Types(vec!["Observation".into()]));
    // A date lasts through its end: midnight after 2099-12-31, UTC.
    assert_eq!(g.expires, Some(TimestampMs(4_102_444_800_000)));
    let mut r = minimal();
    r["provision"]["actor"][0]["reference"] = json!({"reference": "ResearchStudy/rs-1"});
    r["provision"].as_object_mut().unwrap().remove("class");
    let Imported::Grant(g) = from_fhir(&r, NOW).unwrap() else {
        panic!()
    };
    assert_eq!(g.grantee, Grantee::Study("rs-1".into()));
    assert_eq!(g.scope, ConsentScope::Types(vec!["*".into()]));
}

#[test]
fn what_the_ledger_cannot_honour_is_refused_by_name() {
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change)> = vec![
        ("resourceType", Box::new(|r| r["resourceType"] = "Patient".into())),
        (
            "patient.reference",
            Box::new(|r| r["patient"] = json!({"reference": "Group/g"})),
        ),
        ("status", Box::new(|r| r["status"] = "proposed".into())),
        (
            "provision:",
            Box::new(|r| _ = r.as_object_mut().unwrap().remove("provision")),
        ),
        ("provision.type", Box::new(|r| r["provision"]["type"] = "deny".into())),
        (
            "provision.action",
            Box::new(|r| r["provision"]["action"] = json!([{"text": "access"}])),
        ),
        (
            "provision.securityLabel",
            Box::new(|r| r["provision"]["securityLabel"] = json!([{"code": "R"}])),
        ),
        (
            "provision.provision",
            Box::new(|r| r["provision"]["provision"] = json!([{"type": "deny"}])),
        ),
        ("provision.actor", Box::new(|r| r["provision"]["actor"] = json!([]))),
        (
            "provision.actor",
            Box::new(|r| {
                let a = r["provision"]["actor"][0].clone();
                r["provision"]["actor"] = json!([a.clone(), a]);
            }),
        ),
        (
            "provision.actor[0].reference",
            Box::new(|r| r["provision"]["actor"][0]["reference"] = json!({"reference": "Practitioner/p1"})),
        ),
        (
            "provision.actor[0].reference",
            Box::new(|r| {
                r["provision"]["actor"][0]["reference"] =
                    json!({"identifier": {"system": MEMBER_SYSTEM, "value": "no-slash"}})
            }),
        ),
        (
            "provision.purpose",
            Box::new(|r| _ = r["provision"].as_object_mut().unwrap().remove("purpose")),
        ),
        (
            "provision.purpose",
            Box::new(|r| r["provision"]["purpose"] = json!([{"system": ACT_REASON, "code": "MARKT"}])),
        ),
        (
            "provision.class",
            Box::new(|r| r["provision"]["class"] = json!([{"system": RESOURCE_TYPES, "code": "Claims"}])),
        ),
        (
            "provision: class and data",
            Box::new(|r| {
                r["provision"]["data"] = json!([{"meaning": "instance", "reference": {"reference": "Observation/o"}}])
            }),
        ),
        (
            "provision.period.end",
            Box::new(|r| r["provision"]["period"]["end"] = "2001-01-01".into()),
        ),
        (
            "provision.period.end",
            Box::new(|r| r["provision"]["period"]["end"] = "tomorrow".into()),
        ),
        (
            "provision.period.start",
            Box::new(|r| r["provision"]["period"]["start"] = "2098-01-01".into()),
        ),
    ];
    for (field, change) in cases {
        let mut r = minimal();
        change(&mut r);
        let err = from_fhir(&r, NOW).unwrap_err();
        assert!(err.starts_with(field), "{field}: {err}");
    }
}
