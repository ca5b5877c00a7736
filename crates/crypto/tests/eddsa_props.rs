//! Properties of the verification rule over random keys and messages: honest signatures pass
//! both paths, any altered bit fails both, and on honest keys the rule agrees with
//! ed25519-dalek's `verify_strict`.

use medledger_crypto::{Keypair, SigItem, verify, verify_batch};
use medledger_types::{PublicKey, Signature};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

fn strict_accepts(pk: &PublicKey, msg: &[u8], sig: &Signature) -> bool {
    ed25519_dalek::VerifyingKey::from_bytes(pk.as_bytes()).is_ok_and(|k| {
        k.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig.0))
            .is_ok()
    })
}

/// The verdict of the single path, after asserting that the batch path gives the same.
fn verdict(pk: &PublicKey, msg: &[u8], sig: &Signature) -> Result<bool, TestCaseError> {
    let single = verify(pk, msg, sig);
    prop_assert_eq!(&verify_batch(&[SigItem { key: pk, msg, sig }]), &single);
    Ok(single.is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn honest_signatures_pass_and_every_flipped_bit_fails(
        seed in any::<[u8; 32]>(),
        msg in vec(any::<u8>(), 1..200),
        msg_bit in any::<Index>(),
    ) {
        let k = Keypair::from_seed(seed);
        let pk = k.public();
        let sig = k.sign(&msg);
        prop_assert!(verdict(&pk, &msg, &sig)?);
        prop_assert!(strict_accepts(&pk, &msg, &sig));

        for bit in 0..512 {
            let mut bad = sig;
            bad.0[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!verdict(&pk, &msg, &bad)?, "signature bit {}", bit);
            prop_assert!(!strict_accepts(&pk, &msg, &bad), "signature bit {}", bit);
        }

        let bit = msg_bit.index(msg.len() * 8);
        let mut other = msg.clone();
        other[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verdict(&pk, &other, &sig)?, "message bit {}", bit);
        prop_assert!(!strict_accepts(&pk, &other, &sig));
    }

    /// In a batch of honest signatures by random keys, one altered entry is the one refused.
    #[test]
    fn a_batch_refuses_exactly_its_altered_entry(
        seeds in vec(any::<[u8; 32]>(), 2..12),
        bad in any::<Index>(),
        bit in 0usize..512,
    ) {
        let msgs: Vec<Vec<u8>> = (0..seeds.len()).map(|i| format!("tx {i}").into_bytes()).collect();
        let keys: Vec<Keypair> = seeds.iter().map(|s| Keypair::from_seed(*s)).collect();
        let pks: Vec<PublicKey> = keys.iter().map(Keypair::public).collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let items = |sigs: &[Signature]| -> Vec<Result<(), medledger_crypto::CryptoError>> {
            let items: Vec<SigItem<'_>> = pks.iter().zip(&msgs).zip(sigs)
                .map(|((key, msg), sig)| SigItem { key, msg, sig })
                .collect();
            medledger_crypto::verify_each(&items)
        };
        prop_assert!(items(&sigs).iter().all(Result::is_ok));
        let bad = bad.index(sigs.len());
        sigs[bad].0[bit / 8] ^= 1 << (bit % 8);
        let results = items(&sigs);
        for (i, r) in results.iter().enumerate() {
            prop_assert_eq!(r.is_ok(), i != bad, "entry {}", i);
        }
    }

    /// Arbitrary signature bytes under an honest key: the rule, the batch and verify_strict
    /// agree (they all refuse, but none may panic or differ).
    #[test]
    fn arbitrary_signatures_under_honest_keys_agree_with_verify_strict(
        seed in any::<[u8; 32]>(),
        sig in vec(any::<u8>(), 64),
        msg in vec(any::<u8>(), 0..64),
    ) {
        let pk = Keypair::from_seed(seed).public();
        let sig = Signature::from_slice(&sig).unwrap();
        prop_assert_eq!(verdict(&pk, &msg, &sig)?, strict_accepts(&pk, &msg, &sig));
    }

    /// Arbitrary key and signature bytes: single and batch agree, and nothing panics.
    #[test]
    fn arbitrary_keys_and_signatures_get_one_verdict(
        pk in any::<[u8; 32]>(),
        sig in vec(any::<u8>(), 64),
        msg in vec(any::<u8>(), 0..64),
    ) {
        let sig = Signature::from_slice(&sig).unwrap();
        verdict(&PublicKey(pk), &msg, &sig)?;
    }
}
