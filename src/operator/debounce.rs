//! When a changed namespace's report is written: after a quiet window (`--debounce`), and at the
//! latest `--max-delay` after its first unwritten change (the writer skips unchanged content).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Tracks dirty namespaces and says which are due for a write.
#[derive(Debug)]
pub struct Debouncer {
    quiet: Duration,
    max_delay: Duration,
    pending: BTreeMap<String, (Instant, Instant)>,
}

impl Debouncer {
    /// A debouncer with the given quiet window and maximum delay.
    pub fn new(quiet: Duration, max_delay: Duration) -> Self {
        Debouncer { quiet, max_delay: max_delay.max(quiet), pending: BTreeMap::new() }
    }

    /// Marks `ns` changed at `now`.
    pub fn touch(&mut self, ns: &str, now: Instant) {
        self.pending.entry(ns.to_string()).and_modify(|(_, last)| *last = now).or_insert((now, now));
    }

    fn deadline(&self, first: Instant, last: Instant) -> Instant {
        (last + self.quiet).min(first + self.max_delay)
    }

    /// Removes and returns the namespaces due at `now`, sorted.
    pub fn due(&mut self, now: Instant) -> Vec<String> {
        let due: Vec<String> = self.pending.iter().filter(|(_, (f, l))| self.deadline(*f, *l) <= now).map(|(ns, _)| ns.clone()).collect();
        for ns in &due {
            self.pending.remove(ns);
        }
        due
    }

    /// Every pending namespace at once (shutdown: write what is pending).
    pub fn drain(&mut self) -> Vec<String> {
        std::mem::take(&mut self.pending).into_keys().collect()
    }

    /// When the next namespace falls due, if any is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|(f, l)| self.deadline(*f, *l)).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_window_and_max_delay() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut d = Debouncer::new(s(2), s(30));
        d.touch("a", t0);
        assert!(d.due(t0 + s(1)).is_empty());
        d.touch("a", t0 + s(1));
        assert_eq!(d.next_deadline(), Some(t0 + s(3)));
        assert!(d.due(t0 + s(2)).is_empty(), "the second change restarts the quiet window");
        assert_eq!(d.due(t0 + s(3)), ["a"]);
        assert!(d.due(t0 + s(10)).is_empty(), "written once");
        // A namespace that never goes quiet is written at max-delay.
        d.touch("busy", t0);
        for k in 1..=31 {
            d.touch("busy", t0 + s(k));
            let due = d.due(t0 + s(k));
            if k < 30 {
                assert!(due.is_empty(), "{k}");
            } else {
                assert_eq!(due, ["busy"], "{k}");
                break;
            }
        }
    }

    #[test]
    fn drain_returns_everything_pending() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Duration::from_secs(2), Duration::from_secs(30));
        d.touch("b", t0);
        d.touch("a", t0);
        assert_eq!(d.drain(), ["a", "b"]);
        assert_eq!(d.next_deadline(), None);
    }
}
