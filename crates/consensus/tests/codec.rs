//! The consensus codec: every message kind round-trips, and truncated or corrupted
//! input is refused with an error, never a panic.

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal, PolkaCertificate, PolkaSignature, Round,
    RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage, ValidatorProof, Validity, VoteType,
};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_sync::{ValueRequest, ValueResponse};
use medledger_consensus::codec::{Wire, decode, encode};
use medledger_consensus::{
    Address, BlockHash, BlockValue, ConsensusHeight, LedgerContext, Proposal, ProposalPart, Vote,
};
use medledger_crypto::Keypair;
use medledger_types::{Hash32, Signature};

fn key(n: u8) -> Keypair {
    Keypair::from_seed([n; 32])
}

fn sig(n: u8) -> Signature {
    key(n).sign(b"x")
}

fn peer(n: u8) -> PeerId {
    let libp2p = medledger_consensus::run::peer_id_of(&key(n).public()).unwrap();
    PeerId::from_bytes(&libp2p.to_bytes()).unwrap()
}

fn hash(n: u8) -> Hash32 {
    Hash32::digest(&[&[n]])
}

fn check<T: Wire + PartialEq + std::fmt::Debug>(value: T) {
    let bytes = encode(&value);
    let back: T = decode(&bytes).unwrap();
    assert_eq!(back, value);
    for cut in 0..bytes.len() {
        assert!(decode::<T>(&bytes[..cut]).is_err(), "a {cut}-byte prefix decoded");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(decode::<T>(&longer).is_err(), "trailing byte accepted");
    // Corrupting any byte must never panic (it may still decode to another value).
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0xff;
        let _ = decode::<T>(&bad);
    }
}

fn vote(t: VoteType, value: NilOrVal<BlockHash>) -> Vote {
    Vote {
        vote_type: t,
        height: ConsensusHeight(7),
        round: Round::new(2),
        value,
        validator: Address(key(1).public()),
        extension: None,
    }
}

#[test]
fn every_message_round_trips_and_refuses_bad_bytes() {
    let v = vote(VoteType::Precommit, NilOrVal::Val(BlockHash(hash(1))));
    check(SignedConsensusMsg::<LedgerContext>::Vote(SignedMessage::new(
        v.clone(),
        sig(1),
    )));
    check(SignedConsensusMsg::<LedgerContext>::Vote(SignedMessage::new(
        vote(VoteType::Prevote, NilOrVal::Nil),
        sig(2),
    )));
    check(SignedConsensusMsg::<LedgerContext>::Proposal(SignedMessage::new(
        Proposal {
            height: ConsensusHeight(7),
            round: Round::new(0),
            value: BlockValue(hash(3)),
            pol_round: Round::Nil,
            proposer: Address(key(2).public()),
        },
        sig(3),
    )));
    check(LivenessMsg::<LedgerContext>::Vote(SignedMessage::new(v, sig(4))));
    check(LivenessMsg::<LedgerContext>::PolkaCertificate(PolkaCertificate {
        height: ConsensusHeight(9),
        round: Round::new(1),
        value_id: BlockHash(hash(4)),
        polka_signatures: vec![PolkaSignature::new(Address(key(3).public()), sig(5))],
    }));
    check(LivenessMsg::<LedgerContext>::SkipRoundCertificate(RoundCertificate {
        height: ConsensusHeight(9),
        round: Round::new(3),
        cert_type: RoundCertificateType::Skip,
        round_signatures: vec![RoundSignature::new(
            VoteType::Prevote,
            NilOrVal::Nil,
            Address(key(4).public()),
            sig(6),
        )],
    }));
    for part in [
        ProposalPart::Init {
            height: ConsensusHeight(5),
            round: Round::new(0),
            proposer: Address(key(1).public()),
            pol_round: Round::Nil,
        },
        ProposalPart::Data(vec![1, 2, 3, 4]),
        ProposalPart::Fin(sig(7)),
    ] {
        check(StreamMessage::new(
            StreamId::new(Bytes::from_static(b"\0\0\0\0\0\0\0\x05\0\0\0\0")),
            3,
            StreamContent::Data(part),
        ));
    }
    check(StreamMessage::<ProposalPart>::new(
        StreamId::new(Bytes::from_static(b"id")),
        9,
        StreamContent::Fin,
    ));
    check(ValidatorProof::<LedgerContext>::new(
        key(1).public().as_bytes().to_vec(),
        peer(1).to_bytes(),
        sig(8),
    ));
    check(Status::<LedgerContext> {
        peer_id: peer(1),
        tip_height: ConsensusHeight(100),
        history_min_height: ConsensusHeight(1),
    });
    check(Request::<LedgerContext>::ValueRequest(ValueRequest::new(
        ConsensusHeight(3)..=ConsensusHeight(8),
    )));
    check(Response::<LedgerContext>::ValueResponse(ValueResponse::new(
        ConsensusHeight(3),
        vec![RawDecidedValue::new(
            Bytes::from_static(b"block bytes"),
            ExtendedCommitCertificate {
                height: ConsensusHeight(3),
                round: Round::new(0),
                value_id: BlockHash(hash(5)),
                commit_signatures: vec![
                    ExtendedCommitSignature::new(Address(key(1).public()), sig(9), None),
                    ExtendedCommitSignature::new(Address(key(2).public()), sig(10), None),
                ],
            },
        )],
    )));
    check(ProposedValue::<LedgerContext> {
        height: ConsensusHeight(4),
        round: Round::new(1),
        valid_round: Round::Nil,
        proposer: Address(key(2).public()),
        value: BlockValue(hash(6)),
        validity: Validity::Invalid,
    });
}

#[test]
fn hostile_lengths_are_refused_before_allocating() {
    // A proposal data part claiming 4 GiB of payload.
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&[2]); // stream id length…
    bytes.extend_from_slice(&[0, 0, 0]);
    bytes.extend_from_slice(b"id");
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.push(0); // data
    bytes.push(1); // proposal part: Data
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode::<StreamMessage<ProposalPart>>(&bytes).is_err());
    // A sync response claiming a million values in a few bytes.
    let mut bytes = vec![1u8, 0];
    bytes.extend_from_slice(&3u64.to_le_bytes());
    bytes.extend_from_slice(&1_000_000u32.to_le_bytes());
    assert!(decode::<Response<LedgerContext>>(&bytes).is_err());
}
