//! Ed25519 (RFC 8032) signature verification: one rule, applied alike by [`verify`] and
//! [`verify_batch`].
//!
//! Every validator must reach the same verdict on a signature, whichever path checked it: a
//! signature that the batch accepts and the single check refuses (or the reverse) would let
//! two honest nodes disagree about a transaction. RFC 8032 leaves the edge cases open (it
//! allows both the cofactored and the cofactorless equation, and libraries differ on encodings
//! and small-order points), so this module fixes them.
//!
//! # The rule
//!
//! Let `B` be the Ed25519 base point and ℓ = 2^252 + 27742317777372353535851937790883648493
//! its prime order. A 64-byte signature `R_bytes ‖ S_bytes` by the 32-byte public key
//! `A_bytes` over the message `M` is valid iff
//!
//! 1. `A_bytes` decompresses to a curve point `A` (RFC 8032 §5.1.3), compressing `A` again
//!    gives exactly `A_bytes` (so `y < p` and no "negative zero" `x`), and `A` is not of small
//!    order (`[8]A` is not the identity);
//! 2. `R_bytes` likewise: it decompresses to a point `R`, re-compresses to the same bytes,
//!    and `R` is not of small order;
//! 3. `S_bytes`, read as a little-endian integer `S`, is less than ℓ;
//! 4. the cofactored equation holds: `[8]([S]B − R − [k]A)` is the identity, where
//!    `k = SHA-512(R_bytes ‖ A_bytes ‖ M)`, read as a little-endian integer, reduced mod ℓ.
//!
//! [`verify`] answers [`CryptoError::BadPublicKey`] when step 1 fails and
//! [`CryptoError::BadSignature`] when step 2, 3 or 4 fails.
//!
//! # Why this rule
//!
//! - **Cofactored.** A batch checks a random linear combination of the single equations and
//!   multiplies the sum by the cofactor 8 at the end (below). With the cofactored single
//!   equation the two checks agree. With the cofactorless one they would not: the small-order
//!   parts of mixed-order `A` or `R` cancel in a random combination for some coefficients
//!   and not for others, so a batch would accept, now and then, what the single check refuses.
//!   This is the case for `ed25519-dalek`'s `verify_strict` (cofactorless) against its
//!   `verify_batch` (random combination, no cofactor).
//! - **Canonical encodings, checked before anything is batched.** A third party cannot turn
//!   a valid signature into a second valid one: another encoding of `R` (or of `R` plus a
//!   small-order point) changes `k` and breaks the equation, and `S + ℓ` is refused by step 3.
//!   One signed transaction has one valid signature, and its hash names it.
//! - **No small-order `A` or `R`.** A small-order key verifies "signatures" on every message
//!   (`[8][k]A` vanishes), so it binds no one; a small-order `R` is a nonce no honest signer
//!   draws. Refusing both costs honest signers nothing.
//! - Mixed-order points (a prime-order part plus a small-order part) are accepted when the
//!   cofactored equation holds: refusing them would take a full-order check (a scalar
//!   multiplication by ℓ per point), and they cannot be forged without the secret key.
//!
//! Honest RFC 8032 signatures always pass: `A = [a]B` and `R = [r]B` are canonical encodings
//! of prime-order points, `S = (r + k·a) mod ℓ < ℓ`, and `[S]B = R + [k]A` holds exactly, so
//! the cofactored equation holds too. On keys and nonces in the prime-order subgroup the rule
//! agrees with `ed25519-dalek`'s `verify_strict`; it differs only on mixed-order points
//! (accepted here when the cofactored equation holds) and on non-canonical encodings of
//! large-order keys (refused here; nobody can sign for them anyway).
//!
//! # Batches
//!
//! [`verify_batch`] checks steps 1–3 for every entry first, decompressing each distinct key
//! once; any failure refuses the batch. It then checks step 4 for all entries at once, with
//! independent uniformly random 128-bit coefficients `z_i` drawn from the operating system
//! for this batch only:
//!
//! ```text
//! [8]( Σ_i [z_i]R_i + Σ_A [Σ_{i signed by A} z_i·k_i]A − [Σ_i z_i·S_i]B ) = identity
//! ```
//!
//! in one variable-time multiscalar multiplication (verification handles public data only).
//! If every entry satisfies step 4, every term is the identity and the batch passes: the batch
//! never refuses valid signatures. If some entry does not, its term `[8]([S_i]B − R_i − [k_i]A_i)`
//! is a non-identity point of the prime-order subgroup, and the sum is the identity for at
//! most one value of its `z_i` mod ℓ: the batch accepts with probability at most 2^-128.
//! Should the operating system fail to supply randomness, the batch checks step 4 entry by
//! entry instead.

use std::collections::BTreeMap;
use std::iter::once;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use medledger_types::{PublicKey, Signature};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha512};

use crate::CryptoError;

/// One entry of a batch: who signed which message with which signature.
pub struct SigItem<'a> {
    pub key: &'a PublicKey,
    pub msg: &'a [u8],
    pub sig: &'a Signature,
}

/// Verifies one signature by the rule in the module docs.
pub fn verify(pk: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
    let a = decode_key(pk)?;
    let checked = decode_signature(pk, msg, sig)?;
    verdict(cofactored_equation_holds(&a, &checked))
}

/// Verifies a whole batch at once, by the same rule as [`verify`] (see the module docs).
/// Ok only if every signature verifies; the error is that of an entry failing steps 1–3,
/// or [`CryptoError::BadSignature`] when the combined equation fails.
pub fn verify_batch(items: &[SigItem<'_>]) -> Result<(), CryptoError> {
    // Signers repeat within a batch: decompressing each key once saves a field square root
    // per signature, and summing its coefficients saves a point in the multiplication.
    let mut key_index: BTreeMap<&PublicKey, usize> = BTreeMap::new();
    let mut keys: Vec<EdwardsPoint> = Vec::new();
    let mut checked = Vec::with_capacity(items.len());
    for item in items {
        let index = match key_index.get(item.key) {
            Some(&index) => index,
            None => {
                keys.push(decode_key(item.key)?);
                key_index.insert(item.key, keys.len() - 1);
                keys.len() - 1
            }
        };
        checked.push((index, decode_signature(item.key, item.msg, item.sig)?));
    }

    let mut random = vec![0u8; 16 * checked.len()];
    if OsRng.try_fill_bytes(&mut random).is_err() {
        // Coefficients the signers could predict would prove nothing: check one by one.
        return verdict(checked.iter().all(|(key, c)| cofactored_equation_holds(&keys[*key], c)));
    }

    let mut basepoint_coefficient = Scalar::ZERO;
    let mut nonce_coefficients = Vec::with_capacity(checked.len());
    let mut key_coefficients = vec![Scalar::ZERO; keys.len()];
    for ((key, c), z) in checked.iter().zip(random.chunks_exact(16)) {
        let mut z_bytes = [0u8; 16];
        z_bytes.copy_from_slice(z);
        let z = Scalar::from(u128::from_le_bytes(z_bytes));
        basepoint_coefficient += z * c.s;
        key_coefficients[*key] += z * c.k;
        nonce_coefficients.push(z);
    }
    let combined = EdwardsPoint::vartime_multiscalar_mul(
        once(-basepoint_coefficient)
            .chain(nonce_coefficients)
            .chain(key_coefficients),
        once(ED25519_BASEPOINT_POINT)
            .chain(checked.iter().map(|(_, c)| c.r))
            .chain(keys),
    );
    verdict(combined.mul_by_cofactor().is_identity())
}

/// Verifies each entry; returns one result per entry. Tries the batch first, and
/// falls back to one-by-one checks only when the batch fails.
pub fn verify_each(items: &[SigItem<'_>]) -> Vec<Result<(), CryptoError>> {
    if verify_batch(items).is_ok() {
        return items.iter().map(|_| Ok(())).collect();
    }
    items.iter().map(|i| verify(i.key, i.msg, i.sig)).collect()
}

/// A signature that passed steps 2 and 3, with its challenge `k`.
struct CheckedSignature {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// Step 1.
fn decode_key(pk: &PublicKey) -> Result<EdwardsPoint, CryptoError> {
    decode_point(pk.as_bytes()).ok_or(CryptoError::BadPublicKey(*pk))
}

/// Steps 2 and 3, and the challenge `k` over the bytes as received.
fn decode_signature(pk: &PublicKey, msg: &[u8], sig: &Signature) -> Result<CheckedSignature, CryptoError> {
    let mut r_bytes = [0u8; 32];
    let mut s_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&sig.as_bytes()[..32]);
    s_bytes.copy_from_slice(&sig.as_bytes()[32..]);
    let r = decode_point(&r_bytes).ok_or(CryptoError::BadSignature)?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)).ok_or(CryptoError::BadSignature)?;
    let hash: [u8; 64] = Sha512::new()
        .chain_update(r_bytes)
        .chain_update(pk.as_bytes())
        .chain_update(msg)
        .finalize()
        .into();
    Ok(CheckedSignature {
        r,
        s,
        k: Scalar::from_bytes_mod_order_wide(&hash),
    })
}

/// The point `bytes` encodes, if the encoding is canonical and the point is not of small
/// order (steps 1 and 2).
fn decode_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let point = CompressedEdwardsY(*bytes).decompress()?;
    (is_canonical_encoding(bytes) && !point.is_small_order()).then_some(point)
}

/// Whether compressing the point that `bytes` decompresses to gives `bytes` again, without
/// compressing (a field inversion per point: a quarter of a batch's cost per signature). Decompression
/// reads y modulo p = 2^255 − 19 and gives x the sign of bit 255 unless x = 0; compression
/// writes y < p and the sign of x. So the round trip holds iff y < p and bit 255 is clear
/// whenever x = 0, that is when y = 1 or y = p − 1. Only meaningful for bytes that decompress.
fn is_canonical_encoding(bytes: &[u8; 32]) -> bool {
    let (low, middle, high) = (bytes[0], &bytes[1..31], bytes[31] & 0x7f);
    let all = |b: u8| middle.iter().all(|&m| m == b);
    let top_of_field = high == 0x7f && all(0xff);
    let y_at_least_p = top_of_field && low >= 0xed;
    let y_is_one = high == 0 && all(0) && low == 1;
    let y_is_p_minus_one = top_of_field && low == 0xec;
    let sign_set = bytes[31] & 0x80 != 0;
    !y_at_least_p && !(sign_set && (y_is_one || y_is_p_minus_one))
}

/// Step 4: `[8]([S]B − R − [k]A)` is the identity.
fn cofactored_equation_holds(a: &EdwardsPoint, c: &CheckedSignature) -> bool {
    // [k](−A) + [S]B in one pass, with the base point's precomputed table.
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&c.k, &-a, &c.s);
    (sb_minus_ka - c.r).mul_by_cofactor().is_identity()
}

fn verdict(equation_holds: bool) -> Result<(), CryptoError> {
    if equation_holds {
        Ok(())
    } else {
        Err(CryptoError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::constants::EIGHT_TORSION;

    use super::*;

    /// p = 2^255 − 19, little-endian.
    fn p_plus(c: u8) -> [u8; 32] {
        let mut y = [0xff; 32];
        y[31] = 0x7f;
        y[0] = 0xed + c; // c ≤ 18: no carry
        y
    }

    #[test]
    fn decode_point_refuses_every_non_canonical_encoding_that_decompresses() {
        let mut large_order_seen = 0;
        for c in 0..=18u8 {
            for sign in [0x00, 0x80] {
                let mut bytes = p_plus(c);
                bytes[31] |= sign;
                let Some(point) = CompressedEdwardsY(bytes).decompress() else {
                    continue;
                };
                // y ≥ p: the same point has the shorter encoding y − p.
                assert_ne!(point.compress().to_bytes(), bytes, "y = p + {c}");
                assert_eq!(decode_point(&bytes), None, "y = p + {c}, sign {sign:#x}");
                if !point.is_small_order() {
                    large_order_seen += 1;
                }
            }
        }
        // The canonical check, not the small-order one, refused these.
        assert!(large_order_seen > 0);

        // "Negative zero": the sign bit set on the two points with x = 0 (y = 1, y = −1).
        for y_bytes in [
            EIGHT_TORSION[0].compress().to_bytes(),
            EIGHT_TORSION[4].compress().to_bytes(),
        ] {
            let mut bytes = y_bytes;
            bytes[31] |= 0x80;
            assert!(CompressedEdwardsY(bytes).decompress().is_some());
            assert_eq!(decode_point(&bytes), None);
        }
    }

    /// The byte test against its definition, the round trip, on every encoding near the
    /// edges and on random ones.
    #[test]
    fn is_canonical_encoding_is_the_compression_round_trip() {
        let mut encodings: Vec<[u8; 32]> = Vec::new();
        for c in 0..=18u8 {
            encodings.push(p_plus(c));
            let mut below = p_plus(0);
            below[0] -= c + 1; // p − 1 − c
            encodings.push(below);
            let mut small = [0u8; 32];
            small[0] = c;
            encodings.push(small);
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut bytes = [0u8; 32];
            for chunk in bytes.chunks_mut(8) {
                // xorshift64: enough to spread over the encodings.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes());
            }
            encodings.push(bytes);
        }
        encodings.extend(EIGHT_TORSION.iter().map(|t| t.compress().to_bytes()));
        let mut checked = 0;
        for base in encodings {
            for sign in [0x00, 0x80] {
                let mut bytes = base;
                bytes[31] = (bytes[31] & 0x7f) | sign;
                if let Some(point) = CompressedEdwardsY(bytes).decompress() {
                    assert_eq!(
                        is_canonical_encoding(&bytes),
                        point.compress().to_bytes() == bytes,
                        "{bytes:02x?}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 15_000, "{checked}");
    }

    #[test]
    fn decode_point_refuses_small_order_and_accepts_mixed_order() {
        for t in EIGHT_TORSION {
            assert_eq!(decode_point(&t.compress().to_bytes()), None);
            let mixed = ED25519_BASEPOINT_POINT + t;
            assert_eq!(decode_point(&mixed.compress().to_bytes()), Some(mixed));
        }
    }
}
