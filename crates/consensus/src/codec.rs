//! One binary codec for everything consensus puts on the wire, in the WAL and in sync
//! messages, built on `medledger_types::codec`: little-endian integers, `u32` length
//! prefixes checked against limits before anything is allocated, strict tags, no
//! trailing bytes. Every decoder here reads bytes from peers, so every one is fuzzed
//! (`fuzz/fuzz_targets/decode_consensus.rs`).

use std::ops::RangeInclusive;

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal, PolkaCertificate, PolkaSignature, Round,
    RoundCertificate, RoundCertificateType, RoundSignature, SignedExtension, SignedMessage, ValidatorProof, Validity,
    VoteType,
};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_sync::{ValueRequest, ValueResponse};
use medledger_types::codec::{Decode, DecodeError, Encode, Reader, put};
use medledger_types::{Hash32, PublicKey, Signature};

use crate::context::LedgerContext;
use crate::types::{Address, BlockHash, BlockValue, ConsensusHeight, NoExtension, Proposal, ProposalPart, Vote};

/// Largest chunk of a block in one proposal part.
pub const MAX_PART_BYTES: usize = 1 << 20;
/// Most batches one gossip acknowledgement names.
pub const MAX_ACKS: usize = 4096;
/// Most transactions one request for a compact proposal's missing transactions names
/// (a block's limit, `medledger_types::block::MAX_BLOCK_TXS`).
pub const MAX_WANTED: usize = medledger_types::block::MAX_BLOCK_TXS;
/// Largest encoded block in a sync response.
pub const MAX_VALUE_BYTES: usize = 32 << 20;
const MAX_SIGNATURES: usize = 1_000;
const MAX_STREAM_ID: usize = 64;
const MAX_PEER_ID: usize = 128;
const MAX_SYNC_VALUES: usize = 1_000;
const FORMAT_VERSION: u8 = 1;

/// Why a consensus message could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("consensus message: {0}")]
pub struct CodecError(#[from] DecodeError);

/// The codec passed to Malachite for the network, sync and the WAL.
#[derive(Clone, Copy, Debug, Default)]
pub struct LedgerCodec;

/// A value with a wire encoding. (Malachite's types are foreign, so the encodings live
/// on this local trait rather than on `Encode`/`Decode`.)
pub trait Wire: Sized {
    fn put(&self, out: &mut Vec<u8>);
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

fn invalid(what: &'static str, reason: &'static str) -> DecodeError {
    DecodeError::Invalid { what, reason }
}

impl Wire for Round {
    fn put(&self, out: &mut Vec<u8>) {
        match self.as_u32() {
            None => put::u8(out, 0),
            Some(r) => {
                put::u8(out, 1);
                put::u32(out, r);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("round")? {
            0 => Ok(Round::Nil),
            1 => Ok(Round::new(r.u32("round")?)),
            tag => Err(DecodeError::InvalidTag { what: "round", tag }),
        }
    }
}

impl Wire for ConsensusHeight {
    fn put(&self, out: &mut Vec<u8>) {
        put::u64(out, self.0);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ConsensusHeight(r.u64("height")?))
    }
}

impl Wire for Address {
    fn put(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Address(PublicKey::decode_from(r)?))
    }
}

impl Wire for BlockHash {
    fn put(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockHash(Hash32::decode_from(r)?))
    }
}

impl Wire for BlockValue {
    fn put(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockValue(Hash32::decode_from(r)?))
    }
}

impl Wire for Signature {
    fn put(&self, out: &mut Vec<u8>) {
        self.encode_to(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Signature::decode_from(r)
    }
}

impl Wire for VoteType {
    fn put(&self, out: &mut Vec<u8>) {
        put::u8(out, matches!(self, VoteType::Precommit).into());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("vote type")? {
            0 => Ok(VoteType::Prevote),
            1 => Ok(VoteType::Precommit),
            tag => Err(DecodeError::InvalidTag { what: "vote type", tag }),
        }
    }
}

impl<T: Wire> Wire for NilOrVal<T> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            NilOrVal::Nil => put::u8(out, 0),
            NilOrVal::Val(v) => {
                put::u8(out, 1);
                v.put(out);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("nil or value")? {
            0 => Ok(NilOrVal::Nil),
            1 => Ok(NilOrVal::Val(T::get(r)?)),
            tag => Err(DecodeError::InvalidTag {
                what: "nil or value",
                tag,
            }),
        }
    }
}

impl<T: Wire> Wire for Option<T> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            None => put::u8(out, 0),
            Some(v) => {
                put::u8(out, 1);
                v.put(out);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if r.bool("option")? {
            Ok(Some(T::get(r)?))
        } else {
            Ok(None)
        }
    }
}

impl Wire for SignedExtension<LedgerContext> {
    fn put(&self, out: &mut Vec<u8>) {
        self.signature.put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedMessage::new(NoExtension, Signature::get(r)?))
    }
}

impl Wire for Vote {
    fn put(&self, out: &mut Vec<u8>) {
        self.vote_type.put(out);
        self.height.put(out);
        self.round.put(out);
        self.value.put(out);
        self.validator.put(out);
        self.extension.put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Vote {
            vote_type: VoteType::get(r)?,
            height: ConsensusHeight::get(r)?,
            round: Round::get(r)?,
            value: NilOrVal::get(r)?,
            validator: Address::get(r)?,
            extension: Option::get(r)?,
        })
    }
}

impl Wire for Proposal {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        self.value.put(out);
        self.pol_round.put(out);
        self.proposer.put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Proposal {
            height: ConsensusHeight::get(r)?,
            round: Round::get(r)?,
            value: BlockValue::get(r)?,
            pol_round: Round::get(r)?,
            proposer: Address::get(r)?,
        })
    }
}

impl<M: Wire> Wire for SignedMessage<LedgerContext, M> {
    fn put(&self, out: &mut Vec<u8>) {
        self.message.put(out);
        self.signature.put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let message = M::get(r)?;
        Ok(SignedMessage::new(message, Signature::get(r)?))
    }
}

impl Wire for SignedConsensusMsg<LedgerContext> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            SignedConsensusMsg::Vote(v) => {
                put::u8(out, 0);
                v.put(out);
            }
            SignedConsensusMsg::Proposal(p) => {
                put::u8(out, 1);
                p.put(out);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("consensus message")? {
            0 => Ok(SignedConsensusMsg::Vote(Wire::get(r)?)),
            1 => Ok(SignedConsensusMsg::Proposal(Wire::get(r)?)),
            tag => Err(DecodeError::InvalidTag {
                what: "consensus message",
                tag,
            }),
        }
    }
}

impl Wire for ProposalPart {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            ProposalPart::Init {
                height,
                round,
                proposer,
                pol_round,
            } => {
                put::u8(out, 0);
                height.put(out);
                round.put(out);
                proposer.put(out);
                pol_round.put(out);
            }
            ProposalPart::Data(bytes) => {
                put::u8(out, 1);
                put::bytes(out, bytes);
            }
            ProposalPart::Fin(sig) => {
                put::u8(out, 2);
                sig.put(out);
            }
            ProposalPart::Txs { session, seq, batch } => {
                put::u8(out, 3);
                put::u64(out, *session);
                put::u64(out, *seq);
                put::bytes(out, batch);
            }
            ProposalPart::TxsAck { to, session, seqs } => {
                put::u8(out, 4);
                to.put(out);
                put::u64(out, *session);
                put::len(out, seqs.len());
                for seq in seqs {
                    put::u64(out, *seq);
                }
            }
            ProposalPart::TxsWant {
                to,
                height,
                round,
                hashes,
            } => {
                put::u8(out, 5);
                to.put(out);
                height.put(out);
                round.put(out);
                put::len(out, hashes.len());
                for h in hashes {
                    h.encode_to(out);
                }
            }
            ProposalPart::TxsFill {
                to,
                height,
                round,
                batch,
            } => {
                put::u8(out, 6);
                to.put(out);
                height.put(out);
                round.put(out);
                put::bytes(out, batch);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("proposal part")? {
            0 => Ok(ProposalPart::Init {
                height: ConsensusHeight::get(r)?,
                round: Round::get(r)?,
                proposer: Address::get(r)?,
                pol_round: Round::get(r)?,
            }),
            1 => Ok(ProposalPart::Data(r.bytes(MAX_PART_BYTES, "proposal data")?.to_vec())),
            2 => Ok(ProposalPart::Fin(Signature::get(r)?)),
            3 => Ok(ProposalPart::Txs {
                session: r.u64("gossip session")?,
                seq: r.u64("gossip sequence")?,
                batch: r.bytes(MAX_PART_BYTES, "gossiped transactions")?.to_vec(),
            }),
            4 => {
                let to = Address::get(r)?;
                let session = r.u64("gossip session")?;
                let n = r.len(MAX_ACKS, "gossip acknowledgements")?;
                let seqs = (0..n)
                    .map(|_| r.u64("gossip sequence"))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ProposalPart::TxsAck { to, session, seqs })
            }
            5 => {
                let to = Address::get(r)?;
                let height = ConsensusHeight::get(r)?;
                let round = Round::get(r)?;
                let n = r.len(MAX_WANTED, "transactions wanted")?;
                let hashes = (0..n).map(|_| Hash32::decode_from(r)).collect::<Result<Vec<_>, _>>()?;
                Ok(ProposalPart::TxsWant {
                    to,
                    height,
                    round,
                    hashes,
                })
            }
            6 => Ok(ProposalPart::TxsFill {
                to: Address::get(r)?,
                height: ConsensusHeight::get(r)?,
                round: Round::get(r)?,
                batch: r.bytes(MAX_PART_BYTES, "transactions filled")?.to_vec(),
            }),
            tag => Err(DecodeError::InvalidTag {
                what: "proposal part",
                tag,
            }),
        }
    }
}

impl Wire for crate::compact::CompactBlock {
    fn put(&self, out: &mut Vec<u8>) {
        self.encode_to(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::decode_from(r)
    }
}

impl Wire for StreamMessage<ProposalPart> {
    fn put(&self, out: &mut Vec<u8>) {
        put::bytes(out, &self.stream_id.to_bytes());
        put::u64(out, self.sequence);
        match &self.content {
            StreamContent::Data(part) => {
                put::u8(out, 0);
                part.put(out);
            }
            StreamContent::Fin => put::u8(out, 1),
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let stream_id = StreamId::new(Bytes::copy_from_slice(r.bytes(MAX_STREAM_ID, "stream id")?));
        let sequence = r.u64("stream sequence")?;
        let content = match r.u8("stream content")? {
            0 => StreamContent::Data(ProposalPart::get(r)?),
            1 => StreamContent::Fin,
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "stream content",
                    tag,
                });
            }
        };
        Ok(StreamMessage::new(stream_id, sequence, content))
    }
}

fn put_sigs<T>(out: &mut Vec<u8>, items: &[T], each: impl Fn(&T, &mut Vec<u8>)) {
    put::len(out, items.len());
    for item in items {
        each(item, out);
    }
}

impl Wire for PolkaCertificate<LedgerContext> {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        self.value_id.put(out);
        put_sigs(out, &self.polka_signatures, |s, out| {
            s.address.put(out);
            s.signature.put(out);
        });
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PolkaCertificate {
            height: ConsensusHeight::get(r)?,
            round: Round::get(r)?,
            value_id: BlockHash::get(r)?,
            polka_signatures: r.seq(MAX_SIGNATURES, 96, "polka signatures", |r| {
                Ok(PolkaSignature::new(Address::get(r)?, Signature::get(r)?))
            })?,
        })
    }
}

impl Wire for RoundCertificate<LedgerContext> {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        put::u8(out, matches!(self.cert_type, RoundCertificateType::Precommit).into());
        put_sigs(out, &self.round_signatures, |s, out| {
            s.vote_type.put(out);
            s.value_id.put(out);
            s.address.put(out);
            s.signature.put(out);
        });
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let height = ConsensusHeight::get(r)?;
        let round = Round::get(r)?;
        let cert_type = match r.u8("round certificate type")? {
            0 => RoundCertificateType::Skip,
            1 => RoundCertificateType::Precommit,
            tag => {
                return Err(DecodeError::InvalidTag {
                    what: "round certificate type",
                    tag,
                });
            }
        };
        let round_signatures = r.seq(MAX_SIGNATURES, 98, "round signatures", |r| {
            Ok(RoundSignature::new(
                VoteType::get(r)?,
                NilOrVal::get(r)?,
                Address::get(r)?,
                Signature::get(r)?,
            ))
        })?;
        Ok(RoundCertificate {
            height,
            round,
            cert_type,
            round_signatures,
        })
    }
}

impl Wire for LivenessMsg<LedgerContext> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            LivenessMsg::Vote(v) => {
                put::u8(out, 0);
                v.put(out);
            }
            LivenessMsg::PolkaCertificate(c) => {
                put::u8(out, 1);
                c.put(out);
            }
            LivenessMsg::SkipRoundCertificate(c) => {
                put::u8(out, 2);
                c.put(out);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("liveness message")? {
            0 => Ok(LivenessMsg::Vote(Wire::get(r)?)),
            1 => Ok(LivenessMsg::PolkaCertificate(Wire::get(r)?)),
            2 => Ok(LivenessMsg::SkipRoundCertificate(Wire::get(r)?)),
            tag => Err(DecodeError::InvalidTag {
                what: "liveness message",
                tag,
            }),
        }
    }
}

impl Wire for ValidatorProof<LedgerContext> {
    fn put(&self, out: &mut Vec<u8>) {
        put::bytes(out, &self.public_key);
        put::bytes(out, &self.peer_id);
        self.signature.put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let public_key = r.bytes(32, "validator proof key")?.to_vec();
        let peer_id = r.bytes(MAX_PEER_ID, "validator proof peer id")?.to_vec();
        Ok(ValidatorProof::new(public_key, peer_id, Signature::get(r)?))
    }
}

impl Wire for PeerId {
    fn put(&self, out: &mut Vec<u8>) {
        put::bytes(out, &self.to_bytes());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        PeerId::from_bytes(r.bytes(MAX_PEER_ID, "peer id")?).map_err(|_| invalid("peer id", "not a libp2p peer id"))
    }
}

impl Wire for Status<LedgerContext> {
    fn put(&self, out: &mut Vec<u8>) {
        self.peer_id.put(out);
        self.tip_height.put(out);
        self.history_min_height.put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Status {
            peer_id: PeerId::get(r)?,
            tip_height: ConsensusHeight::get(r)?,
            history_min_height: ConsensusHeight::get(r)?,
        })
    }
}

impl Wire for Request<LedgerContext> {
    fn put(&self, out: &mut Vec<u8>) {
        let Request::ValueRequest(req) = self;
        put::u8(out, 0);
        req.range.start().put(out);
        req.range.end().put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("sync request")? {
            0 => {
                let start = ConsensusHeight::get(r)?;
                let end = ConsensusHeight::get(r)?;
                Ok(Request::ValueRequest(ValueRequest::new(RangeInclusive::new(
                    start, end,
                ))))
            }
            tag => Err(DecodeError::InvalidTag {
                what: "sync request",
                tag,
            }),
        }
    }
}

impl Wire for ExtendedCommitCertificate<LedgerContext> {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        self.value_id.put(out);
        put_sigs(out, &self.commit_signatures, |s, out| {
            s.address.put(out);
            s.signature.put(out);
            s.extension.put(out);
        });
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ExtendedCommitCertificate {
            height: ConsensusHeight::get(r)?,
            round: Round::get(r)?,
            value_id: BlockHash::get(r)?,
            commit_signatures: r.seq(MAX_SIGNATURES, 97, "commit signatures", |r| {
                Ok(ExtendedCommitSignature::new(
                    Address::get(r)?,
                    Signature::get(r)?,
                    Option::get(r)?,
                ))
            })?,
        })
    }
}

impl Wire for Response<LedgerContext> {
    fn put(&self, out: &mut Vec<u8>) {
        let Response::ValueResponse(resp) = self;
        put::u8(out, 0);
        resp.start_height.put(out);
        put::len(out, resp.values.len());
        for v in &resp.values {
            put::bytes(out, &v.value_bytes);
            v.certificate.put(out);
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("sync response")? {
            0 => {
                let start_height = ConsensusHeight::get(r)?;
                let values = r.seq(MAX_SYNC_VALUES, 50, "synced values", |r| {
                    let value_bytes = Bytes::copy_from_slice(r.bytes(MAX_VALUE_BYTES, "synced value")?);
                    Ok(RawDecidedValue::new(value_bytes, ExtendedCommitCertificate::get(r)?))
                })?;
                Ok(Response::ValueResponse(ValueResponse::new(start_height, values)))
            }
            tag => Err(DecodeError::InvalidTag {
                what: "sync response",
                tag,
            }),
        }
    }
}

impl Wire for ProposedValue<LedgerContext> {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        self.valid_round.put(out);
        self.proposer.put(out);
        self.value.put(out);
        put::bool(out, self.validity.is_valid());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ProposedValue {
            height: ConsensusHeight::get(r)?,
            round: Round::get(r)?,
            valid_round: Round::get(r)?,
            proposer: Address::get(r)?,
            value: BlockValue::get(r)?,
            validity: if r.bool("validity")? {
                Validity::Valid
            } else {
                Validity::Invalid
            },
        })
    }
}

/// Encodes with a format version byte in front.
pub fn encode<T: Wire>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_VERSION];
    value.put(&mut out);
    out
}

/// Decodes a whole buffer written by [`encode`]; trailing bytes are an error.
pub fn decode<T: Wire>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.u8("format version")?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            what: "consensus message",
            version,
        });
    }
    let value = T::get(&mut r)?;
    r.finish()?;
    Ok(value)
}

impl<T: Wire + Send + Sync + 'static> Codec<T> for LedgerCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<T, CodecError> {
        Ok(decode(&bytes)?)
    }

    fn encode(&self, msg: &T) -> Result<Bytes, CodecError> {
        Ok(Bytes::from(encode(msg)))
    }
}

impl HasEncodedLen<Response<LedgerContext>> for LedgerCodec {
    fn encoded_len(&self, msg: &Response<LedgerContext>) -> Result<usize, CodecError> {
        let Response::ValueResponse(resp) = msg;
        // version, tag, start height, count, then per value its length prefix, bytes and
        // certificate.
        let mut len = 1 + 1 + 8 + 4;
        for v in &resp.values {
            let mut cert = Vec::new();
            v.certificate.put(&mut cert);
            len += 4 + v.value_bytes.len() + cert.len();
        }
        Ok(len)
    }
}
