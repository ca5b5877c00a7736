//! Service lines: SV1 (837P) and SV2 (837I) read into a [`ServiceLine`], with the element
//! errors found.

use super::{Procedure, ServiceLine};
use crate::amount::{Amount, Quantity};
use crate::error::{ElementCode, ElementError};
use crate::syntax::Segment;

use super::reader::{component, element};

fn procedure(s: &Segment, n: usize, qualifiers: &[&str], problems: &mut Vec<ElementError>) -> Option<Procedure> {
    let qualifier = s.comp(n, 1);
    if !qualifiers.contains(&qualifier) {
        problems.push(component(n, 1, 235, ElementCode::InvalidCode, qualifier));
        return None;
    }
    if s.comp(n, 2).is_empty() {
        problems.push(component(n, 2, 234, ElementCode::RequiredMissing, ""));
        return None;
    }
    let modifiers = (3..=6)
        .map(|c| s.comp(n, c))
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect();
    Some(Procedure {
        qualifier: qualifier.to_owned(),
        code: s.comp(n, 2).to_owned(),
        modifiers,
    })
}

fn amount(s: &Segment, n: usize, problems: &mut Vec<ElementError>) -> Amount {
    Amount::parse(s.el(n)).unwrap_or_else(|_| {
        let code = if s.el(n).is_empty() {
            ElementCode::RequiredMissing
        } else {
            ElementCode::InvalidCharacter
        };
        problems.push(element(n, 782, code, s.el(n)));
        Amount::ZERO
    })
}

fn quantity(s: &Segment, n: usize, problems: &mut Vec<ElementError>) -> Quantity {
    match Quantity::parse(s.el(n)) {
        Ok(q) if q.0 > 0 => q,
        _ => {
            let code = if s.el(n).is_empty() {
                ElementCode::RequiredMissing
            } else {
                ElementCode::InvalidCharacter
            };
            problems.push(element(n, 380, code, s.el(n)));
            Quantity::default()
        }
    }
}

fn unit(s: &Segment, n: usize, allowed: &[&str], problems: &mut Vec<ElementError>) -> String {
    if !allowed.contains(&s.el(n)) {
        let code = if s.el(n).is_empty() {
            ElementCode::RequiredMissing
        } else {
            ElementCode::InvalidCode
        };
        problems.push(element(n, 355, code, s.el(n)));
    }
    s.el(n).to_owned()
}

/// SV1 (837P 2400): procedure, charge, unit, quantity, place of service.
pub(super) fn sv1(s: &Segment) -> (ServiceLine, Vec<ElementError>) {
    let mut problems = Vec::new();
    let procedure = procedure(s, 1, &["HC", "ER", "IV", "WK"], &mut problems);
    let line = ServiceLine {
        number: 0,
        revenue_code: None,
        procedure,
        charge: amount(s, 2, &mut problems),
        unit: unit(s, 3, &["UN", "MJ"], &mut problems),
        quantity: quantity(s, 4, &mut problems),
        place_of_service: (!s.el(5).is_empty()).then(|| s.el(5).to_owned()),
        date: None,
    };
    (line, problems)
}

/// SV2 (837I 2400): revenue code, optional procedure, charge, unit, quantity.
pub(super) fn sv2(s: &Segment) -> (ServiceLine, Vec<ElementError>) {
    let mut problems = Vec::new();
    let revenue = s.el(1);
    if revenue.is_empty() || !revenue.bytes().all(|b| b.is_ascii_digit()) {
        let code = if revenue.is_empty() {
            ElementCode::RequiredMissing
        } else {
            ElementCode::InvalidCode
        };
        problems.push(element(1, 234, code, revenue));
    }
    let procedure = if s.el(2).is_empty() {
        None
    } else {
        procedure(s, 2, &["HC", "ER", "HP", "IV", "WK"], &mut problems)
    };
    let line = ServiceLine {
        number: 0,
        revenue_code: Some(revenue.to_owned()),
        procedure,
        charge: amount(s, 3, &mut problems),
        unit: unit(s, 4, &["UN", "DA"], &mut problems),
        quantity: quantity(s, 5, &mut problems),
        place_of_service: None,
        date: None,
    };
    (line, problems)
}
