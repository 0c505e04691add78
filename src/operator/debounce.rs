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
    /// The earliest deadline and its namespace, kept without a scan per change (a change only
    /// moves its own namespace's deadline later); `None` with `rescan` set means "scan again".
    earliest: Option<(Instant, String)>,
    rescan: bool,
}

impl Debouncer {
    /// A debouncer with the given quiet window and maximum delay.
    pub fn new(quiet: Duration, max_delay: Duration) -> Self {
        Debouncer { quiet, max_delay: max_delay.max(quiet), pending: BTreeMap::new(), earliest: None, rescan: false }
    }

    /// Marks `ns` changed at `now`.
    pub fn touch(&mut self, ns: &str, now: Instant) {
        if let Some((_, last)) = self.pending.get_mut(ns) {
            *last = now;
            // Its deadline moved later: if it was the earliest, another may be now.
            if self.earliest.as_ref().is_some_and(|(_, e)| e == ns) {
                self.rescan = true;
            }
            return;
        }
        self.pending.insert(ns.to_string(), (now, now));
        let deadline = self.deadline(now, now);
        if !self.rescan && self.earliest.as_ref().is_none_or(|(d, _)| deadline < *d) {
            self.earliest = Some((deadline, ns.to_string()));
        }
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
        if !due.is_empty() {
            self.rescan = true;
        }
        due
    }

    /// Every pending namespace at once (shutdown: write what is pending).
    pub fn drain(&mut self) -> Vec<String> {
        (self.earliest, self.rescan) = (None, false);
        std::mem::take(&mut self.pending).into_keys().collect()
    }

    /// When the next namespace falls due, if any is pending (a scan only after the earliest moved).
    pub fn next_deadline(&mut self) -> Option<Instant> {
        if self.rescan {
            self.rescan = false;
            self.earliest = self.pending.iter().map(|(ns, (f, l))| (self.deadline(*f, *l), ns)).min().map(|(d, ns)| (d, ns.clone()));
        }
        self.earliest.as_ref().map(|(d, _)| *d)
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

    #[test]
    fn the_next_deadline_kept_without_scans_is_always_the_earliest() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut d = Debouncer::new(ms(2000), ms(30_000));
        let scan = |d: &Debouncer| d.pending.values().map(|(f, l)| d.deadline(*f, *l)).min();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for step in 0..5_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let now = t0 + ms(step * 7);
            if x.is_multiple_of(50) {
                d.due(now);
            } else {
                d.touch(&format!("ns-{}", x % 40), now);
            }
            assert_eq!(d.next_deadline(), scan(&d), "step {step}");
        }
    }
}
