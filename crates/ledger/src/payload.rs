//! Every transaction kind the ledger knows. Adding a kind means one file in its domain
//! folder and one line in each `match` here.

use medledger_types::codec::{Decode, Encode};
use medledger_types::{PublicKey, TxKind};

use crate::audit::record as audit_record;
use crate::consent::{break_glass, grant, revoke};
use crate::contracts::{deploy, vote as contract_vote};
use crate::error::{Rejection, TxError};
use crate::identity::{register_member, revoke_member, rotate_key, set_client_keys, vote_node, vote_org};
use crate::records::{anchor, erase};
use crate::research::study;
use crate::rx::{cancel, dispense, params, prescribe};
use crate::state::Overlay;
use crate::supply::{capture, recall, vote_gs1};
use crate::{BlockContext, Event};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    RegisterMember(register_member::RegisterMember),
    RevokeMember(revoke_member::RevokeMember),
    RotateKey(rotate_key::RotateKey),
    SetClientKeys(set_client_keys::SetClientKeys),
    VoteOrg(vote_org::VoteOrg),
    VoteNode(vote_node::VoteNode),
    RecordsAnchor(anchor::RecordsAnchor),
    RecordsErase(erase::RecordsErase),
    ConsentGrant(grant::ConsentGrant),
    ConsentRevoke(revoke::ConsentRevoke),
    BreakGlass(break_glass::BreakGlass),
    AuditRecord(audit_record::AuditRecord),
    RegisterStudy(study::RegisterStudy),
    SupplyCapture(capture::SupplyCapture),
    SupplyRecall(recall::SupplyRecall),
    VoteGs1(vote_gs1::VoteGs1),
    RxPrescribe(prescribe::RxPrescribe),
    RxDispense(dispense::RxDispense),
    RxCancel(cancel::RxCancel),
    RxParams(params::RxParamsVote),
    ContractDeploy(deploy::ContractDeploy),
    ContractVote(contract_vote::ContractVote),
}

impl Payload {
    pub fn decode(kind: TxKind, body: &[u8]) -> Result<Payload, Rejection> {
        let p = match kind {
            register_member::KIND => Payload::RegisterMember(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            revoke_member::KIND => Payload::RevokeMember(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            rotate_key::KIND => Payload::RotateKey(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            set_client_keys::KIND => Payload::SetClientKeys(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            vote_org::KIND => Payload::VoteOrg(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            vote_node::KIND => Payload::VoteNode(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            anchor::KIND => Payload::RecordsAnchor(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            erase::KIND => Payload::RecordsErase(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            grant::KIND => Payload::ConsentGrant(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            revoke::KIND => Payload::ConsentRevoke(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            break_glass::KIND => Payload::BreakGlass(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            audit_record::KIND => Payload::AuditRecord(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            study::KIND => Payload::RegisterStudy(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            capture::KIND => Payload::SupplyCapture(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            recall::KIND => Payload::SupplyRecall(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            vote_gs1::KIND => Payload::VoteGs1(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            prescribe::KIND => Payload::RxPrescribe(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            dispense::KIND => Payload::RxDispense(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            cancel::KIND => Payload::RxCancel(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            params::KIND => Payload::RxParams(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            deploy::KIND => Payload::ContractDeploy(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            contract_vote::KIND => Payload::ContractVote(Decode::decode(body).map_err(Rejection::MalformedBody)?),
            other => return Err(Rejection::UnknownKind(other)),
        };
        Ok(p)
    }

    pub fn kind(&self) -> TxKind {
        match self {
            Payload::RegisterMember(_) => register_member::KIND,
            Payload::RevokeMember(_) => revoke_member::KIND,
            Payload::RotateKey(_) => rotate_key::KIND,
            Payload::SetClientKeys(_) => set_client_keys::KIND,
            Payload::VoteOrg(_) => vote_org::KIND,
            Payload::VoteNode(_) => vote_node::KIND,
            Payload::RecordsAnchor(_) => anchor::KIND,
            Payload::RecordsErase(_) => erase::KIND,
            Payload::ConsentGrant(_) => grant::KIND,
            Payload::ConsentRevoke(_) => revoke::KIND,
            Payload::BreakGlass(_) => break_glass::KIND,
            Payload::AuditRecord(_) => audit_record::KIND,
            Payload::RegisterStudy(_) => study::KIND,
            Payload::SupplyCapture(_) => capture::KIND,
            Payload::SupplyRecall(_) => recall::KIND,
            Payload::VoteGs1(_) => vote_gs1::KIND,
            Payload::RxPrescribe(_) => prescribe::KIND,
            Payload::RxDispense(_) => dispense::KIND,
            Payload::RxCancel(_) => cancel::KIND,
            Payload::RxParams(_) => params::KIND,
            Payload::ContractDeploy(_) => deploy::KIND,
            Payload::ContractVote(_) => contract_vote::KIND,
        }
    }

    /// The human name of the kind, `domain.operation`.
    pub fn name(&self) -> &'static str {
        match self {
            Payload::RegisterMember(_) => "identity.register_member",
            Payload::RevokeMember(_) => "identity.revoke_member",
            Payload::RotateKey(_) => "identity.rotate_key",
            Payload::SetClientKeys(_) => "identity.set_client_keys",
            Payload::VoteOrg(_) => "identity.vote_org",
            Payload::VoteNode(_) => "identity.vote_node",
            Payload::RecordsAnchor(_) => "records.anchor",
            Payload::RecordsErase(_) => "records.erase",
            Payload::ConsentGrant(_) => "consent.grant",
            Payload::ConsentRevoke(_) => "consent.revoke",
            Payload::BreakGlass(_) => "consent.break_glass",
            Payload::AuditRecord(_) => "audit.record",
            Payload::RegisterStudy(_) => "research.study",
            Payload::SupplyCapture(_) => "supply.capture",
            Payload::SupplyRecall(_) => "supply.recall",
            Payload::VoteGs1(_) => "supply.vote_gs1",
            Payload::RxPrescribe(_) => "rx.prescribe",
            Payload::RxDispense(_) => "rx.dispense",
            Payload::RxCancel(_) => "rx.cancel",
            Payload::RxParams(_) => "rx.params",
            Payload::ContractDeploy(_) => "contract.deploy",
            Payload::ContractVote(_) => "contract.vote",
        }
    }

    pub fn body(&self) -> Vec<u8> {
        match self {
            Payload::RegisterMember(p) => p.encode(),
            Payload::RevokeMember(p) => p.encode(),
            Payload::RotateKey(p) => p.encode(),
            Payload::SetClientKeys(p) => p.encode(),
            Payload::VoteOrg(p) => p.encode(),
            Payload::VoteNode(p) => p.encode(),
            Payload::RecordsAnchor(p) => p.encode(),
            Payload::RecordsErase(p) => p.encode(),
            Payload::ConsentGrant(p) => p.encode(),
            Payload::ConsentRevoke(p) => p.encode(),
            Payload::BreakGlass(p) => p.encode(),
            Payload::AuditRecord(p) => p.encode(),
            Payload::RegisterStudy(p) => p.encode(),
            Payload::SupplyCapture(p) => p.encode(),
            Payload::SupplyRecall(p) => p.encode(),
            Payload::VoteGs1(p) => p.encode(),
            Payload::RxPrescribe(p) => p.encode(),
            Payload::RxDispense(p) => p.encode(),
            Payload::RxCancel(p) => p.encode(),
            Payload::RxParams(p) => p.encode(),
            Payload::ContractDeploy(p) => p.encode(),
            Payload::ContractVote(p) => p.encode(),
        }
    }

    pub(crate) fn apply(
        &self,
        state: &mut Overlay<'_>,
        signer: &PublicKey,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, TxError> {
        match self {
            Payload::RegisterMember(p) => p.apply(state, signer, ctx),
            Payload::RevokeMember(p) => p.apply(state, signer, ctx),
            Payload::RotateKey(p) => p.apply(state, signer, ctx),
            Payload::SetClientKeys(p) => p.apply(state, signer, ctx),
            Payload::VoteOrg(p) => p.apply(state, signer, ctx),
            Payload::VoteNode(p) => p.apply(state, signer, ctx),
            Payload::RecordsAnchor(p) => p.apply(state, signer, ctx),
            Payload::RecordsErase(p) => p.apply(state, signer, ctx),
            Payload::ConsentGrant(p) => p.apply(state, signer, ctx),
            Payload::ConsentRevoke(p) => p.apply(state, signer, ctx),
            Payload::BreakGlass(p) => p.apply(state, signer, ctx),
            Payload::AuditRecord(p) => p.apply(state, signer, ctx),
            Payload::RegisterStudy(p) => p.apply(state, signer, ctx),
            Payload::SupplyCapture(p) => p.apply(state, signer, ctx),
            Payload::SupplyRecall(p) => p.apply(state, signer, ctx),
            Payload::VoteGs1(p) => p.apply(state, signer),
            Payload::RxPrescribe(p) => p.apply(state, signer, ctx),
            Payload::RxDispense(p) => p.apply(state, signer, ctx),
            Payload::RxCancel(p) => p.apply(state, signer, ctx),
            Payload::RxParams(p) => p.apply(state, signer, ctx),
            Payload::ContractDeploy(p) => p.apply(state, signer, ctx),
            Payload::ContractVote(p) => p.apply(state, signer, ctx),
        }
    }
}
