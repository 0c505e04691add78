//! Relist bookkeeping: which objects each watch has delivered, so that a (re)list tells what is
//! gone, an event says whether it adds or modifies, and the initial sync ends when every watch
//! has listed once.

use hashbrown::{HashMap, HashSet};

/// An object's (namespace, name).
pub type Key = (String, String);

/// What each watch (by its number) has delivered.
#[derive(Debug, Default)]
pub struct Relists {
    known: HashMap<usize, HashSet<Key>>,
    relisting: HashMap<usize, HashSet<Key>>,
    synced: HashSet<usize>,
    streams: usize,
}

impl Relists {
    /// Bookkeeping for `streams` new watches (numbered from 0).
    pub fn new(streams: usize) -> Self {
        Relists { streams, ..Relists::default() }
    }

    /// Watch `id` starts a (re)list.
    pub fn begin(&mut self, id: usize) {
        self.relisting.insert(id, HashSet::new());
    }

    /// An object of the (re)list of watch `id`: true when it was known already ("modified").
    pub fn listed(&mut self, id: usize, key: Key) -> bool {
        let known = self.known.get(&id).is_some_and(|k| k.contains(&key));
        self.relisting.entry(id).or_default().insert(key);
        known
    }

    /// The (re)list of watch `id` is complete: the objects known before and not listed again are gone.
    pub fn done(&mut self, id: usize) -> Vec<Key> {
        let seen = self.relisting.remove(&id).unwrap_or_default();
        let mut gone: Vec<Key> = self.known.get(&id).map(|k| k.difference(&seen).cloned().collect()).unwrap_or_default();
        gone.sort();
        self.known.insert(id, seen);
        self.synced.insert(id);
        gone
    }

    /// True once every watch has completed a list.
    pub fn all_synced(&self) -> bool {
        self.synced.len() == self.streams
    }

    /// An object was added or changed: true when it was known already ("modified").
    pub fn applied(&mut self, id: usize, key: Key) -> bool {
        !self.known.entry(id).or_default().insert(key)
    }

    /// An object was deleted.
    pub fn deleted(&mut self, id: usize, key: &Key) {
        if let Some(k) = self.known.get_mut(&id) {
            k.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        ("ns".into(), name.into())
    }

    #[test]
    fn a_relist_reports_what_disappeared_while_the_watch_was_away() {
        let mut r = Relists::new(2);
        r.begin(0);
        assert!(!r.listed(0, key("a")));
        assert!(!r.listed(0, key("b")));
        assert!(r.done(0).is_empty());
        assert!(!r.all_synced(), "watch 1 has not listed yet");
        r.begin(1);
        assert!(r.done(1).is_empty());
        assert!(r.all_synced());
        // The watch restarts (a 410, a stall): b is not listed again, c is new, a is known.
        r.begin(0);
        assert!(r.listed(0, key("a")));
        assert!(!r.listed(0, key("c")));
        assert_eq!(r.done(0), [key("b")]);
    }

    #[test]
    fn events_between_lists_keep_the_known_set_current() {
        let mut r = Relists::new(1);
        assert!(!r.applied(0, key("a")), "first sight is an add");
        assert!(r.applied(0, key("a")), "then a modification");
        r.deleted(0, &key("a"));
        r.begin(0);
        assert!(!r.listed(0, key("b")));
        assert!(r.done(0).is_empty(), "a deleted object is not reported gone again");
    }
}
