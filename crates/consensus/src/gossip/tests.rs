use std::collections::HashSet;

use medledger_crypto::Keypair;

use super::*;

fn addr(seed: u8) -> Address {
    Address(Keypair::from_seed([seed; 32]).public())
}

fn txs(n: u64, body: usize) -> Vec<SignedTx> {
    crate::test_txs(n, body)
}

fn seq_of(p: &ProposalPart) -> u64 {
    match p {
        ProposalPart::Txs { seq, .. } => *seq,
        other => panic!("not a gossip batch: {other:?}"),
    }
}

#[test]
fn batches_are_cut_by_count_and_bytes_and_numbered() {
    let now = Instant::now();
    let mut out = Outbox::new(9, [addr(2), addr(3)]);
    let parts = out.add(txs(2500, 10), now);
    assert_eq!(parts.iter().map(seq_of).collect::<Vec<_>>(), vec![0, 1, 2]);
    let parts = out.add(txs(10, 60_000), now);
    // 60 kB each: four per 256 kB batch.
    assert_eq!(parts.len(), 3);
    assert_eq!(seq_of(&parts[0]), 3);
    assert_eq!(out.len(), 6);
    let sizes: Vec<usize> = parts
        .iter()
        .map(|p| match p {
            ProposalPart::Txs { batch, .. } => medledger_types::tx::decode_batch(batch, 10_000).unwrap().len(),
            _ => 0,
        })
        .collect();
    assert_eq!(sizes, vec![4, 4, 2]);
}

#[test]
fn the_first_ack_replicates_and_the_last_shares_and_forgets_the_batch() {
    let now = Instant::now();
    let (b, c, d) = (addr(2), addr(3), addr(4));
    let mut out = Outbox::new(9, [b, c, d]);
    let sent = txs(3, 10);
    let hashes: Vec<Hash32> = sent.iter().map(SignedTx::hash).collect();
    out.add(sent, now);
    let nothing = Acked::default();
    // Someone else's session, or a stranger, changes nothing.
    assert_eq!(out.ack(b, 8, 0), nothing);
    assert_eq!(out.ack(addr(7), 9, 0), nothing);
    assert_eq!(
        out.ack(b, 9, 0),
        Acked {
            replicated: hashes.clone(),
            everywhere: vec![]
        }
    );
    // A repeated ack, and the second holder, do not report it again.
    assert_eq!(out.ack(b, 9, 0), nothing);
    assert_eq!(out.ack(c, 9, 0), nothing);
    assert_eq!(out.len(), 1);
    // The last holder makes it held everywhere.
    assert_eq!(
        out.ack(d, 9, 0),
        Acked {
            replicated: vec![],
            everywhere: hashes
        }
    );
    assert!(out.is_empty());
}

#[test]
fn unacknowledged_batches_are_sent_again_with_growing_pauses() {
    let t0 = Instant::now();
    let mut out = Outbox::new(1, [addr(2)]);
    out.add(txs(5, 10), t0);
    let pending = |_: &Hash32| true;
    assert!(out.due(t0, pending).is_empty(), "not due before the first pause");
    let t1 = out.next_due().unwrap();
    assert_eq!(t1 - t0, FIRST_RETRY);
    assert_eq!(out.due(t1, pending).len(), 1);
    let t2 = out.next_due().unwrap();
    let t3 = {
        assert_eq!(out.due(t2, pending).len(), 1);
        out.next_due().unwrap()
    };
    assert!(t3 - t2 > t2 - t1, "pauses grow: {:?} then {:?}", t2 - t1, t3 - t2);
    // Far later the pause is capped.
    let mut t = t3;
    for _ in 0..20 {
        out.due(t, pending);
        let next = out.next_due().unwrap();
        assert!(next - t <= MAX_RETRY);
        t = next;
    }
    // Once acknowledged it is never sent again.
    out.ack(addr(2), 1, 0);
    assert!(out.due(t + MAX_RETRY, pending).is_empty());
    assert!(out.next_due().is_none());
}

#[test]
fn a_batch_whose_transactions_all_committed_is_forgotten_unacknowledged() {
    let t0 = Instant::now();
    let mut out = Outbox::new(1, [addr(2)]);
    let sent = txs(4, 10);
    let committed: HashSet<Hash32> = sent[..3].iter().map(SignedTx::hash).collect();
    let all: HashSet<Hash32> = sent.iter().map(SignedTx::hash).collect();
    out.add(sent, t0);
    let later = t0 + MAX_RETRY;
    // One transaction still waits: the batch is sent again, whole.
    assert_eq!(out.due(later, |h| !committed.contains(h)).len(), 1);
    // None waits any more: the down validator gets them in blocks.
    assert!(out.due(later + MAX_RETRY, |h| !all.contains(h)).is_empty());
    assert!(out.is_empty());
}

#[test]
fn a_lone_validator_keeps_nothing() {
    let mut out = Outbox::new(1, []);
    assert_eq!(out.add(txs(3, 10), Instant::now()).len(), 1);
    assert!(out.is_empty());
}
