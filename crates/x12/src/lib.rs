//! X12 5010 for medledger's claims domain: interchanges read strictly ([`syntax`],
//! [`envelope`]), 837P/837I claims in ([`claim`]), 999/TA1 acknowledgements ([`ack`]) and
//! 835 remittances ([`remit`]) out.
//!
//! Pure: no I/O, no clock (callers pass dates and control numbers). Every reader takes
//! input from outside, is bounded ([`syntax::Limits`]) and answers bad input with a typed
//! error carrying the segment position, never a panic. Money is fixed-point ([`Amount`]).
//!
//! The rules each module implements are stated in its docs, with the sections of the
//! ASC X12 standards and the 5010 implementation guides (TR3s) they come from:
//! X12.5/X12.6 (control structures and syntax), 005010X222A1 (837P), 005010X223A2 (837I),
//! 005010X221A1 (835) and 005010X231A1 (999).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod ack;
pub mod amount;
pub mod claim;
pub mod envelope;
pub mod error;
pub mod remit;
pub mod syntax;
pub mod write;

pub use ack::{Ack, Receipt, ReplyControl, check, receive};
pub use amount::{Amount, Quantity};
pub use claim::{Claim, ClaimKind, Frequency};
pub use write::EnvelopeHeader;
