//! A small bounded cache of metrics authorization decisions, keyed by a hash of (token, verb,
//! path) so tokens are not kept: a scrape every 15 s then costs no API calls within the TTL.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default time a decision is reused.
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(60);
/// Default number of decisions kept.
pub const AUTH_CACHE_SIZE: usize = 1024;

/// What the API server answered for a token and a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The user may make the request.
    Allowed,
    /// The token does not authenticate (401).
    Unauthenticated,
    /// The user may not make the request (403).
    Forbidden,
}

/// Cache key: SHA-256 of the token, verb and path.
pub type Key = [u8; 32];

/// Decisions with their expiry; both allowed and refused ones, for `ttl`, at most `capacity`.
#[derive(Debug)]
pub struct AuthCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<Key, (Decision, Instant)>>,
}

impl Default for AuthCache {
    fn default() -> Self {
        AuthCache::new(AUTH_CACHE_TTL, AUTH_CACHE_SIZE)
    }
}

impl AuthCache {
    /// A cache keeping up to `capacity` decisions for `ttl` each (a zero TTL caches nothing).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        AuthCache { ttl, capacity, entries: Mutex::default() }
    }

    /// The key of a request.
    pub fn key(token: &str, verb: &str, path: &str) -> Key {
        let mut h = Sha256::new();
        for part in [token, verb, path] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }

    /// A decision made less than the TTL ago.
    pub fn get(&self, key: &Key) -> Option<Decision> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|(_, expires)| Instant::now() < *expires).map(|(d, _)| *d)
    }

    /// Keeps a decision; when full, expired entries go first, then the one expiring soonest.
    pub fn insert(&self, key: Key, decision: Decision) {
        if self.ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (_, expires)| now < *expires);
            if entries.len() >= self.capacity
                && let Some(oldest) = entries.iter().min_by_key(|(_, (_, expires))| *expires).map(|(k, _)| *k)
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (decision, now + self.ttl));
    }

    /// Number of decisions held (expired ones included until they are pushed out).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_expire_after_the_ttl_and_the_size_stays_bounded() {
        let cache = AuthCache::new(Duration::from_millis(100), 3);
        let k = |t: &str| AuthCache::key(t, "get", "/metrics");
        cache.insert(k("a"), Decision::Allowed);
        cache.insert(k("b"), Decision::Forbidden);
        assert_eq!(cache.get(&k("a")), Some(Decision::Allowed));
        assert_eq!(cache.get(&k("b")), Some(Decision::Forbidden), "refusals are cached too");
        assert_eq!(cache.get(&k("c")), None);
        assert_ne!(AuthCache::key("a", "get", "/metrics"), AuthCache::key("a", "get", "/other"), "the path is part of the key");
        assert_ne!(AuthCache::key("ab", "c", "/m"), AuthCache::key("a", "bc", "/m"), "parts do not run together");
        cache.insert(k("c"), Decision::Unauthenticated);
        cache.insert(k("d"), Decision::Allowed);
        assert_eq!(cache.len(), 3, "bounded");
        assert_eq!(cache.get(&k("a")), None, "the entry expiring soonest made room");
        assert_eq!(cache.get(&k("d")), Some(Decision::Allowed));
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(cache.get(&k("d")), None, "expired");
        cache.insert(k("e"), Decision::Allowed);
        assert_eq!(cache.len(), 1, "expired entries are dropped first when full");
        let none = AuthCache::new(Duration::ZERO, 3);
        none.insert(k("a"), Decision::Allowed);
        assert!(none.is_empty());
    }
}
