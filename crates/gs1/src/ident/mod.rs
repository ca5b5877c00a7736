//! GS1 identifiers, translated both ways between the forms a pack, a case or a pallet
//! carries them in.
//!
//! The same facts (a GTIN, its expiry date, batch and serial) travel in four shapes:
//!
//! - the **element string** of GS1 Application Identifiers, as a scanner reports it
//!   (`]d2` + `0109506000134352` `17201225` `10ABC123` GS `21XYZ`) or as printed under the
//!   barcode (`(01)09506000134352(17)201225(10)ABC123(21)XYZ`): [`ElementString`];
//! - the **GS1 Digital Link URI** (`https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ?17=201225`):
//!   [`DigitalLink`];
//! - the **EPC pure identity URI** that EPCIS events name objects by
//!   (`urn:epc:id:sgtin:0614141.812345.400`), and the EPC class URIs for quantities
//!   (`urn:epc:class:lgtin:…`, `urn:epc:idpat:sgtin:…`): [`EpcUri`];
//! - the bare keys, checked newtypes: [`Gtin`], [`Gln`], [`Sscc`], [`Serial`], [`Lot`],
//!   [`GlnExtension`].
//!
//! # Rules implemented
//!
//! - **Check digits**: GS1 General Specifications §7.9.1, mod-10 with weights 3 and 1
//!   alternating from the rightmost data digit ([`check_digit`]). The alphanumeric check
//!   character pair of AIs (8010)/(8013) is not implemented (those AIs are not in the table).
//! - **Application Identifiers**: the entries of the GS1 Barcode Syntax Dictionary (Apache-2.0,
//!   github.com/gs1/gs1-syntax-dictionary) for the pharma and logistics subset listed in
//!   [`Ai::all`]: format per component (N = digits, X = CSET 82, Y = CSET 39; GenSpecs §7.11),
//!   fixed or variable length, the "predefined length" flag that decides FNC1 termination
//!   (GenSpecs §7.8.5, Figure 7.8.5-2), the check digit, date (`YYMMDD`, with day `00`
//!   allowed where the dictionary says `yymmd0`, GenSpecs §7.12), time, "piece of total" and
//!   "zero" linters, and the `req=` / `ex=` pairing rules (GenSpecs §4.14). An AI outside
//!   the table is refused ([`IdentError::UnknownAi`]), never passed through. The linters that
//!   need outside data (`gcppos1`/`gcppos2`, which look the company prefix up) are not run.
//! - **Element strings**: FNC1 is sent as GS (0x1D) after every element whose AI is not of
//!   predefined length, except the last (GenSpecs §7.8.5). The scanned form may start with a
//!   GS1 symbology identifier (ISO/IEC 15424: `]C1`, `]e0`, `]d2`, `]Q3`, `]J1`). The
//!   bracketed form escapes a `(` inside a value as `\(` (the GS1 Syntax Engine's rule).
//! - **GS1 Digital Link** (URI Syntax 1.2): uncompressed form only; any
//!   `http(s)` domain and path prefix before the primary key; the primary keys, their
//!   ordered qualifiers and the AIs allowed as query data attributes come from the syntax
//!   dictionary's `dlpkey` and `?` attributes.
//! - **EPC URIs** (EPC Tag Data Standard 2.x §6.3, §6.4, §7): SGTIN, SSCC, SGLN, LGTIN and
//!   the SGTIN class pattern, with the `%`-escaping of TDS §5 (Table A-1).
//!
//! Everything here is pure and bounded: inputs longer than [`MAX_INPUT_LEN`] bytes are
//! refused before they are looked at, and every failure is an [`IdentError`] naming the AI
//! and the byte position at fault.

mod ai;
mod check;
mod digital_link;
mod element;
mod epc;
mod error;
mod keys;
mod uri;

pub use ai::{Ai, Cset};
pub use check::{check_digit, has_valid_check_digit};
pub use digital_link::DigitalLink;
pub use element::{Element, ElementString, PairingRules, Symbology};
pub use epc::{CompanyPrefixLen, EpcUri};
pub use error::IdentError;
pub use keys::{Gln, GlnExtension, Gtin, Lot, Serial, Sscc};

/// The longest text any parser here accepts, in bytes. The longest legitimate input (a
/// Digital Link URI with a long domain and every attribute) is well under this.
pub const MAX_INPUT_LEN: usize = 2048;

/// The most elements one element string may hold (the GS1 Syntax Engine's bound).
pub const MAX_ELEMENTS: usize = 64;

fn check_input_len(input: &str) -> Result<(), IdentError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(IdentError::InputTooLong {
            len: input.len(),
            max: MAX_INPUT_LEN,
        });
    }
    Ok(())
}
