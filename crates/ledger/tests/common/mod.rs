//! What the ledger's integration tests share: applying one signed transaction to an
//! in-memory state.

use std::collections::BTreeMap;

// Not every test file uses every helper.
#[allow(dead_code)]
pub mod genesis;

use medledger_crypto::Keypair;
use medledger_ledger::{Applied, BlockContext, Overlay, Payload, Rejection, VerifiedTx, apply_tx};
use medledger_types::Tx;

pub type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// Signs `payload` with the signer's next nonce, applies it in a block with context `ctx`
/// and keeps its writes in `state`.
pub fn apply_signed(
    state: &mut State,
    signer: &Keypair,
    payload: &Payload,
    ctx: &BlockContext,
) -> Result<Applied, Rejection> {
    let nonce = medledger_ledger::next_nonce(state, &signer.public());
    let tx = VerifiedTx::verify(signer.sign_tx(Tx {
        chain_id: ctx.chain_id.clone(),
        signer: signer.public(),
        nonce,
        kind: payload.kind(),
        body: payload.body(),
    }))
    .expect("the test's own signature verifies");
    let mut overlay = Overlay::new(state);
    let applied = apply_tx(&mut overlay, &tx, ctx)?;
    for (k, v) in overlay.into_writes() {
        match v {
            Some(v) => state.insert(k, v),
            None => state.remove(&k),
        };
    }
    Ok(applied)
}
