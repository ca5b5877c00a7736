//! Golden vectors: the frozen consensus encodings of medledger, pinned in
//! `tests/vectors/consensus_v1.json` at the workspace root.
//!
//! The test builds a fixed set of consensus values (validator keys from fixed seeds, a
//! fixed chain, heights, rounds and block hashes) and pins:
//!
//! - the wire encoding ([`codec::encode`]: a format version byte, then the value) of
//!   every message type of `src/codec.rs`: signed votes of each type for a value and for
//!   nil (and one carrying a vote extension), signed proposals, proposal parts
//!   `Init`/`Data`/`Fin` on their own and in stream messages, the stream's end, liveness
//!   messages (vote, polka certificate, round certificates), the validator proof, sync
//!   status, request and response, proposed values and polka certificates;
//! - the bytes each signature is made over (`src/signing.rs`: votes, proposals, the
//!   proposal stream, the validator proof's Malachite preimage), with the signatures
//!   themselves: Ed25519 is deterministic, and every signature is made by the crate's own
//!   [`LedgerSigner`] or over the crate's own sign-bytes functions;
//! - the write-ahead log's entries (Malachite's `encode_entry` framing, tag and
//!   big-endian length, around this codec's payload), which a node reads back after a
//!   crash.
//!
//! It then decodes each stored encoding, checks that it gives back the constructed value
//! and re-encodes to the same bytes, recomputes the sign bytes from the decoded value and
//! verifies the stored signature over them.
//!
//! These bytes are what validators sign, exchange and log: a node built from a changed
//! encoding cannot talk to the others, and cannot replay its own WAL. A mismatch
//! therefore fails the test. Changing a frozen encoding is a deliberate format change:
//! regenerate the file with
//!
//! ```text
//! MEDLEDGER_REGENERATE_VECTORS=1 cargo test -p medledger-consensus --test vectors
//! ```
//!
//! and explain the change (and the version bump it needs) in the commit message.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::future::Future;
use std::path::PathBuf;

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::{Input, LivenessMsg};
use malachitebft_app_channel::app::engine::wal::{decode_entry, encode_entry};
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal, PolkaCertificate, PolkaSignature, Round,
    RoundCertificate, RoundCertificateType, RoundSignature, SignedExtension, SignedMessage, Timeout, TimeoutKind,
    ValidatorProof, Validity, ValueOrigin, VoteExtensionScope, VoteType,
};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_signing::{Signer, Verifier};
use malachitebft_sync::{ValueRequest, ValueResponse};
use medledger_consensus::codec::{LedgerCodec, Wire, decode, encode};
use medledger_consensus::compact::{CompactBlock, Entry};
use medledger_consensus::signing::{LedgerSigner, proposal_parts_sign_bytes, proposal_sign_bytes, vote_sign_bytes};
use medledger_consensus::types::NoExtension;
use medledger_consensus::{
    Address, BlockHash, BlockValue, ConsensusHeight, LedgerContext, Proposal, ProposalPart, Vote,
};
use medledger_crypto::Keypair;
use medledger_types::{ChainId, Hash32, PublicKey, Signature, commit_sign_bytes};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

type Ctx = LedgerContext;

const REGENERATE_VAR: &str = "MEDLEDGER_REGENERATE_VECTORS";

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/consensus_v1.json")
}

fn regenerating() -> bool {
    std::env::var(REGENERATE_VAR).is_ok_and(|v| v == "1")
}

fn chain_id() -> ChainId {
    ChainId::new("medledger-vectors-1").expect("valid chain id")
}

fn key(seed: u8) -> Keypair {
    Keypair::from_seed([seed; 32])
}

fn address(seed: u8) -> Address {
    Address(key(seed).public())
}

/// The signer (and verifier) of validator `seed`, as a node runs it.
fn signer(seed: u8) -> LedgerSigner {
    LedgerSigner::new(chain_id(), key(seed))
}

/// Runs one of the signer's futures (they never wait on anything).
fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
        .block_on(f)
}

/// The libp2p peer id of validator `seed` (its network identity is its validator key).
fn peer(seed: u8) -> PeerId {
    let libp2p = medledger_consensus::run::peer_id_of(&key(seed).public()).expect("an Ed25519 key");
    PeerId::from_bytes(&libp2p.to_bytes()).expect("a peer id")
}

/// The height, round and block of the votes and the proposal.
const HEIGHT: ConsensusHeight = ConsensusHeight(7);
const ROUND: Round = Round::Some(2);

fn block_hash() -> Hash32 {
    Hash32::digest(&[b"medledger vectors: block 7"])
}

/// A compact proposal of two transactions: the first named by its hash, the second in full.
fn compact_block() -> CompactBlock {
    let k = key(5);
    let txs: Vec<medledger_types::SignedTx> = (0..2)
        .map(|n| {
            k.sign_tx(medledger_types::Tx {
                chain_id: chain_id(),
                signer: k.public(),
                nonce: medledger_types::Nonce(n),
                kind: medledger_types::TxKind(0x0101),
                body: vec![0x42; 8],
            })
        })
        .collect();
    CompactBlock {
        header: medledger_types::BlockHeader {
            chain_id: chain_id(),
            height: medledger_types::Height(HEIGHT.0),
            parent_hash: Hash32::digest(&[b"medledger vectors: block 6"]),
            proposer: k.public(),
            timestamp: medledger_types::TimestampMs(1_700_000_000_000),
            tx_count: 2,
            tx_root: Hash32([0x33; 32]),
            state_root: Hash32([0x44; 32]),
            log_size: medledger_types::TreeSize(12),
            log_root: Hash32([0x55; 32]),
        },
        entries: vec![Entry::Named(txs[0].hash()), Entry::Full(txs[1].clone())],
    }
}

/// Stands for a block in proposal parts and sync responses: the codec carries the bytes
/// without reading them.
const BLOCK_BYTES: &[u8] = b"medledger vectors: the bytes of block 7";

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks a stored vector against the value it was built from.
type Check = Box<dyn Fn(&Value)>;

/// One pinned value: its encoding and whatever else is pinned with it (sign bytes,
/// signature), and the check of a stored vector against it.
struct Vector {
    name: &'static str,
    type_name: &'static str,
    encoding: Vec<u8>,
    extra: Vec<(&'static str, Value)>,
    check: Check,
}

impl Vector {
    fn with(mut self, field: &'static str, value: Value) -> Vector {
        self.extra.push((field, value));
        self
    }

    /// Pins the bytes signed and the signature.
    fn signed(self, sign_bytes: &[u8], signature: &Signature) -> Vector {
        self.with("sign_bytes", json!(to_hex(sign_bytes)))
            .with("signature", json!(signature.to_hex()))
    }
}

/// A value of the wire codec; `also` checks the decoded value against the stored vector
/// (sign bytes, signatures).
fn wire<T>(name: &'static str, type_name: &'static str, value: T, also: impl Fn(&T, &Value) + 'static) -> Vector
where
    T: Wire + PartialEq + Debug + 'static,
{
    Vector {
        name,
        type_name,
        encoding: encode(&value),
        extra: Vec::new(),
        check: Box::new(move |v| {
            let bytes = hex_field(v, "encoding");
            let decoded: T =
                decode(&bytes).unwrap_or_else(|e| panic!("vector {name}: stored encoding does not decode: {e}"));
            assert_eq!(decoded, value, "vector {name}: decodes to a different value");
            assert_eq!(
                encode(&decoded),
                bytes,
                "vector {name}: does not re-encode to the same bytes"
            );
            also(&decoded, v);
        }),
    }
}

fn nothing_more<T>(_: &T, _: &Value) {}

/// A write-ahead log entry, as Malachite frames it around this codec's payload.
fn wal(name: &'static str, entry: Input<Ctx>) -> Vector {
    let mut encoding = Vec::new();
    encode_entry(entry.clone(), &LedgerCodec, &mut encoding).expect("a persisted kind of input");
    Vector {
        name,
        type_name: "WalEntry",
        encoding,
        extra: Vec::new(),
        check: Box::new(move |v| {
            let bytes = hex_field(v, "encoding");
            let mut rest = bytes.as_slice();
            let decoded = decode_entry::<Ctx, _, _>(&LedgerCodec, &mut rest)
                .unwrap_or_else(|e| panic!("vector {name}: stored entry does not decode: {e}"));
            assert!(
                rest.is_empty(),
                "vector {name}: {} bytes left after the entry",
                rest.len()
            );
            assert_eq!(decoded, entry, "vector {name}: decodes to a different entry");
            let mut again = Vec::new();
            encode_entry(decoded, &LedgerCodec, &mut again).expect("re-encodes");
            assert_eq!(again, bytes, "vector {name}: does not re-encode to the same bytes");
        }),
    }
}

/// Checks the stored sign bytes and signature of a vote against the decoded vote, and
/// that the verifier a node runs accepts them.
fn check_vote_signature(name: &str, vote: &SignedMessage<Ctx, Vote>, v: &Value) {
    let sign_bytes = hex_field(v, "sign_bytes");
    assert_eq!(
        vote_sign_bytes(&chain_id(), &vote.message),
        sign_bytes,
        "vector {name}: sign bytes"
    );
    assert_eq!(
        hex_field(v, "signature"),
        vote.signature.as_bytes(),
        "vector {name}: signature"
    );
    medledger_crypto::verify(&vote.message.validator.0, &sign_bytes, &vote.signature)
        .unwrap_or_else(|e| panic!("vector {name}: stored signature does not verify: {e}"));
    let verified = block_on(signer(9).verify_signed_vote(&vote.message, &vote.signature, &vote.message.validator.0))
        .expect("verifies");
    assert!(
        verified.is_valid(),
        "vector {name}: the node's verifier refuses the vote"
    );
    if let Some(extension) = &vote.message.extension {
        let NilOrVal::Val(value_id) = vote.message.value else {
            panic!("vector {name}: an extension on a nil vote")
        };
        let scope = VoteExtensionScope::new(
            vote.message.height,
            vote.message.round,
            value_id,
            vote.message.validator,
        );
        assert_eq!(
            hex_field(v, "extension_signature"),
            extension.signature.as_bytes(),
            "vector {name}: extension signature"
        );
        let verified = block_on(signer(9).verify_signed_vote_extension(
            &scope,
            &extension.message,
            &extension.signature,
            &vote.message.validator.0,
        ))
        .expect("verifies");
        assert!(
            verified.is_valid(),
            "vector {name}: the node's verifier refuses the extension"
        );
    }
}

fn check_proposal_signature(name: &str, proposal: &SignedMessage<Ctx, Proposal>, v: &Value) {
    let sign_bytes = hex_field(v, "sign_bytes");
    assert_eq!(
        proposal_sign_bytes(&chain_id(), &proposal.message),
        sign_bytes,
        "vector {name}: sign bytes"
    );
    assert_eq!(
        hex_field(v, "signature"),
        proposal.signature.as_bytes(),
        "vector {name}: signature"
    );
    let verified = block_on(signer(9).verify_signed_proposal(
        &proposal.message,
        &proposal.signature,
        &proposal.message.proposer.0,
    ))
    .expect("verifies");
    assert!(
        verified.is_valid(),
        "vector {name}: the node's verifier refuses the proposal"
    );
}

fn check_signature(name: &str, key: &PublicKey, v: &Value) {
    let signature = Signature::from_slice(&hex_field(v, "signature")).expect("64 bytes");
    medledger_crypto::verify(key, &hex_field(v, "sign_bytes"), &signature)
        .unwrap_or_else(|e| panic!("vector {name}: stored signature does not verify over the stored sign bytes: {e}"));
}

fn vote(vote_type: VoteType, value: NilOrVal<BlockHash>) -> Vote {
    Vote {
        vote_type,
        height: HEIGHT,
        round: ROUND,
        value,
        validator: address(1),
        extension: None,
    }
}

fn sign_vote(seed: u8, vote: Vote) -> SignedMessage<Ctx, Vote> {
    block_on(signer(seed).sign_vote(vote)).expect("signs")
}

fn sign_proposal(seed: u8, proposal: Proposal) -> SignedMessage<Ctx, Proposal> {
    block_on(signer(seed).sign_proposal(proposal)).expect("signs")
}

/// A signed consensus message holding a vote, with its sign bytes and signature pinned.
fn vote_msg(name: &'static str, vote: SignedMessage<Ctx, Vote>) -> Vector {
    let sign_bytes = vote_sign_bytes(&chain_id(), &vote.message);
    let signature = vote.signature;
    wire(
        name,
        "SignedConsensusMsg",
        SignedConsensusMsg::<Ctx>::Vote(vote),
        move |m, v| match m {
            SignedConsensusMsg::Vote(vote) => check_vote_signature(name, vote, v),
            SignedConsensusMsg::Proposal(_) => panic!("vector {name}: not a vote"),
        },
    )
    .signed(&sign_bytes, &signature)
}

fn proposal_msg(name: &'static str, proposal: SignedMessage<Ctx, Proposal>) -> Vector {
    let sign_bytes = proposal_sign_bytes(&chain_id(), &proposal.message);
    let signature = proposal.signature;
    wire(
        name,
        "SignedConsensusMsg",
        SignedConsensusMsg::<Ctx>::Proposal(proposal),
        move |m, v| match m {
            SignedConsensusMsg::Proposal(p) => check_proposal_signature(name, p, v),
            SignedConsensusMsg::Vote(_) => panic!("vector {name}: not a proposal"),
        },
    )
    .signed(&sign_bytes, &signature)
}

/// The stream id a proposer uses (`app.rs`): height and round, big-endian.
fn stream_id(height: ConsensusHeight, round: Round) -> StreamId {
    let mut id = height.0.to_be_bytes().to_vec();
    id.extend_from_slice(&round.as_u32().unwrap_or(u32::MAX).to_be_bytes());
    StreamId::new(Bytes::from(id))
}

/// Every value the vectors pin, built deterministically, in file order.
fn fixture() -> Vec<Vector> {
    let chain = chain_id();
    let block = block_hash();
    let value = NilOrVal::Val(BlockHash(block));
    let mut out = Vec::new();

    // Votes, each type for a value and for nil. A precommit for a block signs exactly
    // `commit_sign_bytes`; the others sign the vote domain.
    let prevote = sign_vote(1, vote(VoteType::Prevote, value));
    let precommit = sign_vote(1, vote(VoteType::Precommit, value));
    out.push(vote_msg("consensus.vote.prevote_value", prevote.clone()));
    out.push(vote_msg(
        "consensus.vote.prevote_nil",
        sign_vote(1, vote(VoteType::Prevote, NilOrVal::Nil)),
    ));
    out.push(vote_msg("consensus.vote.precommit_value", precommit.clone()));
    out.push(vote_msg(
        "consensus.vote.precommit_nil",
        sign_vote(1, vote(VoteType::Precommit, NilOrVal::Nil)),
    ));
    // Vote extensions are not used; the codec still carries one (its signature only).
    let scope = VoteExtensionScope::new(HEIGHT, ROUND, BlockHash(block), address(1));
    let extension: SignedExtension<Ctx> = block_on(signer(1).sign_vote_extension(scope, NoExtension)).expect("signs");
    let extended = SignedMessage::new(
        Vote {
            extension: Some(extension.clone()),
            ..precommit.message.clone()
        },
        precommit.signature,
    );
    out.push(
        vote_msg("consensus.vote.precommit_extended", extended)
            .with("extension_signature", json!(extension.signature.to_hex())),
    );

    // Proposals: a first round without a proof-of-lock round, a later one with one.
    let proposal = Proposal {
        height: HEIGHT,
        round: Round::new(0),
        value: BlockValue(block),
        pol_round: Round::Nil,
        proposer: address(2),
    };
    out.push(proposal_msg(
        "consensus.proposal.round_0",
        sign_proposal(2, proposal.clone()),
    ));
    out.push(proposal_msg(
        "consensus.proposal.pol_round",
        sign_proposal(
            2,
            Proposal {
                round: ROUND,
                pol_round: Round::new(1),
                ..proposal.clone()
            },
        ),
    ));

    // Liveness messages.
    out.push(
        wire(
            "liveness.vote",
            "LivenessMsg",
            LivenessMsg::<Ctx>::Vote(precommit.clone()),
            |m, v| match m {
                LivenessMsg::Vote(vote) => check_vote_signature("liveness.vote", vote, v),
                _ => panic!("vector liveness.vote: not a vote"),
            },
        )
        .signed(&vote_sign_bytes(&chain, &precommit.message), &precommit.signature),
    );
    let polka = PolkaCertificate::<Ctx> {
        height: HEIGHT,
        round: ROUND,
        value_id: BlockHash(block),
        polka_signatures: [1, 2, 3]
            .into_iter()
            .map(|seed| {
                let signed = sign_vote(
                    seed,
                    Vote {
                        validator: address(seed),
                        ..vote(VoteType::Prevote, value)
                    },
                );
                PolkaSignature::new(address(seed), signed.signature)
            })
            .collect(),
    };
    let polka_sign_bytes = vote_sign_bytes(&chain, &vote(VoteType::Prevote, value));
    let check_polka = move |name: &'static str| {
        move |c: &PolkaCertificate<Ctx>, v: &Value| {
            let sign_bytes = hex_field(v, "sign_bytes");
            let expected = Vote {
                height: c.height,
                round: c.round,
                value: NilOrVal::Val(c.value_id),
                ..vote(VoteType::Prevote, NilOrVal::Nil)
            };
            assert_eq!(
                vote_sign_bytes(&chain_id(), &expected),
                sign_bytes,
                "vector {name}: sign bytes"
            );
            for s in &c.polka_signatures {
                medledger_crypto::verify(&s.address.0, &sign_bytes, &s.signature)
                    .unwrap_or_else(|e| panic!("vector {name}: a polka signature does not verify: {e}"));
            }
        }
    };
    out.push(
        wire(
            "liveness.polka_certificate",
            "LivenessMsg",
            LivenessMsg::<Ctx>::PolkaCertificate(polka.clone()),
            move |m, v| match m {
                LivenessMsg::PolkaCertificate(c) => check_polka("liveness.polka_certificate")(c, v),
                _ => panic!("vector liveness.polka_certificate: not a polka certificate"),
            },
        )
        .with("sign_bytes", json!(to_hex(&polka_sign_bytes))),
    );
    // Round certificates: each signature is a vote (its type and nil-or-value in the
    // certificate) at the certificate's height and round.
    let round_signature = |seed: u8, vote_type: VoteType, value: NilOrVal<BlockHash>| {
        let signed = sign_vote(
            seed,
            Vote {
                validator: address(seed),
                ..vote(vote_type, value)
            },
        );
        RoundSignature::new(vote_type, value, address(seed), signed.signature)
    };
    let check_round = |name: &'static str| {
        move |m: &LivenessMsg<Ctx>, _: &Value| {
            let LivenessMsg::SkipRoundCertificate(c) = m else {
                panic!("vector {name}: not a round certificate")
            };
            for s in &c.round_signatures {
                let signed = Vote {
                    vote_type: s.vote_type,
                    height: c.height,
                    round: c.round,
                    value: s.value_id,
                    validator: s.address,
                    extension: None,
                };
                medledger_crypto::verify(&s.address.0, &vote_sign_bytes(&chain_id(), &signed), &s.signature)
                    .unwrap_or_else(|e| panic!("vector {name}: a round signature does not verify: {e}"));
            }
        }
    };
    out.push(wire(
        "liveness.round_certificate.skip",
        "LivenessMsg",
        LivenessMsg::<Ctx>::SkipRoundCertificate(RoundCertificate {
            height: HEIGHT,
            round: ROUND,
            cert_type: RoundCertificateType::Skip,
            round_signatures: vec![
                round_signature(1, VoteType::Prevote, NilOrVal::Nil),
                round_signature(2, VoteType::Prevote, value),
                round_signature(3, VoteType::Precommit, NilOrVal::Nil),
            ],
        }),
        check_round("liveness.round_certificate.skip"),
    ));
    out.push(wire(
        "liveness.round_certificate.precommit",
        "LivenessMsg",
        LivenessMsg::<Ctx>::SkipRoundCertificate(RoundCertificate {
            height: HEIGHT,
            round: ROUND,
            cert_type: RoundCertificateType::Precommit,
            round_signatures: vec![
                round_signature(1, VoteType::Precommit, value),
                round_signature(2, VoteType::Precommit, NilOrVal::Nil),
            ],
        }),
        check_round("liveness.round_certificate.precommit"),
    ));

    // A streamed proposal, as `app.rs` publishes it: Init, the block's bytes (one Data
    // part here), Fin with the proposer's signature over the block bytes' SHA-256, then
    // the stream's end.
    let digest = Hash32(Sha256::digest(BLOCK_BYTES).into());
    let parts_sign_bytes = proposal_parts_sign_bytes(&chain, HEIGHT.0, ROUND, &digest);
    let parts_signature = key(2).sign(&parts_sign_bytes);
    let init = ProposalPart::Init {
        height: HEIGHT,
        round: ROUND,
        proposer: address(2),
        pol_round: Round::new(1),
    };
    let data = ProposalPart::Data(BLOCK_BYTES.to_vec());
    let fin = ProposalPart::Fin(parts_signature);
    let check_fin = |name: &'static str| {
        move |v: &Value, sig: &Signature| {
            let digest = Hash32(Sha256::digest(BLOCK_BYTES).into());
            let sign_bytes = hex_field(v, "sign_bytes");
            assert_eq!(
                proposal_parts_sign_bytes(&chain_id(), HEIGHT.0, ROUND, &digest),
                sign_bytes,
                "vector {name}: sign bytes"
            );
            medledger_crypto::verify(&address(2).0, &sign_bytes, sig)
                .unwrap_or_else(|e| panic!("vector {name}: the stream signature does not verify: {e}"));
        }
    };
    out.push(wire("proposal_part.init", "ProposalPart", init.clone(), nothing_more));
    out.push(wire("proposal_part.data", "ProposalPart", data.clone(), nothing_more));
    out.push(
        wire("proposal_part.fin", "ProposalPart", fin.clone(), move |p, v| match p {
            ProposalPart::Fin(sig) => check_fin("proposal_part.fin")(v, sig),
            _ => panic!("vector proposal_part.fin: not a Fin part"),
        })
        .signed(&parts_sign_bytes, &parts_signature)
        .with("block_bytes_sha256", json!(digest.to_hex())),
    );
    // Transaction gossip between validators (ADR 013): a batch of the sender's session,
    // and a receiver's acknowledgement of it.
    out.push(wire(
        "proposal_part.txs",
        "ProposalPart",
        ProposalPart::Txs {
            session: 0x0102_0304_0506_0708,
            seq: 42,
            batch: medledger_types::tx::encode_batch(&[]),
        },
        nothing_more,
    ));
    out.push(wire(
        "proposal_part.txs_ack",
        "ProposalPart",
        ProposalPart::TxsAck {
            to: address(2),
            session: 0x0102_0304_0506_0708,
            seqs: vec![41, 42],
        },
        nothing_more,
    ));
    out.push(wire(
        "proposal_part.txs_want",
        "ProposalPart",
        ProposalPart::TxsWant {
            to: address(2),
            height: HEIGHT,
            round: ROUND,
            hashes: vec![Hash32([0x11; 32]), Hash32([0x22; 32])],
        },
        nothing_more,
    ));
    out.push(wire(
        "proposal_part.txs_fill",
        "ProposalPart",
        ProposalPart::TxsFill {
            to: address(2),
            height: HEIGHT,
            round: ROUND,
            batch: medledger_types::tx::encode_batch(&[]),
        },
        nothing_more,
    ));
    out.push(wire("compact_proposal", "CompactBlock", compact_block(), nothing_more));
    let id = stream_id(HEIGHT, ROUND);
    out.push(wire(
        "stream.init",
        "StreamMessage",
        StreamMessage::new(id.clone(), 0, StreamContent::Data(init)),
        nothing_more,
    ));
    out.push(wire(
        "stream.data",
        "StreamMessage",
        StreamMessage::new(id.clone(), 1, StreamContent::Data(data)),
        nothing_more,
    ));
    out.push(
        wire(
            "stream.fin_part",
            "StreamMessage",
            StreamMessage::new(id.clone(), 2, StreamContent::Data(fin)),
            move |m, v| match &m.content {
                StreamContent::Data(ProposalPart::Fin(sig)) => check_fin("stream.fin_part")(v, sig),
                _ => panic!("vector stream.fin_part: not a Fin part"),
            },
        )
        .signed(&parts_sign_bytes, &parts_signature),
    );
    out.push(wire(
        "stream.end",
        "StreamMessage",
        StreamMessage::<ProposalPart>::new(id, 3, StreamContent::Fin),
        nothing_more,
    ));

    // The validator proof: Malachite's preimage ("PoV", big-endian lengths), signed by
    // the validator key that is also the peer's network key.
    let proof: ValidatorProof<Ctx> =
        block_on(signer(1).sign_validator_proof(key(1).public().as_bytes().to_vec(), peer(1).to_bytes()))
            .expect("signs");
    let proof_sign_bytes = ValidatorProof::<Ctx>::signing_bytes(&proof.public_key, &proof.peer_id);
    let proof_signature = proof.signature;
    out.push(
        wire("validator_proof", "ValidatorProof", proof, |p, v| {
            assert_eq!(
                p.preimage(),
                hex_field(v, "sign_bytes"),
                "vector validator_proof: sign bytes"
            );
            let verified = block_on(signer(9).verify_validator_proof(p)).expect("verifies");
            assert!(
                verified.is_valid(),
                "vector validator_proof: the node's verifier refuses it"
            );
        })
        .signed(&proof_sign_bytes, &proof_signature),
    );

    // Sync.
    out.push(wire(
        "sync.status",
        "Status",
        Status::<Ctx> {
            peer_id: peer(1),
            tip_height: ConsensusHeight(100),
            history_min_height: ConsensusHeight(1),
        },
        nothing_more,
    ));
    out.push(wire(
        "sync.request",
        "Request",
        Request::<Ctx>::ValueRequest(ValueRequest::new(ConsensusHeight(3)..=ConsensusHeight(8))),
        nothing_more,
    ));
    let commit_bytes = commit_sign_bytes(&chain, HEIGHT.into(), 2, &block);
    let commit_signatures = [1u8, 2]
        .into_iter()
        .map(|seed| ExtendedCommitSignature::new(address(seed), key(seed).sign(&commit_bytes), None))
        .chain([ExtendedCommitSignature::new(
            address(3),
            key(3).sign(&commit_bytes),
            Some(
                block_on(signer(3).sign_vote_extension(
                    VoteExtensionScope::new(HEIGHT, ROUND, BlockHash(block), address(3)),
                    NoExtension,
                ))
                .expect("signs"),
            ),
        )])
        .collect();
    out.push(
        wire(
            "sync.response",
            "Response",
            Response::<Ctx>::ValueResponse(ValueResponse::new(
                HEIGHT,
                vec![RawDecidedValue::new(
                    Bytes::from_static(BLOCK_BYTES),
                    ExtendedCommitCertificate {
                        height: HEIGHT,
                        round: ROUND,
                        value_id: BlockHash(block),
                        commit_signatures,
                    },
                )],
            )),
            |r, v| {
                let Response::ValueResponse(resp) = r;
                let sign_bytes = hex_field(v, "sign_bytes");
                for value in &resp.values {
                    let c = &value.certificate;
                    let round = c.round.as_u32().expect("a decided round");
                    assert_eq!(
                        commit_sign_bytes(&chain_id(), c.height.into(), round, &c.value_id.0),
                        sign_bytes,
                        "vector sync.response: sign bytes"
                    );
                    for s in &c.commit_signatures {
                        medledger_crypto::verify(&s.address.0, &sign_bytes, &s.signature).unwrap_or_else(|e| {
                            panic!("vector sync.response: a commit signature does not verify: {e}")
                        });
                    }
                }
            },
        )
        .with("sign_bytes", json!(to_hex(&commit_bytes))),
    );

    // What the WAL and Malachite's state keep about a value and a polka.
    let proposed = ProposedValue::<Ctx> {
        height: HEIGHT,
        round: ROUND,
        valid_round: Round::new(1),
        proposer: address(2),
        value: BlockValue(block),
        validity: Validity::Valid,
    };
    out.push(wire(
        "proposed_value.valid",
        "ProposedValue",
        proposed.clone(),
        nothing_more,
    ));
    out.push(wire(
        "proposed_value.invalid",
        "ProposedValue",
        ProposedValue {
            valid_round: Round::Nil,
            validity: Validity::Invalid,
            ..proposed.clone()
        },
        nothing_more,
    ));
    out.push(
        wire(
            "polka_certificate",
            "PolkaCertificate",
            polka.clone(),
            check_polka("polka_certificate"),
        )
        .with("sign_bytes", json!(to_hex(&polka_sign_bytes))),
    );

    // Write-ahead log entries: every kind of input Malachite persists.
    out.push(wal("wal.vote", Input::Vote(prevote)));
    out.push(wal("wal.proposal", Input::Proposal(sign_proposal(2, proposal))));
    out.push(wal(
        "wal.proposed_value",
        Input::ProposedValue(proposed, ValueOrigin::Consensus),
    ));
    out.push(wal("wal.polka_certificate", Input::PolkaCertificate(polka)));
    out.push(wal(
        "wal.timeout.propose",
        Input::TimeoutElapsed(Timeout::new(ROUND, TimeoutKind::Propose)),
    ));
    out.push(wal(
        "wal.timeout.precommit",
        Input::TimeoutElapsed(Timeout::new(Round::new(0), TimeoutKind::Precommit)),
    ));
    out
}

/// The vectors file as the current code produces it.
fn generate(vectors: &[Vector]) -> Value {
    let vectors: Vec<Value> = vectors
        .iter()
        .map(|v| {
            let mut out = json!({
                "name": v.name,
                "type": v.type_name,
                "encoding": to_hex(&v.encoding),
            });
            for (field, value) in &v.extra {
                out[*field] = value.clone();
            }
            out
        })
        .collect();
    json!({
        "description": "medledger frozen consensus encodings, version 1. Generated by \
            crates/consensus/tests/vectors.rs; hex is lowercase. Chain id \"medledger-vectors-1\"; validators are \
            Ed25519 keys from 32-byte seeds [n; 32] (n = 1, 2, 3; key 2 proposes); height 7, round 2; the block hash \
            is SHA-256(\"medledger vectors: block 7\") and the block's bytes are the ASCII text \
            \"medledger vectors: the bytes of block 7\" (the codec carries them unread). encoding = codec::encode: \
            format version 0x01, then the value (little-endian integers, u32 length prefixes, Round::Nil = 0x00, \
            Round r = 0x01 || u32 r). sign_bytes are what the signature is made over (signing.rs: a precommit for \
            a block signs commit_sign_bytes, other votes the vote domain, proposals the proposal domain, the Fin \
            part the proposal-parts domain over SHA-256 of the block bytes; the validator proof Malachite's \
            \"PoV\" preimage). wal.* are Malachite 0.8.2 WAL entries: tag (0x01 vote or proposal, 0x02 timeout, \
            0x04 proposed value, 0x08 polka certificate), then u64 big-endian length and the encoding, or for a \
            timeout the step and the round as i64 big-endian. Changing any value here is a deliberate format \
            change: regenerate with MEDLEDGER_REGENERATE_VECTORS=1 and explain it in the commit.",
        "vectors": vectors,
    })
}

fn read_file() -> Value {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; generate it with {REGENERATE_VAR}=1 cargo test -p medledger-consensus --test vectors",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The stored vectors, or the freshly generated ones while regenerating (so that tests
/// running in parallel with the writer never read a half-written file).
fn stored_or_generated(vectors: &[Vector]) -> Value {
    if regenerating() { generate(vectors) } else { read_file() }
}

fn vector<'a>(file: &'a Value, name: &str) -> &'a Value {
    file["vectors"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("vector {name:?} is missing from the file"))
}

fn hex_field(v: &Value, field: &str) -> Vec<u8> {
    let s = v[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector {}: field {field:?} is not a string", v["name"]));
    from_hex(s).unwrap_or_else(|| panic!("vector {}: field {field:?} is not lowercase hex", v["name"]))
}

#[test]
fn encodings_match_the_frozen_vectors() {
    let generated = generate(&fixture());
    let path = vectors_path();
    if regenerating() {
        let mut text = serde_json::to_string_pretty(&generated).expect("vectors serialise");
        text.push('\n');
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        // Written to the real stderr, not through `eprintln!`, so that the test harness
        // does not swallow it: regenerating must never go unnoticed.
        let note = format!(
            "\n{REGENERATE_VAR}=1: wrote {}. This is a format change: explain it in the commit message.\n",
            path.display()
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
        return;
    }

    let stored = read_file();
    let mut mismatches = Vec::new();
    if stored["description"] != generated["description"] {
        mismatches.push("description".to_owned());
    }
    let gen_vectors = generated["vectors"].as_array().expect("array");
    let stored_vectors = stored["vectors"].as_array().cloned().unwrap_or_default();
    let names = |vs: &[Value]| vs.iter().map(|v| v["name"].to_string()).collect::<Vec<_>>();
    if names(gen_vectors) != names(&stored_vectors) {
        mismatches.push(format!(
            "vector names: file has {:?}, code produces {:?}",
            names(&stored_vectors),
            names(gen_vectors)
        ));
    }
    for g in gen_vectors {
        let name = g["name"].as_str().unwrap_or_default();
        let Some(s) = stored_vectors.iter().find(|s| s["name"] == name) else {
            continue;
        };
        let fields = g
            .as_object()
            .expect("object")
            .keys()
            .chain(s.as_object().into_iter().flat_map(|o| o.keys()));
        let mut seen = BTreeSet::new();
        for field in fields {
            if seen.insert(field) && g[field] != s[field] {
                mismatches.push(format!(
                    "{name}.{field}:\n    file: {}\n    code: {}",
                    s[field], g[field]
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "the frozen encodings in {} differ from what the code produces:\n  {}\n\n\
         Changing a frozen encoding is a deliberate format change: validators built from \
         different encodings cannot talk to each other or replay their WAL. If that is \
         really intended, regenerate the file with \
         `{REGENERATE_VAR}=1 cargo test -p medledger-consensus --test vectors` and explain \
         the change in the commit message.",
        path.display(),
        mismatches.join("\n  ")
    );
}

#[test]
fn stored_encodings_decode_to_the_constructed_values() {
    let vectors = fixture();
    let file = stored_or_generated(&vectors);
    for v in &vectors {
        let stored = vector(&file, v.name);
        assert_eq!(stored["type"], v.type_name, "vector {}: type", v.name);
        (v.check)(stored);
    }
    // Every signature stored with its sign bytes verifies under the key that made it.
    check_signature(
        "proposal_part.fin",
        &key(2).public(),
        vector(&file, "proposal_part.fin"),
    );
    check_signature("validator_proof", &key(1).public(), vector(&file, "validator_proof"));
    check_signature(
        "consensus.vote.precommit_value",
        &key(1).public(),
        vector(&file, "consensus.vote.precommit_value"),
    );
}

#[test]
fn a_precommit_for_a_block_signs_the_commit_bytes() {
    // The pinned precommit's sign bytes are exactly a block commit's: the 2f+1 precommits
    // become the block's stored `Commit` unchanged.
    let vectors = fixture();
    let file = stored_or_generated(&vectors);
    let v = vector(&file, "consensus.vote.precommit_value");
    assert_eq!(
        hex_field(v, "sign_bytes"),
        commit_sign_bytes(&chain_id(), HEIGHT.into(), 2, &block_hash())
    );
    for name in ["consensus.vote.prevote_value", "consensus.vote.precommit_nil"] {
        let v = vector(&file, name);
        assert!(
            hex_field(v, "sign_bytes").starts_with(medledger_consensus::signing::VOTE_SIGN_DOMAIN),
            "vector {name}: signs the vote domain"
        );
    }
}

/// The kinds of message each enum of the codec has, named as the vectors name them. The
/// matches have no catch-all, so a new variant does not compile here until it has a
/// name, and then `every_message_kind_has_a_vector` fails until the fixture pins it.
fn kinds_of(v: &Vector) -> Option<&'static str> {
    let bytes = v.encoding.as_slice();
    Some(match v.type_name {
        "SignedConsensusMsg" => match decode::<SignedConsensusMsg<Ctx>>(bytes).ok()? {
            SignedConsensusMsg::Vote(vote) => match (vote.message.vote_type, vote.message.value) {
                (VoteType::Prevote, NilOrVal::Val(_)) => "prevote for a value",
                (VoteType::Prevote, NilOrVal::Nil) => "prevote for nil",
                (VoteType::Precommit, NilOrVal::Val(_)) => "precommit for a value",
                (VoteType::Precommit, NilOrVal::Nil) => "precommit for nil",
            },
            SignedConsensusMsg::Proposal(_) => "proposal",
        },
        "LivenessMsg" => match decode::<LivenessMsg<Ctx>>(bytes).ok()? {
            LivenessMsg::Vote(_) => "liveness vote",
            LivenessMsg::PolkaCertificate(_) => "liveness polka certificate",
            LivenessMsg::SkipRoundCertificate(c) => match c.cert_type {
                RoundCertificateType::Skip => "liveness skip round certificate",
                RoundCertificateType::Precommit => "liveness precommit round certificate",
            },
        },
        "ProposalPart" => match decode::<ProposalPart>(bytes).ok()? {
            ProposalPart::Init { .. } => "part init",
            ProposalPart::Data(_) => "part data",
            ProposalPart::Fin(_) => "part fin",
            ProposalPart::Txs { .. } => "part gossiped transactions",
            ProposalPart::TxsAck { .. } => "part gossip acknowledgement",
            ProposalPart::TxsWant { .. } => "part transactions wanted",
            ProposalPart::TxsFill { .. } => "part transactions filled",
        },
        "StreamMessage" => match decode::<StreamMessage<ProposalPart>>(bytes).ok()?.content {
            StreamContent::Data(_) => "stream data",
            StreamContent::Fin => "stream end",
        },
        "CompactBlock" => {
            decode::<CompactBlock>(bytes).ok()?;
            "compact proposal"
        }
        "ValidatorProof" => "validator proof",
        "Status" => "sync status",
        "Request" => match decode::<Request<Ctx>>(bytes).ok()? {
            Request::ValueRequest(_) => "sync value request",
        },
        "Response" => match decode::<Response<Ctx>>(bytes).ok()? {
            Response::ValueResponse(_) => "sync value response",
        },
        "ProposedValue" => match decode::<ProposedValue<Ctx>>(bytes).ok()?.validity {
            Validity::Valid => "proposed value, valid",
            Validity::Invalid => "proposed value, invalid",
        },
        "PolkaCertificate" => "polka certificate",
        "WalEntry" => match decode_entry::<Ctx, _, _>(&LedgerCodec, bytes).ok()? {
            Input::Vote(_) => "wal vote",
            Input::Proposal(_) => "wal proposal",
            Input::ProposedValue(..) => "wal proposed value",
            Input::PolkaCertificate(_) => "wal polka certificate",
            Input::TimeoutElapsed(_) => "wal timeout",
            // Never written to the WAL (`encode_entry` refuses them).
            Input::StartHeight(..)
            | Input::Propose(..)
            | Input::RoundCertificate(..)
            | Input::SyncValueResponse(..) => return None,
        },
        _ => return None,
    })
}

const KINDS: [&str; 31] = [
    "prevote for a value",
    "prevote for nil",
    "precommit for a value",
    "precommit for nil",
    "proposal",
    "liveness vote",
    "liveness polka certificate",
    "liveness skip round certificate",
    "liveness precommit round certificate",
    "part init",
    "part data",
    "part fin",
    "part gossiped transactions",
    "part gossip acknowledgement",
    "part transactions wanted",
    "part transactions filled",
    "compact proposal",
    "stream data",
    "stream end",
    "validator proof",
    "sync status",
    "sync value request",
    "sync value response",
    "proposed value, valid",
    "proposed value, invalid",
    "polka certificate",
    "wal vote",
    "wal proposal",
    "wal proposed value",
    "wal polka certificate",
    "wal timeout",
];

#[test]
fn every_message_kind_has_a_vector() {
    let vectors = fixture();
    let seen: BTreeSet<&str> = vectors.iter().filter_map(kinds_of).collect();
    let missing: Vec<&str> = KINDS.iter().copied().filter(|k| !seen.contains(k)).collect();
    assert!(missing.is_empty(), "message kinds without a vector: {missing:?}");
    assert_eq!(
        vectors
            .iter()
            .filter(|v| kinds_of(v).is_none())
            .map(|v| v.name)
            .collect::<Vec<_>>(),
        Vec::<&str>::new(),
        "vectors of no known kind"
    );
    let names: BTreeSet<_> = vectors.iter().map(|v| v.name).collect();
    assert_eq!(names.len(), vectors.len(), "vector names are unique");
}
