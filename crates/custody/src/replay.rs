//! Remembers single-use ids (`jti`) until they expire, to refuse replays.

use std::collections::HashMap;

/// Ids with their expiry (seconds since the epoch). Expired ids are swept at most once a
/// second, so a check costs a hash lookup, not a scan.
#[derive(Default)]
pub struct ReplayCache {
    seen: HashMap<String, u64>,
    swept_at: u64,
}

impl ReplayCache {
    /// Records `id` until `expires`; false if it was already seen and has not expired.
    pub fn first_use(&mut self, id: String, expires: u64, now: u64) -> bool {
        if now > self.swept_at {
            self.seen.retain(|_, exp| *exp > now);
            self.swept_at = now;
        }
        match self.seen.get(&id) {
            Some(exp) if *exp > now => false,
            _ => {
                self.seen.insert(id, expires);
                true
            }
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_replay_until_expiry() {
        let mut c = ReplayCache::default();
        assert!(c.first_use("a".into(), 10, 1));
        assert!(!c.first_use("a".into(), 10, 5));
        assert!(c.first_use("b".into(), 10, 5));
        assert!(c.first_use("a".into(), 20, 11), "expired ids may be used again");
        assert_eq!(c.len(), 1, "the sweep at t=11 dropped b");
    }
}
