//! The twelve test vectors of "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko,
//! SSR 2020), as published in `cases.json` of github.com/novifinancial/ed25519-speccheck,
//! with the verdict of our rule (`medledger_crypto::eddsa`). Single and batch verification
//! must both give it.

use medledger_crypto::{CryptoError, SigItem, verify, verify_batch, verify_each};
use medledger_types::{PublicKey, Signature};

struct Case {
    message: &'static str,
    pub_key: &'static str,
    signature: &'static str,
    /// Our rule's verdict.
    accept: bool,
    /// ed25519-dalek 2's `verify_strict`, as the speccheck results table reports it.
    strict_accepts: bool,
}

const CASES: [Case; 12] = [
    // 0: S = 0, A and R of small order (order 8). Refused: small-order A (step 1).
    Case {
        message: "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
        pub_key: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        signature: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000",
        accept: false,
        strict_accepts: false,
    },
    // 1: A of small order, R mixed. Refused: small-order A (step 1).
    Case {
        message: "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        pub_key: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        signature: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        accept: false,
        strict_accepts: false,
    },
    // 2: A mixed, R of small order. Refused: small-order R (step 2).
    Case {
        message: "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
        pub_key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        signature: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
        accept: false,
        strict_accepts: false,
    },
    // 3: A and R mixed; both the cofactored and the cofactorless equation hold. Accepted:
    // mixed order is allowed, encodings canonical, S < ℓ.
    Case {
        message: "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        pub_key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        signature: "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
        accept: true,
        strict_accepts: true,
    },
    // 4: A and R mixed; only the cofactored equation holds. Accepted (step 4 is
    // cofactored); verify_strict, cofactorless, refuses.
    Case {
        message: "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        pub_key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        signature: "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
        accept: true,
        strict_accepts: false,
    },
    // 5: A mixed, R of order ℓ; the cofactored equation holds as long as 8·k is not
    // reduced mod ℓ before it multiplies A. Accepted: we reduce k, multiply, then multiply
    // the whole difference by 8. verify_strict, cofactorless, refuses.
    Case {
        message: "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        pub_key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        signature: "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
        accept: true,
        strict_accepts: false,
    },
    // 6: S > ℓ (the equation would hold with S mod ℓ). Refused: S not canonical (step 3).
    Case {
        message: "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        pub_key: "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        signature: "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
        accept: false,
        strict_accepts: false,
    },
    // 7: S ≫ ℓ, with the top bit set. Refused: S not canonical (step 3).
    Case {
        message: "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        pub_key: "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        signature: "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22",
        accept: false,
        strict_accepts: false,
    },
    // 8: R = (−0, −1), a non-canonical encoding of the point of order 2; k over the
    // reduced encoding. Refused: R not canonical and of small order (step 2).
    Case {
        message: "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        pub_key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        signature: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f",
        accept: false,
        strict_accepts: false,
    },
    // 9: the same R, k over the bytes as sent. Refused: step 2.
    Case {
        message: "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        pub_key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        signature: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908",
        accept: false,
        strict_accepts: false,
    },
    // 10: A = (−0, −1), non-canonical and of small order; k over the reduced encoding.
    // Refused: step 1.
    Case {
        message: "e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b",
        pub_key: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        signature: "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        accept: false,
        strict_accepts: false,
    },
    // 11: the same A, k over the bytes as sent. Refused: step 1.
    Case {
        message: "39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f",
        pub_key: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        signature: "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        accept: false,
        strict_accepts: false,
    },
];

struct Decoded {
    message: Vec<u8>,
    pub_key: PublicKey,
    signature: Signature,
}

fn decode(case: &Case) -> Decoded {
    Decoded {
        message: hex::decode(case.message).unwrap(),
        pub_key: case.pub_key.parse().unwrap(),
        signature: case.signature.parse().unwrap(),
    }
}

fn strict_accepts(d: &Decoded) -> bool {
    ed25519_dalek::VerifyingKey::from_bytes(d.pub_key.as_bytes()).is_ok_and(|k| {
        k.verify_strict(&d.message, &ed25519_dalek::Signature::from_bytes(&d.signature.0))
            .is_ok()
    })
}

#[test]
fn single_and_batch_give_the_rules_verdict() {
    for (i, case) in CASES.iter().enumerate() {
        let d = decode(case);
        let single = verify(&d.pub_key, &d.message, &d.signature);
        assert_eq!(single.is_ok(), case.accept, "case {i}: {single:?}");
        let item = SigItem {
            key: &d.pub_key,
            msg: &d.message,
            sig: &d.signature,
        };
        for _ in 0..16 {
            assert_eq!(verify_batch(&[SigItem { ..item }]), single, "case {i}: batch of one");
        }
    }
}

#[test]
fn which_step_refuses() {
    let expected = [
        Err(CryptoError::BadPublicKey(decode(&CASES[0]).pub_key)),
        Err(CryptoError::BadPublicKey(decode(&CASES[1]).pub_key)),
        Err(CryptoError::BadSignature),
        Ok(()),
        Ok(()),
        Ok(()),
        Err(CryptoError::BadSignature),
        Err(CryptoError::BadSignature),
        Err(CryptoError::BadSignature),
        Err(CryptoError::BadSignature),
        Err(CryptoError::BadPublicKey(decode(&CASES[10]).pub_key)),
        Err(CryptoError::BadPublicKey(decode(&CASES[11]).pub_key)),
    ];
    for (i, (case, want)) in CASES.iter().zip(expected).enumerate() {
        let d = decode(case);
        assert_eq!(verify(&d.pub_key, &d.message, &d.signature), want, "case {i}");
    }
}

/// All twelve in one batch: `verify_each` names exactly the refused ones. The three accepted
/// ones pass as a batch, and fail as soon as any one refused case joins them.
#[test]
fn in_one_batch_each_entry_keeps_its_verdict() {
    let decoded: Vec<Decoded> = CASES.iter().map(decode).collect();
    let items: Vec<SigItem<'_>> = decoded
        .iter()
        .map(|d| SigItem {
            key: &d.pub_key,
            msg: &d.message,
            sig: &d.signature,
        })
        .collect();
    for _ in 0..16 {
        let results = verify_each(&items);
        for (i, (case, r)) in CASES.iter().zip(&results).enumerate() {
            assert_eq!(r.is_ok(), case.accept, "case {i}");
        }
        let accepted: Vec<SigItem<'_>> = items
            .iter()
            .zip(&CASES)
            .filter(|(_, c)| c.accept)
            .map(|(i, _)| SigItem { ..*i })
            .collect();
        assert_eq!(accepted.len(), 3);
        assert_eq!(verify_batch(&accepted), Ok(()));
        for (refused, _) in items.iter().zip(&CASES).filter(|(_, c)| !c.accept) {
            let mut batch: Vec<SigItem<'_>> = accepted.iter().map(|i| SigItem { ..*i }).collect();
            batch.push(SigItem { ..*refused });
            assert!(verify_batch(&batch).is_err());
        }
    }
}

/// Where our rule and ed25519-dalek's `verify_strict` part: cases 4 and 5, mixed-order
/// points that satisfy only the cofactored equation.
#[test]
fn differs_from_verify_strict_only_on_cofactored_only_cases() {
    let mut differing = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let d = decode(case);
        assert_eq!(strict_accepts(&d), case.strict_accepts, "case {i}");
        if strict_accepts(&d) != verify(&d.pub_key, &d.message, &d.signature).is_ok() {
            differing.push(i);
        }
    }
    assert_eq!(differing, [4, 5]);
}
