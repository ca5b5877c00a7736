//! The consensus context: signatures are bound to their chain and message, a precommit is
//! exactly a commit-certificate signature, and proposers rotate deterministically.

use std::collections::BTreeSet;

use malachitebft_app_channel::app::types::core::{
    Context, Height as _, NilOrVal, Round, ValidatorProof, ValidatorSet as _,
};
use malachitebft_signing::{Signer, Verifier};
use medledger_consensus::LedgerContext;
use medledger_consensus::signing::LedgerSigner;
use medledger_consensus::types::{Address, BlockHash, BlockValue, ConsensusHeight, ValidatorSet};
use medledger_crypto::Keypair;
use medledger_ledger::Genesis;
use medledger_ledger::genesis::{GenesisAdmin, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::OrgRole;
use medledger_types::{ChainId, Hash32, Height, MemberId, OrgId, TimestampMs, commit_sign_bytes};

fn genesis(validators: &[Keypair]) -> Genesis {
    Genesis {
        break_glass: None,
        contracts: None,
        suspend_quorum: None,
        chain_id: ChainId::new("bft-test").unwrap(),
        genesis_time: TimestampMs(0),
        orgs: vec![GenesisOrg {
            gs1: None,
            id: OrgId::new("h").unwrap(),
            name: "H".into(),
            role: OrgRole::Hospital,
            admins: vec![GenesisAdmin {
                member: MemberId::new("admin").unwrap(),
                public_key: Keypair::from_seed([200; 32]).public(),
            }],
            members: Vec::new(),
        }],
        validators: validators
            .iter()
            .map(|k| GenesisValidator {
                org: OrgId::new("h").unwrap(),
                public_key: k.public(),
                power: 1,
            })
            .collect(),
    }
}

fn keys(n: u8) -> Vec<Keypair> {
    (1..=n).map(|i| Keypair::from_seed([i; 32])).collect()
}

#[tokio::test]
async fn a_precommit_signature_is_a_commit_certificate_signature() {
    let chain = ChainId::new("bft-test").unwrap();
    let ctx = LedgerContext::new(chain.clone());
    let key = Keypair::from_seed([1; 32]);
    let signer = LedgerSigner::new(chain.clone(), key.clone());
    let block = Hash32::digest(&[b"block 7"]);
    let vote = ctx.new_precommit(
        ConsensusHeight(7),
        Round::new(2),
        NilOrVal::Val(BlockHash(block)),
        Address(key.public()),
    );
    let signed = signer.sign_vote(vote.clone()).await.unwrap();
    // What `medledger verify` checks for every stored block.
    medledger_crypto::verify(
        &key.public(),
        &commit_sign_bytes(&chain, Height(7), 2, &block),
        &signed.signature,
    )
    .unwrap();
    assert!(
        signer
            .verify_signed_vote(&vote, &signed.signature, &key.public())
            .await
            .unwrap()
            .is_valid()
    );
}

#[tokio::test]
async fn signatures_are_bound_to_chain_message_and_key() {
    let chain = ChainId::new("bft-test").unwrap();
    let ctx = LedgerContext::new(chain.clone());
    let key = Keypair::from_seed([1; 32]);
    let other = Keypair::from_seed([2; 32]);
    let signer = LedgerSigner::new(chain.clone(), key.clone());
    let elsewhere = LedgerSigner::new(ChainId::new("another-chain").unwrap(), key.clone());
    let block = BlockHash(Hash32::digest(&[b"b"]));
    let me = Address(key.public());

    let prevote = ctx.new_prevote(ConsensusHeight(3), Round::new(0), NilOrVal::Val(block), me);
    let sig = signer.sign_vote(prevote.clone()).await.unwrap().signature;
    assert!(
        signer
            .verify_signed_vote(&prevote, &sig, &key.public())
            .await
            .unwrap()
            .is_valid()
    );

    let variants = [
        (
            "as a precommit",
            ctx.new_precommit(ConsensusHeight(3), Round::new(0), NilOrVal::Val(block), me),
        ),
        (
            "for nil",
            ctx.new_prevote(ConsensusHeight(3), Round::new(0), NilOrVal::Nil, me),
        ),
        (
            "at another height",
            ctx.new_prevote(ConsensusHeight(4), Round::new(0), NilOrVal::Val(block), me),
        ),
        (
            "in another round",
            ctx.new_prevote(ConsensusHeight(3), Round::new(1), NilOrVal::Val(block), me),
        ),
        (
            "for another block",
            ctx.new_prevote(
                ConsensusHeight(3),
                Round::new(0),
                NilOrVal::Val(BlockHash(Hash32::ZERO)),
                me,
            ),
        ),
    ];
    for (what, vote) in variants {
        assert!(
            signer
                .verify_signed_vote(&vote, &sig, &key.public())
                .await
                .unwrap()
                .is_invalid(),
            "a prevote signature must not verify {what}"
        );
    }
    assert!(
        signer
            .verify_signed_vote(&prevote, &sig, &other.public())
            .await
            .unwrap()
            .is_invalid()
    );
    assert!(
        elsewhere
            .verify_signed_vote(&prevote, &sig, &key.public())
            .await
            .unwrap()
            .is_invalid()
    );

    let proposal = ctx.new_proposal(ConsensusHeight(3), Round::new(0), BlockValue(block.0), Round::Nil, me);
    let psig = signer.sign_proposal(proposal.clone()).await.unwrap().signature;
    assert!(
        signer
            .verify_signed_proposal(&proposal, &psig, &key.public())
            .await
            .unwrap()
            .is_valid()
    );
    assert!(
        signer
            .verify_signed_vote(&prevote, &psig, &key.public())
            .await
            .unwrap()
            .is_invalid()
    );
    let mut moved = proposal.clone();
    moved.pol_round = Round::new(0);
    assert!(
        signer
            .verify_signed_proposal(&moved, &psig, &key.public())
            .await
            .unwrap()
            .is_invalid()
    );
}

#[tokio::test]
async fn validator_proofs_verify_and_refuse_tampering() {
    let key = Keypair::from_seed([5; 32]);
    let signer = LedgerSigner::new(ChainId::new("bft-test").unwrap(), key.clone());
    let proof = signer
        .sign_validator_proof(key.public().0.to_vec(), b"peer-1".to_vec())
        .await
        .unwrap();
    assert!(signer.verify_validator_proof(&proof).await.unwrap().is_valid());
    let forged = ValidatorProof::<LedgerContext>::new(proof.public_key.clone(), b"peer-2".to_vec(), proof.signature);
    assert!(signer.verify_validator_proof(&forged).await.unwrap().is_invalid());
    let short = ValidatorProof::<LedgerContext>::new(vec![1, 2, 3], b"peer-1".to_vec(), proof.signature);
    assert!(signer.verify_validator_proof(&short).await.unwrap().is_invalid());
}

#[test]
fn validator_set_comes_from_genesis_in_address_order() {
    let k = keys(4);
    let mut shuffled = genesis(&k);
    let set = ValidatorSet::from_genesis(&shuffled);
    shuffled.validators.reverse();
    assert_eq!(
        ValidatorSet::from_genesis(&shuffled),
        set,
        "order in the file must not matter"
    );
    assert_eq!(set.count(), 4);
    assert_eq!(set.total_voting_power(), 4);
    for key in &k {
        assert_eq!(
            set.get_by_address(&Address(key.public())).unwrap().public_key,
            key.public()
        );
    }
    assert!(
        set.get_by_address(&Address(Keypair::from_seed([99; 32]).public()))
            .is_none()
    );
    let addresses: Vec<_> = set.validators().iter().map(|v| v.address).collect();
    let mut sorted = addresses.clone();
    sorted.sort();
    assert_eq!(addresses, sorted);
}

#[test]
fn proposers_rotate_over_heights_and_rounds() {
    let set = ValidatorSet::from_genesis(&genesis(&keys(4)));
    let ctx = LedgerContext::new(ChainId::new("bft-test").unwrap());
    let by_height: BTreeSet<_> = (1..=4)
        .map(|h| ctx.select_proposer(&set, ConsensusHeight(h), Round::new(0)).address)
        .collect();
    assert_eq!(by_height.len(), 4, "four heights, four different proposers");
    let first = ctx.select_proposer(&set, ConsensusHeight(9), Round::new(0)).address;
    let next_round = ctx.select_proposer(&set, ConsensusHeight(9), Round::new(1)).address;
    assert_ne!(first, next_round, "a failed round moves to the next proposer");
    assert_eq!(
        first,
        ctx.select_proposer(&set, ConsensusHeight(9), Round::new(0)).address
    );
}

#[test]
fn heights_count_like_ours() {
    assert_eq!(ConsensusHeight::INITIAL, ConsensusHeight(1));
    assert_eq!(ConsensusHeight(5).increment(), ConsensusHeight(6));
    assert_eq!(ConsensusHeight(0).decrement(), None);
    assert_eq!(Height::from(ConsensusHeight(9)), Height(9));
}
