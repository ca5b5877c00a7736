use medledger_crypto::Keypair;
use medledger_types::{ChainId, Height, TimestampMs, TreeSize};

use super::*;

fn txs(n: u64) -> Vec<SignedTx> {
    crate::test_txs(n, 20)
}

fn block(txs: Vec<SignedTx>) -> Block {
    Block {
        header: BlockHeader {
            chain_id: ChainId::new("c").unwrap(),
            height: Height(7),
            parent_hash: Hash32([1; 32]),
            proposer: Keypair::from_seed([2; 32]).public(),
            timestamp: TimestampMs(1_700_000_000_000),
            tx_count: txs.len() as u32,
            tx_root: Hash32([3; 32]),
            state_root: Hash32([4; 32]),
            log_size: TreeSize(9),
            log_root: Hash32([5; 32]),
        },
        txs,
        commit: Commit::default(),
    }
}

/// A mempool holding `txs`, answering by hash.
fn holding(txs: &[SignedTx]) -> impl FnOnce(&[Hash32]) -> Vec<Option<SignedTx>> + '_ {
    move |hashes: &[Hash32]| {
        hashes
            .iter()
            .map(|h| txs.iter().find(|t| t.hash() == *h).cloned())
            .collect()
    }
}

#[test]
fn named_transactions_travel_as_hashes_and_round_trip() {
    let b = block(txs(4));
    let c = CompactBlock::of(&b, &[true, false, true, true]);
    assert_eq!(c.named(), 3);
    assert!(matches!(c.entries[1], Entry::Full(_)));
    let bytes = c.encode();
    assert_eq!(CompactBlock::decode(&bytes).unwrap(), c);
    // Three 33-byte names instead of three whole transactions.
    assert!(bytes.len() < b.encode().len());
}

#[test]
fn hostile_encodings_are_refused() {
    let c = CompactBlock::of(&block(txs(2)), &[true, true]);
    let bytes = c.encode();
    // Wrong version.
    let mut v = bytes.clone();
    v[0] = 9;
    assert!(CompactBlock::decode(&v).is_err());
    // Trailing byte.
    let mut t = bytes.clone();
    t.push(0);
    assert!(CompactBlock::decode(&t).is_err());
    // Truncated.
    assert!(CompactBlock::decode(&bytes[..bytes.len() - 1]).is_err());
    // Count differing from the header.
    let mut short = c.clone();
    short.entries.pop();
    assert!(CompactBlock::decode(&short.encode()).is_err());
    // Unknown entry tag: the first entry's tag follows the 4-byte count.
    let header_len = c.header.encode().len();
    let mut tag = bytes.clone();
    tag[1 + header_len + 4] = 7;
    assert!(CompactBlock::decode(&tag).is_err());
}

#[test]
fn a_validator_holding_every_named_transaction_rebuilds_the_block_exactly() {
    let all = txs(5);
    let b = block(all.clone());
    let c = CompactBlock::of(&b, &[true, true, false, true, true]);
    let a = Assembly::new(c, holding(&all));
    assert!(a.is_complete());
    assert_eq!(a.block().unwrap(), b);
}

#[test]
fn missing_transactions_are_asked_for_and_filled_by_hash() {
    let all = txs(5);
    let b = block(all.clone());
    let c = CompactBlock::of(&b, &[true; 5]);
    // This validator holds only the first and the last.
    let mut a = Assembly::new(c, holding(&[all[0].clone(), all[4].clone()]));
    assert_eq!(a.missing(), vec![all[1].hash(), all[2].hash(), all[3].hash()]);
    // A transaction nobody asked for is ignored; a fill may come in pieces.
    assert_eq!(a.fill(txs(9)[8..].to_vec()), 0);
    assert_eq!(a.fill(vec![all[2].clone()]), 1);
    let mut a = *a.block().expect_err("two are still missing");
    assert_eq!(a.missing(), vec![all[1].hash(), all[3].hash()]);
    assert_eq!(a.fill(vec![all[3].clone(), all[1].clone(), all[1].clone()]), 2);
    assert_eq!(a.block().unwrap(), b);
}

#[test]
fn a_copy_under_another_hash_is_not_used() {
    let all = txs(2);
    let c = CompactBlock::of(&block(all.clone()), &[true, true]);
    // A lookup that answers the wrong transaction for the first hash.
    let a = Assembly::new(c, |hashes: &[Hash32]| {
        vec![Some(all[1].clone()), Some(all[1].clone())]
            .into_iter()
            .take(hashes.len())
            .collect()
    });
    assert_eq!(a.missing(), vec![all[0].hash()]);
}

#[test]
fn a_block_naming_one_transaction_twice_fills_both_places() {
    let all = txs(2);
    let b = block(vec![all[0].clone(), all[1].clone(), all[0].clone()]);
    let c = CompactBlock::of(&b, &[true; 3]);
    let mut a = Assembly::new(c, holding(&all[1..]));
    assert_eq!(a.missing(), vec![all[0].hash()]);
    assert_eq!(a.fill(vec![all[0].clone()]), 1);
    assert_eq!(a.block().unwrap(), b);
}

#[test]
fn a_validator_asking_again_and_again_is_answered_three_times_a_round() {
    let a = crate::types::Address(Keypair::from_seed([8; 32]).public());
    let b = crate::types::Address(Keypair::from_seed([9; 32]).public());
    let mut budget = FillBudget::default();
    for _ in 0..MAX_FILLS_SERVED {
        assert!(budget.allow(a, 0));
    }
    assert!(!budget.allow(a, 0));
    // Another round, another validator: their own budget.
    assert!(budget.allow(a, 1));
    assert!(budget.allow(b, 0));
    budget.clear();
    assert!(budget.allow(a, 0));
}
