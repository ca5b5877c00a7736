//! The contract engine host: deterministic, metered execution of user-deployed WebAssembly
//! contracts (issue 15, [ADR 015](../../../docs/adr/015-contracts.md)).
//!
//! A contract is a WebAssembly module that imports only the host functions below, exports
//! its linear `memory` and an entry point (`call` by default) of type `() -> i32`. The
//! [`Engine`] checks it once ([`Engine::check`]: valid, integer-only, known imports, size
//! and memory within [`Limits`]) into a [`CheckedCode`] that the caller keeps and reuses;
//! [`Engine::call`] runs an entry point in a fresh instance and returns an [`Outcome`].
//! Nothing a call does reaches the ledger directly: its state writes and events are
//! buffered in the outcome and the caller applies them only for [`Outcome::Ok`].
//!
//! Pure: no I/O, no clock but the block's, no randomness; the ledger reaches state and facts
//! through the [`Host`] trait.
//!
//! # Determinism and metering
//!
//! - Float instructions and types are refused at check time (wasmi's `floats(false)`), as
//!   are SIMD, threads, memory64 and multi-memory. Functions are compiled eagerly, so fuel
//!   never depends on what an earlier call translated.
//! - Fuel: every call starts with a fuel budget; wasmi charges per instruction and per byte
//!   copied, the host charges [`Limits::host_call_fuel`] plus one unit per byte for each
//!   host function. Running out is [`Outcome::OutOfFuel`], never an error or a panic.
//! - Memory: at most [`Limits::max_memory_pages`] pages of 64 KiB; growing past it ends the
//!   call with [`Outcome::LimitExceeded`]`(`[`LimitKind::Memory`]`)`.
//! - Storage: key and value sizes, writes and bytes written per call, events, output.
//!
//! # The ABI (version 1)
//!
//! Host functions, imported from module `"medledger"`; every pointer/length pair is
//! checked against the contract's memory and a bad one traps ([`TrapReason::BadPointer`]):
//!
//! | function | signature | does |
//! |---|---|---|
//! | `input_len` | `() -> i32` | length of the call's input |
//! | `input_read` | `(ptr: i32)` | copies the whole input to `ptr` |
//! | `output_write` | `(ptr, len: i32)` | sets the call's output (the last write wins) |
//! | `state_get` | `(key_ptr, key_len, val_ptr, val_cap: i32) -> i32` | `-1` if absent, else the value's length; copies at most `val_cap` bytes. Reads see the call's own writes |
//! | `state_set` | `(key_ptr, key_len, val_ptr, val_len: i32)` | buffers a write |
//! | `state_delete` | `(key_ptr, key_len: i32)` | buffers a deletion |
//! | `fact_get` | `(key_ptr, key_len, val_ptr, val_cap: i32) -> i32` | a ledger fact the caller may see (namespaced key, e.g. `coverage/<member>`), as `state_get` |
//! | `emit_event` | `(topic_ptr, topic_len, data_ptr, data_len: i32)` | buffers an event |
//! | `block_time` | `() -> i64` | the block's time, seconds since the Unix epoch |
//! | `abort` | `(msg_ptr, msg_len: i32)` | ends the call: [`TrapReason::Abort`] with the UTF-8 message |
//!
//! The entry point returns a status: `0` is success ([`Outcome::Ok`]); anything else is
//! [`Outcome::Reverted`], which keeps the output (a reason) and drops writes and events.
//!
//! Structured input, output, facts and state values use the canonical encoding of [`abi`]:
//! a sequence of tagged values (bool, i64, [`Amount`], bytes, UTF-8 string, list),
//! little-endian, length-prefixed, each value with exactly one encoding.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod abi;
mod amount;
mod engine;
mod host;
mod limits;
mod runtime;

pub use abi::{AbiError, AbiLimits, Value};
pub use amount::{Amount, AmountError};
pub use engine::{CheckedCode, CodeCache, CodeError, CodeId, Engine, Event, Outcome, TrapReason, Write};
pub use host::{Host, MemoryHost};
pub use limits::{LimitKind, Limits, LimitsError};
