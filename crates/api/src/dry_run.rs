//! One of the node's own transactions applied to a copy of the current state, before it is
//! submitted: a step the ledger would refuse is refused at once, with the ledger's own
//! reason, instead of after a block (EPCIS capture, FHIR prescriptions and dispenses).

use medledger_crypto::Keypair;
use medledger_ledger::error::TxError;
use medledger_ledger::state::{Overlay, StateRead};
use medledger_ledger::{BlockContext, VerifiedTx};
use medledger_node::Node;
use medledger_types::{Height, Tx, TxKind};

/// Why a dry run could not say anything.
#[derive(Debug, thiserror::Error)]
#[error("the node cannot sign its own transactions: {0}")]
pub struct NotRun(String);

/// Applies `body` of `kind`, signed by `key` with its next nonce in `state`, as the next
/// block would. `Ok(None)`: the ledger takes it; `Ok(Some(e))`: it refuses it with `e`.
pub fn dry_run(
    node: &Node,
    state: &dyn StateRead,
    key: &Keypair,
    kind: TxKind,
    body: Vec<u8>,
) -> Result<Option<TxError>, NotRun> {
    let tx = Tx {
        chain_id: node.chain_id().clone(),
        signer: key.public(),
        nonce: medledger_ledger::next_nonce(state, &key.public()),
        kind,
        body,
    };
    let verified = VerifiedTx::verify(key.sign_tx(tx)).map_err(|e| NotRun(e.to_string()))?;
    let mut overlay = Overlay::new(state);
    let ctx = BlockContext {
        chain_id: node.chain_id().clone(),
        height: Height(node.head().height.0 + 1),
        timestamp: medledger_node::node::now_ms(),
    };
    medledger_ledger::apply_tx(&mut overlay, &verified, &ctx)
        .map(|applied| applied.error)
        .map_err(|r| NotRun(r.to_string()))
}
