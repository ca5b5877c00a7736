//! `gs1`: GS1 identifiers, offline.
//!
//! `gs1 convert IDENTIFIER` reads an element string (scanned, with GS as FNC1 and an
//! optional symbology identifier such as `]d2`, or bracketed), a GS1 Digital Link URI or an
//! EPC URN (`medledger_gs1::ident`), and prints every form it can be written in, one per
//! line as `FORM VALUE` (no value holds a space):
//!
//! ```text
//! bracketed     (01)09506000134352(10)ABC(21)123456
//! digital-link  https://id.gs1.org/01/09506000134352/10/ABC/21/123456
//! epc           urn:epc:id:sgtin:9506000.013435.123456
//! epc-class     urn:epc:class:lgtin:9506000.013435.ABC
//! ```
//!
//! The EPC forms need the length of the GS1 Company Prefix, which a GTIN, SSCC or GLN does
//! not carry: `--company-prefix-length`, or the URN itself. `epc` is the instance (SGTIN,
//! SSCC, SGLN), `epc-class` the class of a GTIN's quantities (LGTIN with a lot, else the
//! SGTIN pattern). An identifier the parser refuses exits with [`BadInput`]'s code 2.

use anyhow::Result;
use clap::{Args, Subcommand};
use medledger_gs1::ident::{CompanyPrefixLen, DigitalLink, ElementString, EpcUri, IdentError};

use crate::BadInput;

#[derive(Subcommand)]
pub enum Gs1Command {
    /// Print an identifier as a bracketed element string, a GS1 Digital Link URI and, with
    /// the company prefix length, EPC URNs.
    Convert(ConvertArgs),
}

#[derive(Args)]
pub struct ConvertArgs {
    /// An element string (`(01)09506000134352(21)XYZ`, or scanned with GS as FNC1 and an
    /// optional `]d2`-style prefix), a Digital Link URI (`https://…/01/…`) or an EPC URN
    /// (`urn:epc:id:sgtin:…`).
    identifier: String,
    /// Digits in the GS1 Company Prefix (6 to 12), for the EPC URNs; read from the input
    /// when it is a URN.
    #[arg(long)]
    company_prefix_length: Option<usize>,
    /// Scheme, domain and optional path prefix of the Digital Link; by default the input's
    /// own when it is a Digital Link, else https://id.gs1.org.
    #[arg(long)]
    stem: Option<String>,
}

pub fn run(cmd: Gs1Command) -> Result<()> {
    match cmd {
        Gs1Command::Convert(args) => {
            for (form, value) in convert(&args)? {
                println!("{form:<13} {value}");
            }
            Ok(())
        }
    }
}

/// Every form of the identifier, as `(form, value)`; all or nothing.
fn convert(args: &ConvertArgs) -> Result<Vec<(&'static str, String)>, BadInput> {
    let input = args.identifier.as_str();
    let bad = |what: &'static str| move |e: IdentError| BadInput(format!("not a valid {what}: {e}"));
    let given_len = args
        .company_prefix_length
        .map(CompanyPrefixLen::new)
        .transpose()
        .map_err(|e| BadInput(format!("--company-prefix-length: {e}")))?;

    let (elements, link, company_prefix_len) = if input.starts_with("urn:") {
        let epc = EpcUri::parse(input).map_err(bad("EPC URI"))?;
        let own = epc.company_prefix_len();
        if let Some(given) = given_len.filter(|&given| given != own) {
            return Err(BadInput(format!(
                "--company-prefix-length {} disagrees with the URN's company prefix of {} digits",
                given.get(),
                own.get()
            )));
        }
        (epc.to_elements().map_err(bad("EPC URI"))?, None, Some(own))
    } else if is_http_uri(input) {
        let link = DigitalLink::parse(input).map_err(bad("GS1 Digital Link URI"))?;
        (link.elements().clone(), Some(link), given_len)
    } else if input.starts_with('(') {
        let elements = ElementString::parse_bracketed(input).map_err(bad("bracketed element string"))?;
        (elements, None, given_len)
    } else {
        let elements = ElementString::parse_gs(input).map_err(bad("element string"))?;
        (elements, None, given_len)
    };

    let link = match (&args.stem, link) {
        (None, Some(link)) => link.to_string(),
        (stem, _) => elements
            .to_digital_link(stem.as_deref().unwrap_or(DigitalLink::DEFAULT_STEM))
            .map_err(|e| BadInput(format!("no GS1 Digital Link: {e}")))?,
    };
    let mut forms = vec![("bracketed", elements.to_bracketed()), ("digital-link", link)];
    if let Some(len) = company_prefix_len {
        let instance = missing_key_is_none(EpcUri::instance_from_elements(&elements, len))?;
        let class = missing_key_is_none(EpcUri::class_from_elements(&elements, len))?;
        if instance.is_none() && class.is_none() {
            return Err(BadInput(
                "no EPC URI: the identifier has no (01), (00) or (414)".to_string(),
            ));
        }
        forms.extend(instance.map(|uri| ("epc", uri.to_string())));
        forms.extend(class.map(|uri| ("epc-class", uri.to_string())));
    }
    Ok(forms)
}

fn is_http_uri(input: &str) -> bool {
    let lower = input.get(..8).unwrap_or(input).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// An EPC form the identifier has no key for is left out; any other failure is an error.
fn missing_key_is_none(uri: Result<EpcUri, IdentError>) -> Result<Option<EpcUri>, BadInput> {
    match uri {
        Ok(uri) => Ok(Some(uri)),
        Err(IdentError::MissingKey { .. }) => Ok(None),
        Err(e) => Err(BadInput(format!("no EPC URI: {e}"))),
    }
}
