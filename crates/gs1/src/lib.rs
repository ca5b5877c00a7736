//! GS1 for medledger's medicines domain: the identifiers printed on packs and cases
//! ([`ident`]), and the EPCIS 2.0 events that record what happened to them, with the CBV 2.0
//! event hash ID that is their id on the ledger ([`epcis`]).
//!
//! Pure: no I/O, no clock. Every decoder takes input from outside and is bounded.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod epcis;
pub mod ident;
