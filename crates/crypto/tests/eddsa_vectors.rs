//! Edge cases of the Ed25519 verification rule (`medledger_crypto::eddsa`), built here point
//! by point: for every vector, the single check, a batch of one and the same signature inside a
//! batch of valid ones give the same verdict, and that verdict is the rule's.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use medledger_crypto::{CryptoError, Keypair, SigItem, verify, verify_batch, verify_each};
use medledger_types::{PublicKey, Signature};
use sha2::{Digest, Sha512};

/// The canonical encodings of the eight points of small order (the 8-torsion subgroup).
const SMALL_ORDER: [(&str, &str); 8] = [
    // (0, 1), the identity: order 1.
    (
        "0100000000000000000000000000000000000000000000000000000000000000",
        "order 1",
    ),
    // (0, −1): order 2.
    (
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "order 2",
    ),
    // (±√−1, 0): order 4, x non-negative then negative.
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "order 4",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000080",
        "order 4, x < 0",
    ),
    // The four points of order 8, in pairs ±x.
    (
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "order 8",
    ),
    (
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "order 8, x < 0",
    ),
    (
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "order 8",
    ),
    (
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "order 8, x < 0",
    ),
];

/// Non-canonical encodings that decompress to small-order points (p = 2^255 − 19). Only
/// y ∈ {0, 1} have a second y encoding (y + p < 2^255), and only x = 0 (y = ±1) a second sign.
const NON_CANONICAL_SMALL_ORDER: [(&str, &str); 6] = [
    // y = 1 with the sign bit set: "negative zero" x, the identity.
    (
        "0100000000000000000000000000000000000000000000000000000000000080",
        "(−0, 1)",
    ),
    // y = p − 1 with the sign bit set: "negative zero" x, the point of order 2.
    (
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "(−0, −1)",
    ),
    // y = p + 1 ≡ 1: the identity, without and with the sign bit.
    (
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "(0, p + 1)",
    ),
    (
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "(−0, p + 1)",
    ),
    // y = p ≡ 0: the two points of order 4.
    (
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "(√−1, p)",
    ),
    (
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "(−√−1, p)",
    ),
];

/// ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
const ELL: &str = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

/// Batches are drawn with fresh random coefficients: repeat so that a verdict that depended
/// on them (as a cofactorless batch's does, one time in eight for an order-8 component) shows.
const ROUNDS: usize = 16;

fn bytes32(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

fn signature(r: &[u8; 32], s: &[u8; 32]) -> Signature {
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(r);
    sig[32..].copy_from_slice(s);
    Signature(sig)
}

fn challenge(r: &[u8; 32], a: &[u8; 32], msg: &[u8]) -> Scalar {
    let hash: [u8; 64] = Sha512::new()
        .chain_update(r)
        .chain_update(a)
        .chain_update(msg)
        .finalize()
        .into();
    Scalar::from_bytes_mod_order_wide(&hash)
}

/// S = r + k·a for whatever encodings of A and R the caller chose.
fn sign_raw(a: &Scalar, a_bytes: &[u8; 32], r: &Scalar, r_bytes: &[u8; 32], msg: &[u8]) -> Signature {
    let k = challenge(r_bytes, a_bytes, msg);
    signature(r_bytes, &(r + k * a).to_bytes())
}

fn scalar(seed: u8) -> Scalar {
    Scalar::from_bytes_mod_order([seed; 32])
}

/// Little-endian 256-bit sum; None on overflow.
fn add_le(x: &[u8; 32], y: &[u8; 32]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(x[i]) + u16::from(y[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    (carry == 0).then_some(out)
}

fn strict_accepts(pk: &PublicKey, msg: &[u8], sig: &Signature) -> bool {
    ed25519_dalek::VerifyingKey::from_bytes(pk.as_bytes()).is_ok_and(|k| {
        k.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig.0))
            .is_ok()
    })
}

/// Honest signatures by other keys, to surround the case under test.
fn fillers() -> Vec<(PublicKey, Vec<u8>, Signature)> {
    (1..=7u8)
        .map(|i| {
            let k = Keypair::from_seed([i; 32]);
            let msg = vec![i; usize::from(i) * 5];
            let sig = k.sign(&msg);
            (k.public(), msg, sig)
        })
        .collect()
}

/// Asserts `expected` from `verify`, from a batch of one, and for the entry inside a batch
/// of valid signatures (through `verify_batch` and `verify_each`).
fn check(name: &str, pk: PublicKey, msg: &[u8], sig: Signature, expected: Result<(), CryptoError>) {
    assert_eq!(verify(&pk, msg, &sig), expected, "{name}: verify");
    let fill = fillers();
    let case = SigItem {
        key: &pk,
        msg,
        sig: &sig,
    };
    for _ in 0..ROUNDS {
        assert_eq!(verify_batch(&[SigItem { ..case }]), expected, "{name}: batch of one");
        let mut items: Vec<SigItem<'_>> = fill.iter().map(|(key, msg, sig)| SigItem { key, msg, sig }).collect();
        items.insert(3, SigItem { ..case });
        assert_eq!(verify_batch(&items).is_ok(), expected.is_ok(), "{name}: in a batch");
        let mut want = vec![Ok(()); items.len()];
        want[3] = expected.clone();
        assert_eq!(verify_each(&items), want, "{name}: verify_each");
    }
}

#[test]
fn the_small_order_constants_are_the_eight_torsion_points() {
    let mut ours: Vec<[u8; 32]> = SMALL_ORDER.iter().map(|(h, _)| bytes32(h)).collect();
    let mut theirs: Vec<[u8; 32]> = EIGHT_TORSION.iter().map(|t| t.compress().to_bytes()).collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
    for (h, what) in NON_CANONICAL_SMALL_ORDER {
        let point = CompressedEdwardsY(bytes32(h)).decompress().unwrap();
        assert!(point.is_small_order(), "{what}");
        assert_ne!(point.compress().to_bytes(), bytes32(h), "{what}");
    }
}

#[test]
fn honest_signatures_are_accepted() {
    for seed in 0..8u8 {
        let k = Keypair::from_seed([seed; 32]);
        for msg in [&b""[..], b"x", &[seed; 300]] {
            check("honest", k.public(), msg, k.sign(msg), Ok(()));
            check(
                "honest, other message",
                k.public(),
                b"another message",
                k.sign(msg),
                Err(CryptoError::BadSignature),
            );
        }
    }
}

/// A small-order key makes [8][k]A vanish: R = [r]B with S = r satisfies the cofactored
/// equation for every message. The key binds no one and is refused.
#[test]
fn small_order_keys_are_refused() {
    let r = scalar(3);
    let r_bytes = (r * B).compress().to_bytes();
    for (h, what) in SMALL_ORDER.iter().chain(&NON_CANONICAL_SMALL_ORDER) {
        let pk = PublicKey(bytes32(h));
        let sig = signature(&r_bytes, &r.to_bytes());
        // [8]([r]B − [r]B − [k]A) = −[8][k]A: the identity.
        let a = CompressedEdwardsY(pk.0).decompress().unwrap();
        assert!((challenge(&r_bytes, &pk.0, b"m") * a).mul_by_cofactor().is_identity());
        check(
            &format!("small-order A {what}"),
            pk,
            b"m",
            sig,
            Err(CryptoError::BadPublicKey(pk)),
        );
    }
}

/// A small-order R with S = k·a satisfies the cofactored equation: [S]B − R − [k]A = −R.
/// No honest signer draws such a nonce; it is refused.
#[test]
fn small_order_nonces_are_refused() {
    let a = scalar(5);
    let pk = PublicKey((a * B).compress().to_bytes());
    for (h, what) in SMALL_ORDER.iter().chain(&NON_CANONICAL_SMALL_ORDER) {
        let r_bytes = bytes32(h);
        let k = challenge(&r_bytes, &pk.0, b"m");
        let sig = signature(&r_bytes, &(k * a).to_bytes());
        check(
            &format!("small-order R {what}"),
            pk,
            b"m",
            sig,
            Err(CryptoError::BadSignature),
        );
    }
}

/// The hazard this rule removes: with R the identity and S = k·a, ed25519-dalek's batch
/// (cofactorless, no small-order check) accepted what its `verify_strict` refused.
#[test]
fn the_old_paths_disagreed_on_an_identity_nonce() {
    let a = scalar(5);
    let pk = PublicKey((a * B).compress().to_bytes());
    let r_bytes = bytes32(SMALL_ORDER[0].0);
    let sig = signature(&r_bytes, &(challenge(&r_bytes, &pk.0, b"m") * a).to_bytes());
    let key = ed25519_dalek::VerifyingKey::from_bytes(&pk.0).unwrap();
    let dalek_sig = ed25519_dalek::Signature::from_bytes(&sig.0);
    assert!(ed25519_dalek::verify_batch(&[&b"m"[..]], &[dalek_sig], &[key]).is_ok());
    assert!(!strict_accepts(&pk, b"m", &sig));
    check("identity R", pk, b"m", sig, Err(CryptoError::BadSignature));
}

/// Encodings with y ≥ p of points that are not of small order: nobody can sign for them, but
/// they decompress, and the canonical check is what refuses them, as keys and as nonces.
#[test]
fn non_canonical_encodings_of_large_order_points_are_refused() {
    let honest = Keypair::from_seed([9; 32]);
    let honest_sig = honest.sign(b"m");
    let mut seen = 0;
    for c in 2..=18u8 {
        for sign in [0x00, 0x80] {
            let mut bytes = bytes32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
            bytes[0] += c;
            bytes[31] |= sign;
            let Some(point) = CompressedEdwardsY(bytes).decompress() else {
                continue;
            };
            assert!(!point.is_small_order());
            seen += 1;
            let pk = PublicKey(bytes);
            check(
                "non-canonical A",
                pk,
                b"m",
                honest_sig,
                Err(CryptoError::BadPublicKey(pk)),
            );
            let s: [u8; 32] = honest_sig.0[32..].try_into().unwrap();
            check(
                "non-canonical R",
                honest.public(),
                b"m",
                signature(&bytes, &s),
                Err(CryptoError::BadSignature),
            );
        }
    }
    assert!(seen > 0);
}

/// S must be below ℓ: S + ℓ is the same scalar mod ℓ (the equation would hold), and is refused.
#[test]
fn non_canonical_s_is_refused() {
    let ell = bytes32(ELL);
    let k = Keypair::from_seed([4; 32]);
    let sig = k.sign(b"m");
    let r: [u8; 32] = sig.0[..32].try_into().unwrap();
    let s: [u8; 32] = sig.0[32..].try_into().unwrap();
    check("canonical S", k.public(), b"m", sig, Ok(()));

    // S + n·ℓ for every n that fits in 256 bits: up to S + 15ℓ, with the top bits set.
    let mut shifted = s;
    let mut n = 0;
    while let Some(next) = add_le(&shifted, &ell) {
        shifted = next;
        n += 1;
        assert_eq!(Scalar::from_bytes_mod_order(shifted), Scalar::from_bytes_mod_order(s));
        check(
            &format!("S + {n}ℓ"),
            k.public(),
            b"m",
            signature(&r, &shifted),
            Err(CryptoError::BadSignature),
        );
    }
    assert!(n >= 14 && shifted[31] >= 0xe0, "n = {n}");

    let mut ell_plus_one = ell;
    ell_plus_one[0] += 1;
    let mut top_bits = s;
    top_bits[31] |= 0xe0;
    for (what, bad_s) in [
        ("S = ℓ", ell),
        ("S = ℓ + 1", ell_plus_one),
        ("S | 0xe0 << 248", top_bits),
    ] {
        check(
            what,
            k.public(),
            b"m",
            signature(&r, &bad_s),
            Err(CryptoError::BadSignature),
        );
    }
}

/// A = [a]B + T with T of small order, signed with a: the cofactored equation holds and the
/// cofactorless one does not (the message is chosen so that [k]T is not the identity). Both
/// paths accept; ed25519-dalek's `verify_strict` refuses.
#[test]
fn mixed_order_keys_with_cofactored_signatures_are_accepted() {
    let a = scalar(11);
    let r = scalar(12);
    let r_bytes = (r * B).compress().to_bytes();
    for (i, t) in EIGHT_TORSION.iter().enumerate().skip(1) {
        let pk = PublicKey((a * B + t).compress().to_bytes());
        let msg = (0u32..)
            .map(|j| format!("mixed {i} {j}").into_bytes())
            .find(|m| !(challenge(&r_bytes, &pk.0, m) * t).is_identity())
            .unwrap();
        let sig = sign_raw(&a, &pk.0, &r, &r_bytes, &msg);
        assert!(!strict_accepts(&pk, &msg, &sig), "torsion point {i}");
        check(&format!("mixed-order A, torsion {i}"), pk, &msg, sig, Ok(()));
        check(
            &format!("mixed-order A, torsion {i}, other message"),
            pk,
            b"other",
            sig,
            Err(CryptoError::BadSignature),
        );
    }
}

/// R = [r]B + T and A = [a]B + T′ (T′ the identity or not): [S]B − R − [k]A = −T − [k]T′.
/// The cofactored equation always holds; the cofactorless one only when that residue is the
/// identity (never with T′ the identity), which is when verify_strict accepts.
#[test]
fn mixed_order_nonces_with_cofactored_signatures_are_accepted() {
    let a = scalar(21);
    let r = scalar(22);
    for (i, t) in EIGHT_TORSION.iter().enumerate().skip(1) {
        let r_bytes = (r * B + t).compress().to_bytes();
        for (what, t_key) in [
            ("A prime order", EIGHT_TORSION[0]),
            ("A mixed", EIGHT_TORSION[i % 7 + 1]),
        ] {
            let pk = PublicKey((a * B + t_key).compress().to_bytes());
            let sig = sign_raw(&a, &pk.0, &r, &r_bytes, b"m");
            let residue = -t - challenge(&r_bytes, &pk.0, b"m") * t_key;
            assert_eq!(
                strict_accepts(&pk, b"m", &sig),
                residue.is_identity(),
                "torsion {i}, {what}"
            );
            check(&format!("mixed-order R, torsion {i}, {what}"), pk, b"m", sig, Ok(()));
        }
    }
}

/// Many signatures by one mixed-order key in one batch: the key is decompressed once and its
/// coefficients summed, and the batch still agrees with the single check entry by entry.
#[test]
fn a_batch_of_one_mixed_order_signer_agrees_with_the_single_check() {
    let a = scalar(31);
    let pk = PublicKey((a * B + EIGHT_TORSION[1]).compress().to_bytes());
    let msgs: Vec<Vec<u8>> = (0..24u8).map(|i| vec![i; 7]).collect();
    let mut sigs: Vec<Signature> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let r = scalar(100 + i as u8);
            sign_raw(&a, &pk.0, &r, &(r * B).compress().to_bytes(), m)
        })
        .collect();
    let items = |sigs: &[Signature]| -> Vec<Result<(), CryptoError>> {
        let items: Vec<SigItem<'_>> = msgs
            .iter()
            .zip(sigs)
            .map(|(msg, sig)| SigItem { key: &pk, msg, sig })
            .collect();
        assert_eq!(
            verify_batch(&items).is_ok(),
            items.iter().all(|i| verify(i.key, i.msg, i.sig).is_ok())
        );
        verify_each(&items)
    };
    for _ in 0..ROUNDS {
        assert!(items(&sigs).iter().all(Result::is_ok));
    }
    sigs[17].0[40] ^= 4;
    for _ in 0..ROUNDS {
        let results = items(&sigs);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.is_ok(), i != 17, "entry {i}");
        }
    }
}

#[test]
fn an_empty_batch_is_valid() {
    assert_eq!(verify_batch(&[]), Ok(()));
    assert!(verify_each(&[]).is_empty());
}
