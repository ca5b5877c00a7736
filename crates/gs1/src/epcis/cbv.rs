//! CBV 2.0 standard vocabularies (CBV 2.0 §7.2 business steps, §7.3 dispositions, §7.4
//! business transaction types, §7.5 source/destination types, §7.6 error reasons) and the
//! three spellings a value of one can take:
//!
//! * the bare word of the JSON-LD binding (`shipping`), expanded by the EPCIS 2.0 JSON-LD
//!   context;
//! * the CBV 2.0 Web URI (`https://ref.gs1.org/cbv/BizStep-shipping`), or its CURIE
//!   `cbv:BizStep-shipping` (EPCIS 2.0 XML);
//! * the CBV 1.x URN (`urn:epcglobal:cbv:bizstep:shipping`) (EPCIS 1.2 XML, still allowed).
//!
//! All three are read into [`CbvValue::Standard`] holding the bare word; anything else (a URI
//! of another vocabulary, which EPCIS allows as an extension) is [`CbvValue::Other`]. The lists
//! are the terms of the EPCIS 2.0 JSON-LD context (`epcis-context.jsonld`, 2.0.0).

use super::EpcisError;
use super::model::Event;

/// The CBV vocabularies an event field can draw on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vocabulary {
    /// `bizStep`, CBV 2.0 §7.2.
    BizStep,
    /// `disposition` and `persistentDisposition`, CBV 2.0 §7.3.
    Disposition,
    /// `bizTransaction` `type`, CBV 2.0 §7.4.
    BizTransactionType,
    /// `source` / `destination` `type`, CBV 2.0 §7.5.
    SourceDestinationType,
    /// `errorDeclaration` `reason`, CBV 2.0 §7.6.
    ErrorReason,
}

impl Vocabulary {
    /// The term prefix of the CBV 2.0 Web URI: `BizStep`, `Disp`, `BTT`, `SDT`, `ER`.
    pub fn web_prefix(self) -> &'static str {
        match self {
            Vocabulary::BizStep => "BizStep",
            Vocabulary::Disposition => "Disp",
            Vocabulary::BizTransactionType => "BTT",
            Vocabulary::SourceDestinationType => "SDT",
            Vocabulary::ErrorReason => "ER",
        }
    }

    fn urn_prefix(self) -> &'static str {
        match self {
            Vocabulary::BizStep => "urn:epcglobal:cbv:bizstep:",
            Vocabulary::Disposition => "urn:epcglobal:cbv:disp:",
            Vocabulary::BizTransactionType => "urn:epcglobal:cbv:btt:",
            Vocabulary::SourceDestinationType => "urn:epcglobal:cbv:sdt:",
            Vocabulary::ErrorReason => "urn:epcglobal:cbv:er:",
        }
    }

    /// The standard terms of this vocabulary.
    pub fn terms(self) -> &'static [&'static str] {
        match self {
            Vocabulary::BizStep => BIZ_STEPS,
            Vocabulary::Disposition => DISPOSITIONS,
            Vocabulary::BizTransactionType => BIZ_TRANSACTION_TYPES,
            Vocabulary::SourceDestinationType => SOURCE_DESTINATION_TYPES,
            Vocabulary::ErrorReason => ERROR_REASONS,
        }
    }

    /// Whether `word` is a standard term of this vocabulary.
    pub fn contains(self, word: &str) -> bool {
        self.terms().contains(&word)
    }
}

/// CBV 2.0 §7.2.
pub const BIZ_STEPS: &[&str] = &[
    "accepting",
    "arriving",
    "assembling",
    "collecting",
    "commissioning",
    "consigning",
    "creating_class_instance",
    "cycle_counting",
    "decommissioning",
    "departing",
    "destroying",
    "disassembling",
    "dispensing",
    "encoding",
    "entering_exiting",
    "holding",
    "inspecting",
    "installing",
    "killing",
    "loading",
    "other",
    "packing",
    "picking",
    "receiving",
    "removing",
    "repackaging",
    "repairing",
    "replacing",
    "reserving",
    "retail_selling",
    "sampling",
    "sensor_reporting",
    "shipping",
    "staging_outbound",
    "stock_taking",
    "stocking",
    "storing",
    "transporting",
    "unloading",
    "unpacking",
    "void_shipping",
];

/// CBV 2.0 §7.3.
pub const DISPOSITIONS: &[&str] = &[
    "active",
    "available",
    "completeness_verified",
    "completeness_inferred",
    "conformant",
    "container_closed",
    "container_open",
    "damaged",
    "destroyed",
    "dispensed",
    "disposed",
    "encoded",
    "expired",
    "in_progress",
    "in_transit",
    "inactive",
    "mismatch_instance",
    "mismatch_class",
    "mismatch_quantity",
    "needs_replacement",
    "no_pedigree_match",
    "non_conformant",
    "non_sellable_other",
    "partially_dispensed",
    "recalled",
    "reserved",
    "retail_sold",
    "returned",
    "sellable_accessible",
    "sellable_not_accessible",
    "stolen",
    "unavailable",
    "unknown",
];

/// CBV 2.0 §7.4.
pub const BIZ_TRANSACTION_TYPES: &[&str] = &[
    "bol",
    "cert",
    "desadv",
    "inv",
    "pedigree",
    "po",
    "poc",
    "prodorder",
    "recadv",
    "rma",
    "testprd",
    "testres",
    "upevt",
];

/// CBV 2.0 §7.5.
pub const SOURCE_DESTINATION_TYPES: &[&str] = &["owning_party", "possessing_party", "location"];

/// CBV 2.0 §7.6.
pub const ERROR_REASONS: &[&str] = &["did_not_occur", "incorrect_data"];

/// A value of a CBV-typed field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CbvValue {
    /// A word of the standard vocabulary, in its bare form; may be unknown (see
    /// [`validate_cbv`]).
    Standard {
        /// Which vocabulary.
        vocabulary: Vocabulary,
        /// The bare word, e.g. `shipping`.
        word: String,
    },
    /// A URI outside the CBV namespaces: a user vocabulary.
    Other(String),
}

impl CbvValue {
    /// Reads any of the three spellings of a CBV value.
    pub fn parse(vocabulary: Vocabulary, text: &str) -> CbvValue {
        let web_prefix = format!("https://ref.gs1.org/cbv/{}-", vocabulary.web_prefix());
        let curie_prefix = format!("cbv:{}-", vocabulary.web_prefix());
        let word = text
            .strip_prefix(vocabulary.urn_prefix())
            .or_else(|| text.strip_prefix(web_prefix.as_str()))
            .or_else(|| text.strip_prefix(curie_prefix.as_str()))
            .or_else(|| (!text.contains(':')).then_some(text));
        match word {
            Some(word) => CbvValue::Standard {
                vocabulary,
                word: word.to_owned(),
            },
            None => CbvValue::Other(text.to_owned()),
        }
    }

    /// The bare word if this is a standard-vocabulary value.
    pub fn word(&self) -> Option<&str> {
        match self {
            CbvValue::Standard { word, .. } => Some(word),
            CbvValue::Other(_) => None,
        }
    }

    /// The value as a URI: the CBV 2.0 Web URI for a standard word.
    pub fn to_uri(&self) -> String {
        match self {
            CbvValue::Standard { vocabulary, word } => {
                format!("https://ref.gs1.org/cbv/{}-{word}", vocabulary.web_prefix())
            }
            CbvValue::Other(uri) => uri.clone(),
        }
    }

    /// Whether this is the standard word `word`.
    pub fn is(&self, word: &str) -> bool {
        self.word() == Some(word)
    }

    fn check(&self, field: &'static str) -> Result<(), EpcisError> {
        match self {
            CbvValue::Standard { vocabulary, word } if !vocabulary.contains(word) => Err(EpcisError::UnknownCbvTerm {
                field,
                term: word.clone(),
            }),
            _ => Ok(()),
        }
    }
}

/// Refuses CBV-namespace values that are not terms of CBV 2.0 (a bare `shiping`, or
/// `urn:epcglobal:cbv:bizstep:shiping`); URIs of other vocabularies pass, as EPCIS 2.0 §6.3
/// allows them.
pub fn validate_cbv(event: &Event) -> Result<(), EpcisError> {
    if let Some(v) = &event.biz_step {
        v.check("bizStep")?;
    }
    if let Some(v) = &event.disposition {
        v.check("disposition")?;
    }
    if let Some(p) = &event.persistent_disposition {
        for v in &p.set {
            v.check("persistentDisposition.set")?;
        }
        for v in &p.unset {
            v.check("persistentDisposition.unset")?;
        }
    }
    for t in &event.biz_transaction_list {
        if let Some(v) = &t.kind {
            v.check("bizTransaction.type")?;
        }
    }
    for s in &event.source_list {
        s.kind.check("source.type")?;
    }
    for d in &event.destination_list {
        d.kind.check("destination.type")?;
    }
    if let Some(reason) = event.error_declaration.as_ref().and_then(|e| e.reason.as_ref()) {
        reason.check("errorDeclaration.reason")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_spellings_read_alike() {
        let want = CbvValue::Standard {
            vocabulary: Vocabulary::BizStep,
            word: "shipping".into(),
        };
        for text in [
            "shipping",
            "urn:epcglobal:cbv:bizstep:shipping",
            "https://ref.gs1.org/cbv/BizStep-shipping",
            "cbv:BizStep-shipping",
        ] {
            assert_eq!(CbvValue::parse(Vocabulary::BizStep, text), want, "{text}");
        }
        assert_eq!(want.to_uri(), "https://ref.gs1.org/cbv/BizStep-shipping");
        let other = CbvValue::parse(Vocabulary::BizStep, "http://epcis.example.com/bizstep/x");
        assert_eq!(other.word(), None);
    }
}
