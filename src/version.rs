//! Kubernetes version strings (`v1.28.3-gke.1`, `1.13.4+k3s1`) parsed to comparable numbers.

use std::fmt;

/// A `major.minor.patch` version; missing parts are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl Version {
    /// Builds a version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version { major, minor, patch }
    }

    /// Parses after stripping a leading `v` and any `-...` or `+...` suffix; `None` when not numeric.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        let core = s.split(['-', '+']).next().unwrap_or("");
        let mut parts = core.split('.');
        let mut next = |required: bool| -> Option<u32> {
            match parts.next() {
                Some(p) => {
                    // GKE-style minor versions such as "28+" were handled by the split above.
                    p.parse().ok()
                }
                None if required => None,
                None => Some(0),
            }
        };
        let v = Version { major: next(true)?, minor: next(true)?, patch: next(false)? };
        if parts.next().is_some() {
            return None;
        }
        Some(v)
    }

    /// True inside CVE-2019-9946's vulnerable ranges: < 1.11.9, 1.12.0–1.12.6, 1.13.0–1.13.4.
    pub fn cve_2019_9946(self) -> bool {
        self < Version::new(1, 11, 9)
            || (Version::new(1, 12, 0) <= self && self <= Version::new(1, 12, 6))
            || (Version::new(1, 13, 0) <= self && self <= Version::new(1, 13, 4))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_prefix_and_suffixes() {
        assert_eq!(Version::parse("v1.28.3-gke.1"), Some(Version::new(1, 28, 3)));
        assert_eq!(Version::parse("1.13.4+k3s1"), Some(Version::new(1, 13, 4)));
        assert_eq!(Version::parse("1.29"), Some(Version::new(1, 29, 0)));
        assert_eq!(Version::parse("latest"), None);
        assert_eq!(Version::parse("1"), None);
    }

    #[test]
    fn vulnerable_ranges_edges() {
        let v = |s: &str| Version::parse(s).unwrap().cve_2019_9946();
        assert!(v("1.11.8") && !v("1.11.9"));
        assert!(v("1.12.0") && v("1.12.6") && !v("1.12.7"));
        assert!(v("1.13.0") && v("1.13.4") && !v("1.13.5"));
        assert!(!v("1.14.0") && !v("1.32.1"));
    }
}
