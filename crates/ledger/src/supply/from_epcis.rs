//! From an EPCIS event to the commitment `supply.capture` carries (ADR 014 §2).
//!
//! The capturer keeps the event; the ledger gets its CBV 2.0 hash ID and what it does to
//! which EPCs. The step comes from the event type, `action` and the CBV 2.0 `bizStep`:
//!
//! | event | step |
//! |---|---|
//! | ObjectEvent `ADD`, bizStep `commissioning` | `Commission`, with lot (`cbvmda:lotNumber`) and expiry (`cbvmda:itemExpirationDate`) from the ILMD |
//! | AggregationEvent `ADD` (any bizStep; `packing` as a rule) | `Pack`: `parentID` and `childEPCs` |
//! | AggregationEvent `DELETE` | `Unpack` |
//! | bizStep `shipping` | `Ship` to the organisation that owns the GLN of the `owning_party` destination |
//! | bizStep `receiving`, `dispensing`, `decommissioning`, `destroying` | `Receive`, `Dispense`, `Decommission`, `Destroy` |
//! | any other bizStep, or none | `Observe` with the event's CBV disposition (required) |
//!
//! The last two rows apply to ObjectEvents (their `epcList`) and to AggregationEvents with
//! `OBSERVE` (`parentID` first, then `childEPCs`). Transaction, Transformation and
//! Association events are refused: the ledger has no step for them.
//!
//! **EPCs.** Only instance-level SGTINs and SSCCs are tracked; quantity lists are left out,
//! and an event left with no EPC is refused (but for unpacking, which may list none). An
//! EPC URN is rewritten in the canonical form [`EpcUri`] writes. A GS1 Digital Link URI
//! (`https://id.gs1.org/01/{gtin}/21/{serial}`, `…/00/{sscc}`), as EPCIS 2.0 JSON-LD often
//! names objects, does not say where its company prefix ends: the prefix is the registered
//! one ([`prefix_owner`]) that the key's digits start with, which the registry being
//! prefix-free makes unique. An EPC with no registered prefix is refused, in either form:
//! the ledger knows no such item and lets no one commission it.
//!
//! **Destinations.** The `owning_party` destination may be an SGLN or PGLN URN
//! (`urn:epc:id:sgln:…`, `urn:epc:id:pgln:…`) or a Digital Link with (414) or (417). Its GLN
//! must be registered ([`gln_owner`]).
//!
//! **Corrections** (EPCIS 2.0 §7.4.1.2). The event that declares an error is a copy of the
//! erroneous event with an `errorDeclaration`; CBV 2.0 leaves `errorDeclaration` out of the
//! hash, so the declaration has the erroneous event's hash ID, which is on the ledger
//! already. Its `correctiveEventIDs` name the events that replace it. So the declaration is
//! not committed itself ([`commitment_of`] refuses it): [`commitments_of`] finds each
//! corrective event in the same document, by its `eventID` or its hash ID, and puts the
//! declared event's hash ID in that event's `corrects`, which is what `supply.capture`
//! records the correction from. A declaration whose corrective events are not in the
//! document, or that names none, cannot be recorded, and is refused.

use medledger_gs1::epcis::{Action, Document, Element, Epc, Event, EventType};
use medledger_gs1::ident::{CompanyPrefixLen, DigitalLink, EpcUri, Gln, Lot, check_digit};
use medledger_types::{Hash32, OrgId};

use super::capture::{Commitment, MAX_COMMITMENTS, MAX_EPCS, Step};
use super::{MAX_CORRECTIONS, MAX_DISPOSITION, gln_owner, prefix_owner};
use crate::state::StateRead;

/// The namespace of the CBV master data attributes (`cbvmda:`), as JSON-LD documents
/// declare it and as EPCIS XML writes it.
const CBVMDA: [&str; 2] = ["urn:epcglobal:cbv:mda:", "urn:epcglobal:cbv:mda"];

/// Longest text of the event an error repeats.
const SHOWN: usize = 100;

/// Why an event has no commitment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FromEpcisError {
    #[error("{0} events are not committed (only object and aggregation events)")]
    UnsupportedEventType(EventType),
    #[error("an {0} needs an action")]
    MissingAction(EventType),
    #[error("commissioning is an ObjectEvent with action ADD")]
    CommissioningNotAdd,
    #[error("an aggregation needs a parentID")]
    MissingParent,
    #[error("no SGTIN or SSCC in the event (quantities are not tracked)")]
    NoInstanceEpcs,
    #[error("{count} EPCs, more than the {max} one commitment may name")]
    TooManyEpcs { count: usize, max: usize },
    #[error("{epc}: not tracked: {reason}")]
    UnsupportedEpc { epc: String, reason: String },
    #[error("{epc}: no company prefix registered on the ledger starts its key")]
    UnregisteredPrefix { epc: String },
    #[error("shipping needs an owning_party destination")]
    MissingDestination,
    #[error("shipping names several owning_party destinations: {first} and {second}")]
    ConflictingDestinations { first: String, second: String },
    #[error("owning_party destination {value}: {reason}")]
    BadDestination { value: String, reason: String },
    #[error("owning_party destination GLN {gln} is not registered to an organisation")]
    UnknownDestination { gln: String },
    #[error("an observation (bizStep {biz_step}) needs a disposition")]
    MissingDisposition { biz_step: String },
    #[error("disposition {value} is not a CBV 2.0 disposition")]
    NonCbvDisposition { value: String },
    #[error("lot {value:?}: {reason}")]
    BadLot { value: String, reason: String },
    #[error("expiry {value:?}: not a date YYYY-MM-DD a GS1 (17) can hold")]
    BadExpiry { value: String },
    #[error(
        "an error declaration is not committed (it has the erroneous event's hash ID); its corrective events carry the correction"
    )]
    ErrorDeclaration,
    #[error("the error declaration names no corrective event, so the ledger cannot record it")]
    DeclarationWithoutCorrection,
    #[error("corrective event {id} is not in the document")]
    CorrectiveEventNotInDocument { id: String },
    #[error("the event corrects more than {max} events")]
    TooManyCorrections { max: usize },
    #[error("more than {max} events to commit in one document")]
    TooManyEvents { max: usize },
}

/// Why a document has no commitments: the first event that has none, numbered from 0 in
/// document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {index}: {error}")]
pub struct DocumentError {
    pub index: usize,
    pub error: FromEpcisError,
}

/// One event's commitment and the event's index in its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCommitment {
    pub index: usize,
    pub commitment: Commitment,
}

fn shown(s: &str) -> String {
    match s.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// The commitment of one event (module docs). An error declaration has none.
pub fn commitment_of(event: &Event, state: &dyn StateRead) -> Result<Commitment, FromEpcisError> {
    if event.is_error_declaration() {
        return Err(FromEpcisError::ErrorDeclaration);
    }
    let event_type = event.event_type();
    if !matches!(event_type, EventType::ObjectEvent | EventType::AggregationEvent) {
        return Err(FromEpcisError::UnsupportedEventType(event_type));
    }
    let action = event.action().ok_or(FromEpcisError::MissingAction(event_type))?;
    let biz_step = event
        .biz_step()
        .map(|b| b.word().map_or_else(|| b.to_uri(), str::to_owned));
    let commissioning = biz_step.as_deref() == Some("commissioning");
    let mut c = Commitment {
        hash_id: Hash32(event.hash_id().digest()),
        step: Step::Commission,
        epcs: Vec::new(),
        parent: None,
        destination: None,
        lot: None,
        expiry: None,
        corrects: Vec::new(),
    };
    let listed: Vec<&Epc> = match (event_type, action) {
        (EventType::ObjectEvent, _) => event.epc_list.iter().collect(),
        (EventType::AggregationEvent, Action::Add | Action::Delete) => {
            let parent = event.parent_id().ok_or(FromEpcisError::MissingParent)?;
            c.parent = Some(tracked_epc(parent, state)?);
            c.step = if action == Action::Add {
                Step::Pack
            } else {
                Step::Unpack
            };
            event.child_epcs.iter().collect()
        }
        (EventType::AggregationEvent, Action::Observe) => {
            event.parent_id().into_iter().chain(&event.child_epcs).collect()
        }
        (other, _) => return Err(FromEpcisError::UnsupportedEventType(other)),
    };
    if listed.len() > MAX_EPCS {
        return Err(FromEpcisError::TooManyEpcs {
            count: listed.len(),
            max: MAX_EPCS,
        });
    }
    c.epcs = listed
        .into_iter()
        .map(|e| tracked_epc(e, state))
        .collect::<Result<_, _>>()?;
    if c.parent.is_none() {
        c.step = match biz_step.as_deref() {
            Some("commissioning") if event_type == EventType::ObjectEvent && action == Action::Add => {
                c.lot = ilmd(event, "lotNumber").map(lot).transpose()?;
                c.expiry = ilmd(event, "itemExpirationDate").map(expiry).transpose()?;
                Step::Commission
            }
            _ if commissioning => return Err(FromEpcisError::CommissioningNotAdd),
            Some("shipping") => {
                c.destination = Some(destination(event, state)?);
                Step::Ship
            }
            Some("receiving") => Step::Receive,
            Some("dispensing") => Step::Dispense,
            Some("decommissioning") => Step::Decommission,
            Some("destroying") => Step::Destroy,
            other => Step::Observe {
                disposition: disposition(event, other.unwrap_or("(none)"))?,
            },
        };
    }
    if c.epcs.is_empty() && c.step != Step::Unpack {
        return Err(FromEpcisError::NoInstanceEpcs);
    }
    Ok(c)
}

/// The commitments of every event of `document`, in order, with the corrections its error
/// declarations name (module docs); or the first event that has none.
pub fn commitments_of(document: &Document, state: &dyn StateRead) -> Result<Vec<EventCommitment>, DocumentError> {
    let at = |index: usize| move |error: FromEpcisError| DocumentError { index, error };
    let mut out: Vec<EventCommitment> = Vec::new();
    let mut declarations = Vec::new();
    for (index, event) in document.events.iter().enumerate() {
        if event.is_error_declaration() {
            declarations.push((index, event));
            continue;
        }
        if out.len() == MAX_COMMITMENTS {
            return Err(at(index)(FromEpcisError::TooManyEvents { max: MAX_COMMITMENTS }));
        }
        let commitment = commitment_of(event, state).map_err(at(index))?;
        out.push(EventCommitment { index, commitment });
    }
    for (index, declaration) in declarations {
        let ids = declaration.corrective_event_ids();
        if ids.is_empty() {
            return Err(at(index)(FromEpcisError::DeclarationWithoutCorrection));
        }
        let corrected = Hash32(declaration.hash_id().digest());
        for id in ids {
            let found = out.iter_mut().find(|c| {
                let event_id = document.events[c.index].event_id.as_ref();
                event_id.is_some_and(|e| e.0 == id.0) || ni_uri(&c.commitment.hash_id) == id.0
            });
            let Some(corrective) = found else {
                return Err(at(index)(FromEpcisError::CorrectiveEventNotInDocument {
                    id: shown(&id.0),
                }));
            };
            let corrects = &mut corrective.commitment.corrects;
            if !corrects.contains(&corrected) {
                if corrects.len() == MAX_CORRECTIONS {
                    let index = corrective.index;
                    return Err(at(index)(FromEpcisError::TooManyCorrections { max: MAX_CORRECTIONS }));
                }
                corrects.push(corrected);
            }
        }
    }
    Ok(out)
}

/// The hash ID as the `ni` URI `Event::hash_id` writes.
fn ni_uri(hash_id: &Hash32) -> String {
    format!("ni:///sha-256;{}?ver=CBV2.0", hash_id.to_hex())
}

/// An SGTIN or SSCC, as an EPC URN or a GS1 Digital Link, under a registered prefix, as
/// its canonical EPC URN.
pub fn tracked_epc(epc: &Epc, state: &dyn StateRead) -> Result<EpcUri, FromEpcisError> {
    let text = epc.as_str();
    let unsupported = |reason: String| FromEpcisError::UnsupportedEpc {
        epc: shown(text),
        reason,
    };
    let unregistered = || FromEpcisError::UnregisteredPrefix { epc: shown(text) };
    let lower = text.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
    let uri = if lower.starts_with("http://") || lower.starts_with("https://") {
        let dl = DigitalLink::parse(text).map_err(|e| unsupported(e.to_string()))?;
        let key = dl.primary_key();
        let serialised = dl.qualifiers().iter().any(|q| q.ai().code() == "21");
        let tracked = match key.ai().code() {
            "01" => serialised,
            "00" => true,
            _ => false,
        };
        if !tracked {
            return Err(unsupported(
                "only an SGTIN ((01) with (21)) or an SSCC ((00)) is tracked".into(),
            ));
        }
        // After the GTIN's indicator digit or the SSCC's extension digit.
        let digits = key.value().get(1..).unwrap_or_default();
        let len = (CompanyPrefixLen::MIN..=CompanyPrefixLen::MAX)
            .find(|&l| digits.get(..l).is_some_and(|p| prefix_owner(state, p).is_some()))
            .ok_or_else(unregistered)?;
        let len = CompanyPrefixLen::new(len).map_err(|e| unsupported(e.to_string()))?;
        EpcUri::from_digital_link(&dl, len).map_err(|e| unsupported(e.to_string()))?
    } else {
        let uri = EpcUri::parse(text).map_err(|e| unsupported(e.to_string()))?;
        if !matches!(uri, EpcUri::Sgtin { .. } | EpcUri::Sscc { .. }) {
            return Err(unsupported("only SGTIN and SSCC pure identity URNs are tracked".into()));
        }
        if prefix_owner(state, uri.company_prefix()).is_none() {
            return Err(unregistered());
        }
        uri
    };
    Ok(uri)
}

/// The organisation owning the GLN of the one `owning_party` destination.
fn destination(event: &Event, state: &dyn StateRead) -> Result<OrgId, FromEpcisError> {
    let mut parties = event.destinations_of_type("owning_party");
    let value = parties.next().ok_or(FromEpcisError::MissingDestination)?;
    if let Some(second) = parties.find(|v| *v != value) {
        return Err(FromEpcisError::ConflictingDestinations {
            first: shown(value),
            second: shown(second),
        });
    }
    let gln = party_gln(value).map_err(|reason| FromEpcisError::BadDestination {
        value: shown(value),
        reason,
    })?;
    gln_owner(state, gln.as_str()).ok_or(FromEpcisError::UnknownDestination {
        gln: gln.as_str().to_owned(),
    })
}

/// The GLN of an SGLN or PGLN URN, or of a Digital Link with (414) or (417).
fn party_gln(value: &str) -> Result<Gln, String> {
    if let Some(body) = value.strip_prefix("urn:epc:id:pgln:") {
        // TDS §6.3.14: CompanyPrefix.PartyRef, 12 digits in all, check digit dropped.
        let digits: String = body.split('.').collect();
        let parts = body.split('.').count();
        if parts != 2 || digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("a PGLN URN is CompanyPrefix.PartyReference, 12 digits".into());
        }
        let check = check_digit(&digits).ok_or("a PGLN URN holds 12 digits")?;
        return Gln::parse(&format!("{digits}{check}")).map_err(|e| e.to_string());
    }
    if value.starts_with("urn:") {
        return match EpcUri::parse(value).map_err(|e| e.to_string())? {
            EpcUri::Sgln { gln, .. } => Ok(gln),
            _ => Err("not an SGLN or PGLN".into()),
        };
    }
    let dl = DigitalLink::parse(value).map_err(|e| e.to_string())?;
    let key = dl.primary_key();
    match key.ai().code() {
        "414" | "417" => Gln::parse(key.value()).map_err(|e| e.to_string()),
        _ => Err("a Digital Link of a party or location names a (417) or (414)".into()),
    }
}

/// The CBV disposition word an observation records.
fn disposition(event: &Event, biz_step: &str) -> Result<String, FromEpcisError> {
    let d = event.disposition().ok_or_else(|| FromEpcisError::MissingDisposition {
        biz_step: shown(biz_step),
    })?;
    match d.word() {
        Some(w)
            if !w.is_empty()
                && w.len() <= MAX_DISPOSITION
                && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
        {
            Ok(w.to_owned())
        }
        _ => Err(FromEpcisError::NonCbvDisposition {
            value: shown(&d.to_uri()),
        }),
    }
}

/// The value of the ILMD master data attribute `cbvmda:{local}`. A JSON-LD document that
/// does not declare the `cbvmda` prefix keeps the key whole, so that spelling is read too.
fn ilmd<'e>(event: &'e Event, local: &str) -> Option<&'e str> {
    let is = |e: &Element| match &e.name.namespace {
        Some(ns) => CBVMDA.contains(&ns.as_str()) && e.name.local == local,
        None => e.name.local.strip_prefix("cbvmda:") == Some(local),
    };
    event.ilmd.iter().find(|e| is(e)).map(|e| e.value.as_str())
}

fn lot(value: &str) -> Result<Lot, FromEpcisError> {
    Lot::parse(value).map_err(|e| FromEpcisError::BadLot {
        value: shown(value),
        reason: e.to_string(),
    })
}

/// `YYYY-MM-DD` (`xsd:date`, as CBV writes `itemExpirationDate`) → the GS1 (17) `YYMMDD`
/// the ledger keeps.
fn expiry(value: &str) -> Result<String, FromEpcisError> {
    let bad = || FromEpcisError::BadExpiry { value: shown(value) };
    let b = value.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return Err(bad());
    }
    let yymmdd = format!("{}{}{}", &value[2..4], &value[5..7], &value[8..10]);
    medledger_gs1::ident::Element::parse("17", &yymmdd).map_err(|_| bad())?;
    Ok(yymmdd)
}
