//! The drug table: RxNorm ingredient → class, least strict schedule and, for opioids, the
//! CDC MME conversion factor. Kept as data (`crates/ledger/data/cdc-mme-2022.csv`, which
//! cites its source), compiled into the binary and parsed once, deterministically: every
//! validator of one release holds the same table, and its version is recorded with every
//! alert.
//!
//! Factors are read as decimals into thousandths ([`Milli`]) — never floats — and a factor
//! with more than three decimals is refused, so the table means the same on every machine.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::{DrugClass, RxCui, Schedule};

/// The table's source text.
pub const SOURCE: &str = include_str!("../../data/cdc-mme-2022.csv");

/// A quantity in thousandths (`1500` is 1.5).
pub type Milli = u64;

/// What one dispensed unit's strength is measured in, for the MME factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactorUnit {
    /// Milligrams of the ingredient (factor per mg/day).
    Mg,
    /// Micrograms per hour of a transdermal system (factor per mcg/hr).
    McgPerHour,
}

/// One ingredient's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drug {
    pub name: String,
    pub class: DrugClass,
    pub schedule: Schedule,
    /// Opioids only: the unit the factor applies to and the factor, in thousandths.
    pub factor: Option<(FactorUnit, Milli)>,
}

/// The parsed table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrugTable {
    /// Recorded with every alert, e.g. `CDC 2022`.
    pub version: String,
    pub drugs: BTreeMap<RxCui, Drug>,
}

impl DrugTable {
    pub fn get(&self, ingredient: RxCui) -> Option<&Drug> {
        self.drugs.get(&ingredient)
    }
}

/// Why the table text does not parse (a defect of the release, caught by its tests).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("drug table line {line}: {reason}")]
pub struct TableError {
    pub line: usize,
    pub reason: &'static str,
}

/// The compiled-in table.
pub fn table() -> Result<&'static DrugTable, &'static TableError> {
    static TABLE: OnceLock<Result<DrugTable, TableError>> = OnceLock::new();
    TABLE.get_or_init(|| parse(SOURCE)).as_ref()
}

/// A decimal with at most three decimals, as thousandths: `"2.4"` → 2400.
pub fn parse_milli(s: &str) -> Option<Milli> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || frac.len() > 3 || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.contains('.') && frac.is_empty() {
        return None;
    }
    let whole: u64 = int.parse().ok()?;
    let mut thousandths: u64 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    for _ in frac.len()..3 {
        thousandths *= 10;
    }
    whole.checked_mul(1000)?.checked_add(thousandths)
}

fn schedule_of(s: &str) -> Option<Schedule> {
    Some(match s {
        "" => Schedule::None,
        "II" => Schedule::II,
        "III" => Schedule::III,
        "IV" => Schedule::IV,
        "V" => Schedule::V,
        _ => return None,
    })
}

/// Parses the table text: `#` comments and blank lines, then `version,<text>`, the header
/// row, and one row per ingredient, each listed once.
pub fn parse(text: &str) -> Result<DrugTable, TableError> {
    let mut rows = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let err = |line, reason| TableError { line, reason };
    let (line, first) = rows.next().ok_or(err(0, "empty"))?;
    let version = first
        .strip_prefix("version,")
        .filter(|v| !v.is_empty() && v.len() <= super::MAX_TABLE_VERSION)
        .ok_or(err(line, "the first row must be version,<text>"))?
        .to_owned();
    let (line, header) = rows.next().ok_or(err(line, "no header row"))?;
    if header != "rxcui,ingredient,class,schedule,unit,factor" {
        return Err(err(
            line,
            "the header must be rxcui,ingredient,class,schedule,unit,factor",
        ));
    }
    let mut drugs = BTreeMap::new();
    for (line, row) in rows {
        let cols: Vec<&str> = row.split(',').collect();
        let [rxcui, name, class, schedule, unit, factor] = cols.as_slice() else {
            return Err(err(line, "six columns"));
        };
        let rxcui: u32 = rxcui.parse().map_err(|_| err(line, "rxcui is a number"))?;
        let class = match *class {
            "opioid" => DrugClass::Opioid,
            "benzodiazepine" => DrugClass::Benzodiazepine,
            _ => return Err(err(line, "class is opioid or benzodiazepine")),
        };
        let schedule = schedule_of(schedule).ok_or(err(line, "schedule is II, III, IV, V or empty"))?;
        let factor = match (class, *unit, *factor) {
            (DrugClass::Opioid, unit, factor) => {
                let unit = match unit {
                    "mg" => FactorUnit::Mg,
                    "mcg/h" => FactorUnit::McgPerHour,
                    _ => return Err(err(line, "an opioid's unit is mg or mcg/h")),
                };
                let f = parse_milli(factor)
                    .filter(|f| *f > 0)
                    .ok_or(err(line, "factor is a positive decimal with at most 3 decimals"))?;
                Some((unit, f))
            }
            (DrugClass::Benzodiazepine, "", "") => None,
            (DrugClass::Benzodiazepine, ..) => return Err(err(line, "a benzodiazepine has no unit or factor")),
        };
        let drug = Drug {
            name: (*name).to_owned(),
            class,
            schedule,
            factor,
        };
        if drugs.insert(RxCui(rxcui), drug).is_some() {
            return Err(err(line, "an ingredient is listed twice"));
        }
    }
    Ok(DrugTable { version, drugs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_become_thousandths() {
        assert_eq!(parse_milli("2.4"), Some(2400));
        assert_eq!(parse_milli("0.15"), Some(150));
        assert_eq!(parse_milli("5"), Some(5000));
        assert_eq!(parse_milli("0.125"), Some(125));
        for bad in ["", ".5", "5.", "0.1234", "-1", "1e3", "1,5", " 1"] {
            assert_eq!(parse_milli(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_compiled_in_table_parses() {
        let t = table().unwrap();
        assert_eq!(t.version, "CDC 2022");
        assert_eq!(t.drugs.len(), 14);
    }

    #[test]
    fn malformed_tables_are_refused() {
        let head = "version,T\nrxcui,ingredient,class,schedule,unit,factor\n";
        for body in [
            "1,x,opioid,II,mg,\n",
            "1,x,opioid,II,g,1\n",
            "1,x,opioid,VI,mg,1\n",
            "1,x,benzodiazepine,IV,mg,1\n",
            "1,x,stimulant,II,,\n",
            "1,x,opioid,II,mg,1\n1,y,opioid,II,mg,1\n",
            "1,x,opioid,II,mg\n",
        ] {
            assert!(parse(&format!("{head}{body}")).is_err(), "{body:?}");
        }
        assert!(parse("rxcui,ingredient,class,schedule,unit,factor\n").is_err());
    }
}
