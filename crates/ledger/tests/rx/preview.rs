//! `rx::monitor::preview`: what a draft order would raise if it were filled today, on
//! either side of each threshold — and, each time, the fill that follows raises the same.

use medledger_ledger::rx::monitor::{Draft, Preview, preview};

use super::*;

/// A draft of `rx` with no prescriber, pharmacy or prescription known, asked by the
/// hospital's admin.
fn draft(rx: &Rx) -> Draft {
    Draft {
        medication: rx.medication,
        quantity: rx.quantity,
        days_supply: rx.days_supply,
        prescription: None,
        prescriber: None,
        pharmacy: None,
        requester: (org_of(HOSPITAL), member("admin")),
    }
}

/// `draft` as prescribed by doc `n` and filled at `pharmacy`.
fn from(n: usize, pharmacy: usize, d: Draft) -> Draft {
    let org = if n <= 2 { HOSPITAL } else { CLINIC };
    Draft {
        prescriber: Some((org_of(org), doc(n).1)),
        pharmacy: Some(org_of(pharmacy)),
        ..d
    }
}

fn previews(w: &World, patient: &str, drafts: &[Draft]) -> Vec<Preview> {
    preview(&w.state, patient, drafts, w.today())
        .into_iter()
        .map(|p| p.unwrap_or_else(|e| panic!("preview refused: {e}")))
        .collect()
}

fn alerts(w: &World, patient: &str, d: Draft) -> Vec<Alert> {
    previews(w, patient, &[d]).remove(0).alerts
}

/// Previews `rx` as doc `n` would prescribe it and `pharmacy` fill it, then does both, and
/// checks that the fill raised what the preview said; returns those alerts.
fn preview_then_fill(w: &mut World, n: usize, pharmacy: usize, rx: Rx) -> Vec<Alert> {
    let previewed = alerts(w, rx.patient, from(n, pharmacy, draft(&rx)));
    let id = w.prescribe(n, rx.clone());
    let filled = w.fill(pharmacy, id, rx.quantity, rx.days_supply);
    assert_eq!(previewed, filled, "the preview and the fill disagree");
    filled
}

#[test]
fn a_preview_raises_the_mme_alerts_from_50_and_90_mme_a_day() {
    let mut w = World::new();
    let a = w.prescribe(1, morphine("pt-1", 30));
    w.fill(PHARMACY_P, a, 900, 30);
    // 30 MME/day covers today; drafts of 19.966, 20, 59.966 and 60 MME/day more.
    let more = |quantity| {
        mme_alert(&alerts(
            &w,
            "pt-1",
            Draft {
                quantity,
                ..draft(&morphine("pt-1", 0))
            },
        ))
    };
    assert_eq!(more(599), None);
    assert_eq!(more(600), Some((MmeLevel::Caution, 50_000)));
    assert_eq!(more(1799), Some((MmeLevel::Caution, 89_966)));
    assert_eq!(more(1800), Some((MmeLevel::High, 90_000)));
    // The draft's own daily MME and the table that computed it.
    let p = previews(&w, "pt-1", &[draft(&morphine("pt-1", 60))]).remove(0);
    assert_eq!((p.milli_mme_per_day, p.table_version.as_str()), (60_000, "CDC 2022"));
    // (The fill raises the same drug under another prescription too.)
    assert_eq!(
        mme_alert(&preview_then_fill(&mut w, 3, PHARMACY_Q, morphine("pt-1", 60))),
        Some((MmeLevel::High, 90_000))
    );
    // Another patient's fills do not count.
    assert_eq!(alerts(&w, "pt-2", draft(&morphine("pt-2", 49))), vec![]);
}

#[test]
fn a_preview_flags_an_opioid_overlapping_a_benzodiazepine() {
    let world = |after: u64| {
        let mut w = World::new();
        let b = w.prescribe(1, benzo("pt-1", LORAZEPAM));
        w.fill(PHARMACY_P, b, 30, 30);
        w.advance_days(after);
        w
    };
    // The benzodiazepine covers days 0–29.
    let mut w = world(29);
    let got = alerts(&w, "pt-1", draft(&morphine("pt-1", 10)));
    assert!(
        matches!(got.as_slice(), [Alert::OpioidBenzodiazepine { days: 1, .. }]),
        "{got:?}"
    );
    preview_then_fill(&mut w, 1, PHARMACY_P, morphine("pt-1", 10));
    let mut w = world(30);
    assert_eq!(alerts(&w, "pt-1", draft(&morphine("pt-1", 10))), vec![]);
    assert_eq!(preview_then_fill(&mut w, 1, PHARMACY_P, morphine("pt-1", 10)), vec![]);
}

#[test]
fn a_preview_flags_the_same_drug_under_another_prescription_only() {
    let world = |after: u64| {
        let mut w = World::new();
        let a = w.prescribe(1, oxycodone());
        w.fill(PHARMACY_P, a, 30, 30);
        w.advance_days(after);
        (w, a)
    };
    let (mut w, first) = world(29);
    let got = alerts(&w, "pt-1", draft(&oxycodone()));
    assert!(matches!(got.as_slice(), [Alert::SameDrug { days: 1, .. }]), "{got:?}");
    // Naming the prescription already filled: its own fill is not another prescription.
    let again = Draft {
        prescription: Some(first),
        ..draft(&oxycodone())
    };
    assert_eq!(alerts(&w, "pt-1", again), vec![]);
    preview_then_fill(&mut w, 1, PHARMACY_P, oxycodone());
    let (w, _) = world(30);
    assert_eq!(alerts(&w, "pt-1", draft(&oxycodone())), vec![]);
}

#[test]
fn a_preview_of_a_repeat_before_75_percent_of_the_supply_is_early() {
    let repeatable = Rx {
        repeats: 1,
        ..benzo("pt-1", ALPRAZOLAM)
    };
    let world = |after: u64| {
        let mut w = World::new();
        let id = w.prescribe(1, repeatable.clone());
        w.fill(PHARMACY_P, id, 30, 30);
        w.advance_days(after);
        (w, id)
    };
    let repeat = |id| Draft {
        prescription: Some(id),
        ..from(1, PHARMACY_P, draft(&repeatable))
    };
    // 22 of 30 days is 73 %; 23 is 77 %.
    let (mut w, id) = world(22);
    let early = vec![Alert::EarlyRefill {
        elapsed: 22,
        supply: 30,
    }];
    assert_eq!(alerts(&w, "pt-1", repeat(id)), early);
    assert_eq!(
        w.fill(PHARMACY_P, id, 30, 30),
        early,
        "the fill raises what was previewed"
    );
    let (w, id) = world(23);
    assert_eq!(alerts(&w, "pt-1", repeat(id)), vec![]);
    // Not named, it is a new prescription of the same drug, overlapping 7 days.
    let got = alerts(&w, "pt-1", draft(&repeatable));
    assert!(matches!(got.as_slice(), [Alert::SameDrug { days: 7, .. }]), "{got:?}");
    // Named for another patient, it is ignored.
    assert_eq!(alerts(&w, "pt-2", repeat(id)), vec![]);
}

#[test]
fn a_preview_counts_providers_it_knows_and_no_unknown_one() {
    let mut w = World::new();
    for (n, pharmacy) in [(1, PHARMACY_P), (2, PHARMACY_Q), (3, PHARMACY_R)] {
        let id = w.prescribe(
            n,
            Rx {
                days_supply: 1,
                quantity: 1,
                ..benzo("pt-6", LORAZEPAM)
            },
        );
        w.fill(pharmacy, id, 1, 1);
        w.advance_days(1);
    }
    let fourth = Rx {
        days_supply: 1,
        quantity: 1,
        ..benzo("pt-6", LORAZEPAM)
    };
    let episode = vec![Alert::MultipleProviders {
        prescribers: 4,
        pharmacies: 4,
        days: 90,
    }];
    assert_eq!(alerts(&w, "pt-6", from(4, PHARMACY_S, draft(&fourth))), episode);
    // A draft order has no pharmacy yet: it counts as the latest one, adding none.
    let no_pharmacy = Draft {
        pharmacy: None,
        ..from(4, PHARMACY_S, draft(&fourth))
    };
    assert_eq!(alerts(&w, "pt-6", no_pharmacy), vec![]);
    let no_prescriber = Draft {
        prescriber: None,
        ..from(4, PHARMACY_S, draft(&fourth))
    };
    assert_eq!(alerts(&w, "pt-6", no_prescriber), vec![]);
    assert_eq!(alerts(&w, "pt-6", from(4, PHARMACY_R, draft(&fourth))), vec![]);
    assert_eq!(preview_then_fill(&mut w, 4, PHARMACY_S, fourth), episode);
}

#[test]
fn drafts_signed_together_count_together() {
    let w = World::new();
    let thirty = draft(&morphine("pt-7", 30));
    let p = previews(&w, "pt-7", &[thirty.clone(), thirty]);
    assert_eq!(p[0].alerts, vec![]);
    assert!(
        matches!(
            p[1].alerts.as_slice(),
            [
                Alert::Mme {
                    level: MmeLevel::Caution,
                    milli_per_day: 60_000,
                    threshold: 50,
                },
                Alert::SameDrug { days: 30, .. },
            ]
        ),
        "{:?}",
        p[1].alerts
    );
}

#[test]
fn a_draft_monitoring_cannot_count_is_refused_alone() {
    let w = World::new();
    let fentanyl_mg = draft(&Rx {
        medication: mg(FENTANYL, 100_000),
        ..oxycodone()
    });
    let patch = draft(&Rx {
        medication: patch(75, 72),
        quantity: 10,
        days_supply: 30,
        ..oxycodone()
    });
    let amoxicillin = draft(&Rx {
        medication: mg(AMOXICILLIN, 500_000),
        ..oxycodone()
    });
    let got = preview(&w.state, "pt-1", &[fentanyl_mg, patch, amoxicillin], w.today());
    assert_eq!(
        got[0],
        Err(TxError::NoMmeFactor {
            table: "CDC 2022".into()
        })
    );
    let patch = got[1].as_ref().unwrap();
    assert_eq!(patch.milli_mme_per_day, 180_000);
    assert_eq!(mme_alert(&patch.alerts), Some((MmeLevel::High, 180_000)));
    // Outside the table: no MME, no alert (the refused draft was left out of the window).
    let other = got[2].as_ref().unwrap();
    assert_eq!((other.milli_mme_per_day, other.alerts.clone()), (0, vec![]));
}
