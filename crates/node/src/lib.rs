//! Assembles a medledger validator from the pure crates and the store.
#![forbid(unsafe_code)]

pub mod config;
pub mod executor;
pub mod home;
mod leaves;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod pipeline;
pub mod receipt;
pub mod tls;

pub use config::Config;
pub use executor::{BlockError, Executed};
pub use home::{Home, HomeError, InitOptions, init_network};
pub use mempool::{Pressure, SubmitError};
pub use node::{Accepted, Busy, CommittedTx, ConsensusStatus, Node, NodeError, TxStatus};
pub use receipt::{Receipt, SignedTreeHead};
