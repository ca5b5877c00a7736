//! Property tests of the canonical codec: every value round-trips, the encoding is
//! canonical (whatever decodes re-encodes to the same bytes), hostile input is refused
//! without panicking, and the transaction hash covers exactly the unsigned transaction.

use medledger_types::block::{BLOCK_VERSION, MAX_COMMIT_SIGS};
use medledger_types::codec::{Decode, DecodeError, Encode, Reader};
use medledger_types::log::{LEAF_VERSION, STH_SIGN_DOMAIN};
use medledger_types::tx::{TX_VERSION, decode_batch, encode_batch};
use medledger_types::{
    Block, BlockHeader, ChainId, Commit, CommitSig, Hash32, Height, LogLeaf, Nonce, OutcomeCode, PublicKey, Signature,
    SignedTx, TimestampMs, TreeHead, TreeSize, Tx, TxKind,
};
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

fn chain_id() -> impl Strategy<Value = ChainId> {
    "[A-Za-z0-9._-]{1,64}".prop_map(|s| ChainId::new(s).expect("the regex only makes valid ids"))
}

fn hash32() -> impl Strategy<Value = Hash32> {
    prop::array::uniform32(any::<u8>()).prop_map(Hash32)
}

fn public_key() -> impl Strategy<Value = PublicKey> {
    prop::array::uniform32(any::<u8>()).prop_map(PublicKey)
}

fn signature() -> impl Strategy<Value = Signature> {
    prop::array::uniform::<_, 64>(any::<u8>()).prop_map(Signature)
}

fn tx() -> impl Strategy<Value = Tx> {
    (
        chain_id(),
        public_key(),
        any::<u64>(),
        any::<u16>(),
        prop::collection::vec(any::<u8>(), 0..=2048),
    )
        .prop_map(|(chain_id, signer, nonce, kind, body)| Tx {
            chain_id,
            signer,
            nonce: Nonce(nonce),
            kind: TxKind(kind),
            body,
        })
}

fn signed_tx() -> impl Strategy<Value = SignedTx> {
    (tx(), signature()).prop_map(|(tx, signature)| SignedTx { tx, signature })
}

/// Signed transactions with small bodies, for blocks and batches.
fn small_signed_tx() -> impl Strategy<Value = SignedTx> {
    (
        chain_id(),
        public_key(),
        any::<u64>(),
        any::<u16>(),
        prop::collection::vec(any::<u8>(), 0..=256),
        signature(),
    )
        .prop_map(|(chain_id, signer, nonce, kind, body, signature)| SignedTx {
            tx: Tx {
                chain_id,
                signer,
                nonce: Nonce(nonce),
                kind: TxKind(kind),
                body,
            },
            signature,
        })
}

fn block_header() -> impl Strategy<Value = BlockHeader> {
    (
        chain_id(),
        any::<u64>(),
        hash32(),
        public_key(),
        any::<u64>(),
        any::<u32>(),
        hash32(),
        hash32(),
        any::<u64>(),
        hash32(),
    )
        .prop_map(
            |(
                chain_id,
                height,
                parent_hash,
                proposer,
                timestamp,
                tx_count,
                tx_root,
                state_root,
                log_size,
                log_root,
            )| BlockHeader {
                chain_id,
                height: Height(height),
                parent_hash,
                proposer,
                timestamp: TimestampMs(timestamp),
                tx_count,
                tx_root,
                state_root,
                log_size: TreeSize(log_size),
                log_root,
            },
        )
}

fn commit() -> impl Strategy<Value = Commit> {
    (
        any::<u32>(),
        prop::collection::vec(
            (public_key(), signature()).prop_map(|(validator, signature)| CommitSig { validator, signature }),
            0..=8,
        ),
    )
        .prop_map(|(round, signatures)| Commit { round, signatures })
}

fn block() -> impl Strategy<Value = Block> {
    (
        block_header(),
        prop::collection::vec(small_signed_tx(), 0..=8),
        commit(),
    )
        .prop_map(|(mut header, txs, commit)| {
            header.tx_count = u32::try_from(txs.len()).expect("at most 8");
            Block { header, txs, commit }
        })
}

fn log_leaf() -> impl Strategy<Value = LogLeaf> {
    (any::<u64>(), any::<u32>(), hash32(), any::<u16>()).prop_map(|(height, index_in_block, tx_hash, outcome)| {
        LogLeaf {
            height: Height(height),
            index_in_block,
            tx_hash,
            outcome: OutcomeCode(outcome),
        }
    })
}

fn tree_head() -> impl Strategy<Value = TreeHead> {
    (chain_id(), any::<u64>(), any::<u64>(), hash32()).prop_map(|(chain_id, tree_size, timestamp, root_hash)| {
        TreeHead {
            chain_id,
            tree_size: TreeSize(tree_size),
            timestamp: TimestampMs(timestamp),
            root_hash,
        }
    })
}

/// Arbitrary bytes, bytes behind a valid version byte (so that decoding gets past the
/// first check), and valid encodings with a few bytes overwritten.
fn hostile_bytes(valid: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..4096),
        prop::collection::vec(any::<u8>(), 0..4096).prop_map(|mut v| {
            v.insert(0, 1);
            v
        }),
        (valid, prop::collection::vec((any::<Index>(), any::<u8>()), 1..8)).prop_map(|(mut v, edits)| {
            if !v.is_empty() {
                for (at, byte) in edits {
                    let i = at.index(v.len());
                    v[i] = byte;
                }
            }
            v
        }),
    ]
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn round_trips<T: Encode + Decode + PartialEq + std::fmt::Debug>(value: &T) -> Result<(), TestCaseError> {
    let bytes = value.encode();
    let back = T::decode(&bytes).map_err(|e| TestCaseError::fail(format!("decode failed: {e}")))?;
    prop_assert_eq!(&back, value);
    prop_assert_eq!(back.encode(), bytes);
    Ok(())
}

/// Decoding never panics; whatever decodes is canonical (re-encodes to the input).
fn decode_is_total_and_canonical<T: Encode + Decode>(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(value) = T::decode(bytes) {
        prop_assert_eq!(value.encode(), bytes, "accepted a non-canonical encoding");
    }
    Ok(())
}

/// Every strict prefix of `bytes` (all of them, or a sample for long inputs) fails.
fn prefixes_fail<T: Decode>(bytes: &[u8], sample: &[Index]) -> Result<(), TestCaseError> {
    let check = |len: usize| -> Result<(), TestCaseError> {
        prop_assert!(
            T::decode(&bytes[..len]).is_err(),
            "a {}-byte prefix of a {}-byte encoding decoded",
            len,
            bytes.len()
        );
        Ok(())
    };
    if bytes.len() <= 512 {
        for len in 0..bytes.len() {
            check(len)?;
        }
    } else {
        for len in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            check(len)?;
        }
        for at in sample {
            check(at.index(bytes.len()))?;
        }
    }
    Ok(())
}

fn trailing_byte_fails<T: Decode + std::fmt::Debug>(bytes: &[u8], extra: u8) -> Result<(), TestCaseError> {
    let mut longer = bytes.to_vec();
    longer.push(extra);
    prop_assert_eq!(T::decode(&longer).err(), Some(DecodeError::TrailingBytes { count: 1 }));
    Ok(())
}

/// Replaces the version byte at `at` with `version` (which must differ from the real one).
fn with_version(bytes: &[u8], at: usize, version: u8) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[at] = version;
    v
}

fn other_version(current: u8) -> impl Strategy<Value = u8> {
    any::<u8>().prop_filter("must differ from the current version", move |v| *v != current)
}

/// 128 cases per property, unless `PROPTEST_CASES` asks for another number.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(128);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tx_round_trips(t in tx()) {
        round_trips(&t)?;
    }

    #[test]
    fn signed_tx_round_trips(t in signed_tx()) {
        round_trips(&t)?;
    }

    #[test]
    fn block_header_round_trips(h in block_header()) {
        round_trips(&h)?;
    }

    #[test]
    fn commit_round_trips(c in commit()) {
        round_trips(&c)?;
    }

    #[test]
    fn block_round_trips(b in block()) {
        round_trips(&b)?;
        // The hash covers the header only: the commit certificate is added afterwards.
        let mut other = b.clone();
        other.commit.round = other.commit.round.wrapping_add(1);
        prop_assert_eq!(other.hash(), b.hash());
        prop_assert_eq!(b.hash(), b.header.hash());
    }

    #[test]
    fn log_leaf_round_trips(l in log_leaf()) {
        round_trips(&l)?;
    }

    /// `TreeHead` has no `Encode`/`Decode`; what it has on the wire is its sign bytes,
    /// which must be unambiguous: they parse back into the same tree head.
    #[test]
    fn tree_head_sign_bytes_are_unambiguous(th in tree_head()) {
        let bytes = th.sign_bytes();
        prop_assert!(bytes.starts_with(STH_SIGN_DOMAIN));
        let mut r = Reader::new(&bytes[STH_SIGN_DOMAIN.len()..]);
        let back = TreeHead {
            chain_id: ChainId::decode_from(&mut r).map_err(|e| TestCaseError::fail(e.to_string()))?,
            tree_size: TreeSize::decode_from(&mut r).map_err(|e| TestCaseError::fail(e.to_string()))?,
            timestamp: TimestampMs::decode_from(&mut r).map_err(|e| TestCaseError::fail(e.to_string()))?,
            root_hash: Hash32::decode_from(&mut r).map_err(|e| TestCaseError::fail(e.to_string()))?,
        };
        prop_assert_eq!(r.finish(), Ok(()));
        prop_assert_eq!(back, th);
    }

    #[test]
    fn tree_head_sign_bytes_cover_every_field(th in tree_head(), flip in any::<Index>()) {
        let base = th.sign_bytes();
        let mut size = th.clone();
        size.tree_size.0 = size.tree_size.0.wrapping_add(1);
        prop_assert_ne!(size.sign_bytes(), base.clone());
        let mut time = th.clone();
        time.timestamp.0 = time.timestamp.0.wrapping_add(1);
        prop_assert_ne!(time.sign_bytes(), base.clone());
        let mut root = th.clone();
        root.root_hash.0[flip.index(32)] ^= 1;
        prop_assert_ne!(root.sign_bytes(), base.clone());
        let mut chain = th.clone();
        chain.chain_id = other_chain_id(&th.chain_id);
        prop_assert_ne!(chain.sign_bytes(), base);
    }

    #[test]
    fn batch_round_trips(txs in prop::collection::vec(small_signed_tx(), 0..=8)) {
        let bytes = encode_batch(&txs);
        let back = decode_batch(&bytes, txs.len()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &txs);
        prop_assert_eq!(encode_batch(&back), bytes.clone());
        if !txs.is_empty() {
            // One more transaction than allowed is refused before anything is decoded.
            let too_many = decode_batch(&bytes, txs.len() - 1);
            let is_too_long = matches!(too_many, Err(DecodeError::TooLong { .. }));
            prop_assert!(is_too_long, "batch over the limit: {:?}", too_many);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hostile_signed_tx(bytes in hostile_bytes(small_signed_tx().prop_map(|t| t.encode()))) {
        decode_is_total_and_canonical::<SignedTx>(&bytes)?;
    }

    #[test]
    fn hostile_block(bytes in hostile_bytes(block().prop_map(|b| b.encode()))) {
        decode_is_total_and_canonical::<Block>(&bytes)?;
    }

    #[test]
    fn hostile_block_header(bytes in hostile_bytes(block_header().prop_map(|h| h.encode()))) {
        decode_is_total_and_canonical::<BlockHeader>(&bytes)?;
    }

    #[test]
    fn hostile_log_leaf(bytes in hostile_bytes(log_leaf().prop_map(|l| l.encode()))) {
        decode_is_total_and_canonical::<LogLeaf>(&bytes)?;
    }

    #[test]
    fn hostile_commit(bytes in hostile_bytes(commit().prop_map(|c| c.encode()))) {
        decode_is_total_and_canonical::<Commit>(&bytes)?;
    }

    #[test]
    fn hostile_batch(
        bytes in hostile_bytes(prop::collection::vec(small_signed_tx(), 0..=4).prop_map(|t| encode_batch(&t))),
        max in prop_oneof![Just(10_000usize), 0usize..8],
    ) {
        if let Ok(txs) = decode_batch(&bytes, max) {
            prop_assert!(txs.len() <= max);
            prop_assert_eq!(encode_batch(&txs), bytes);
        }
    }

    #[test]
    fn strict_prefixes_fail(
        t in signed_tx(),
        h in block_header(),
        b in block(),
        l in log_leaf(),
        c in commit(),
        txs in prop::collection::vec(small_signed_tx(), 0..=4),
        sample in prop::collection::vec(any::<Index>(), 16),
    ) {
        prefixes_fail::<SignedTx>(&t.encode(), &sample)?;
        prefixes_fail::<BlockHeader>(&h.encode(), &sample)?;
        prefixes_fail::<Block>(&b.encode(), &sample)?;
        prefixes_fail::<LogLeaf>(&l.encode(), &sample)?;
        prefixes_fail::<Commit>(&c.encode(), &sample)?;
        let batch = encode_batch(&txs);
        for len in 0..batch.len().min(512) {
            prop_assert!(decode_batch(&batch[..len], 10_000).is_err(), "batch prefix of {} bytes decoded", len);
        }
        for at in &sample {
            let len = at.index(batch.len());
            prop_assert!(decode_batch(&batch[..len], 10_000).is_err(), "batch prefix of {} bytes decoded", len);
        }
    }

    #[test]
    fn a_trailing_byte_fails(
        t in signed_tx(),
        h in block_header(),
        b in block(),
        l in log_leaf(),
        c in commit(),
        txs in prop::collection::vec(small_signed_tx(), 0..=4),
        extra in any::<u8>(),
    ) {
        trailing_byte_fails::<SignedTx>(&t.encode(), extra)?;
        trailing_byte_fails::<Tx>(&t.tx.encode(), extra)?;
        trailing_byte_fails::<BlockHeader>(&h.encode(), extra)?;
        trailing_byte_fails::<Block>(&b.encode(), extra)?;
        trailing_byte_fails::<LogLeaf>(&l.encode(), extra)?;
        trailing_byte_fails::<Commit>(&c.encode(), extra)?;
        let mut batch = encode_batch(&txs);
        batch.push(extra);
        prop_assert_eq!(decode_batch(&batch, 10_000).err(), Some(DecodeError::TrailingBytes { count: 1 }));
    }

    #[test]
    fn another_version_byte_fails(
        t in signed_tx(),
        h in block_header(),
        b in block(),
        l in log_leaf(),
        txs in prop::collection::vec(small_signed_tx(), 1..=4),
        tx_v in other_version(TX_VERSION),
        block_v in other_version(BLOCK_VERSION),
        leaf_v in other_version(LEAF_VERSION),
    ) {
        prop_assert_eq!(
            SignedTx::decode(&with_version(&t.encode(), 0, tx_v)).err(),
            Some(DecodeError::UnsupportedVersion { what: "transaction", version: tx_v })
        );
        prop_assert_eq!(
            BlockHeader::decode(&with_version(&h.encode(), 0, block_v)).err(),
            Some(DecodeError::UnsupportedVersion { what: "block header", version: block_v })
        );
        prop_assert_eq!(
            Block::decode(&with_version(&b.encode(), 0, block_v)).err(),
            Some(DecodeError::UnsupportedVersion { what: "block header", version: block_v })
        );
        prop_assert_eq!(
            LogLeaf::decode(&with_version(&l.encode(), 0, leaf_v)).err(),
            Some(DecodeError::UnsupportedVersion { what: "log leaf", version: leaf_v })
        );
        // In a batch the first transaction's version byte follows the u32 count; a bad
        // version on any transaction fails the whole batch.
        let batch = encode_batch(&txs);
        prop_assert_eq!(
            decode_batch(&with_version(&batch, 4, tx_v), 10_000).err(),
            Some(DecodeError::UnsupportedVersion { what: "transaction", version: tx_v })
        );
        // And inside a block, the first transaction's version byte comes right after
        // the header and the u32 transaction count.
        if !b.txs.is_empty() {
            let at = b.header.encode().len() + 4;
            prop_assert_eq!(
                Block::decode(&with_version(&b.encode(), at, tx_v)).err(),
                Some(DecodeError::UnsupportedVersion { what: "transaction", version: tx_v })
            );
        }
    }

    #[test]
    fn block_tx_count_must_match(b in block(), delta in 1u32..4) {
        let mut wrong = b.clone();
        wrong.header.tx_count = b.header.tx_count.wrapping_add(delta);
        prop_assert_eq!(
            Block::decode(&wrong.encode()).err(),
            Some(DecodeError::Invalid {
                what: "block",
                reason: "transaction count differs from the header",
            })
        );
    }
}

// ---------------------------------------------------------------------------------------
// What the transaction hash covers
// ---------------------------------------------------------------------------------------

fn other_chain_id(id: &ChainId) -> ChainId {
    let s = id.as_str();
    let changed = if s.len() < 64 {
        format!("{s}x")
    } else {
        let last = if s.ends_with('x') { "y" } else { "x" };
        format!("{}{last}", &s[..s.len() - 1])
    };
    ChainId::new(changed).expect("still a valid id")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tx_hash_ignores_the_signature(t in signed_tx(), other in signature()) {
        prop_assume!(other != t.signature);
        let resigned = SignedTx { tx: t.tx.clone(), signature: other };
        prop_assert_eq!(resigned.hash(), t.hash());
        prop_assert_eq!(t.hash(), t.tx.hash());
        // The signature is still part of the envelope's bytes.
        prop_assert_ne!(resigned.encode(), t.encode());
    }

    #[test]
    fn tx_hash_covers_every_field(
        t in signed_tx(),
        flip in any::<Index>(),
        byte in any::<u8>(),
    ) {
        let base = t.hash();
        let mutants = {
            let mut chain = t.clone();
            chain.tx.chain_id = other_chain_id(&t.tx.chain_id);
            let mut signer = t.clone();
            signer.tx.signer.0[flip.index(32)] ^= 0x01;
            let mut nonce = t.clone();
            nonce.tx.nonce.0 = nonce.tx.nonce.0.wrapping_add(1);
            let mut kind = t.clone();
            kind.tx.kind.0 ^= 0x0001;
            let mut body_len = t.clone();
            body_len.tx.body.push(byte);
            [("chain id", chain), ("signer", signer), ("nonce", nonce), ("kind", kind), ("body length", body_len)]
        };
        for (field, m) in mutants {
            prop_assert_ne!(m.hash(), base, "changing the {} kept the hash", field);
        }
        if !t.tx.body.is_empty() {
            let mut body = t.clone();
            let i = flip.index(body.tx.body.len());
            body.tx.body[i] ^= 0x80;
            prop_assert_ne!(body.hash(), base, "changing a body byte kept the hash");
        }
    }
}

#[test]
fn commit_signature_limit_is_enforced() {
    let sig = CommitSig {
        validator: PublicKey([7; 32]),
        signature: Signature([9; 64]),
    };
    let ok = Commit {
        round: 0,
        signatures: vec![sig.clone(); MAX_COMMIT_SIGS],
    };
    assert_eq!(Commit::decode(&ok.encode()).as_ref(), Ok(&ok));
    let too_many = Commit {
        round: 0,
        signatures: vec![sig; MAX_COMMIT_SIGS + 1],
    };
    assert!(matches!(
        Commit::decode(&too_many.encode()),
        Err(DecodeError::TooLong { .. })
    ));
}
