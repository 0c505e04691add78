//! Which outcomes are written: `--openreports-results` parsed into a filter, and the
//! `configuration.limits.statusFilter` that tells readers which statuses were kept.

use super::types::Status;

/// Tokens of `--openreports-results`.
pub const TOKENS: [&str; 5] = ["fail", "error", "skip-exempt", "skip", "pass"];

/// A token that is not one of [`TOKENS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown OpenReports result {0:?} (expected a comma-separated list of: fail, error, skip-exempt, skip, pass)")]
pub struct FilterError(pub String);

/// The outcomes kept: `skip-exempt` keeps only the skips of exempt findings, `skip` every skip
/// (also recommendations not configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResultFilter {
    /// Unhealthy verdicts.
    pub fail: bool,
    /// Resources that could not be judged.
    pub error: bool,
    /// Exempt findings.
    pub skip_exempt: bool,
    /// Every other skip (not configured).
    pub skip_other: bool,
    /// Healthy verdicts.
    pub pass: bool,
}

impl ResultFilter {
    /// Every outcome (tests, comparisons).
    pub const ALL: ResultFilter = ResultFilter { fail: true, error: true, skip_exempt: true, skip_other: true, pass: true };

    /// Parses a comma-separated list of [`TOKENS`] (spaces allowed, empty items ignored).
    pub fn parse(s: &str) -> Result<ResultFilter, FilterError> {
        let mut f = ResultFilter::default();
        for t in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match t {
                "fail" => f.fail = true,
                "error" => f.error = true,
                "skip-exempt" => f.skip_exempt = true,
                "skip" => (f.skip_exempt, f.skip_other) = (true, true),
                "pass" => f.pass = true,
                other => return Err(FilterError(other.to_string())),
            }
        }
        Ok(f)
    }

    /// Whether a result with `status` is kept; `exempt` says a skip is an exempt finding's.
    pub fn keeps(&self, status: Status, exempt: bool) -> bool {
        match status {
            Status::Fail => self.fail,
            Status::Error => self.error,
            Status::Skip if exempt => self.skip_exempt,
            Status::Skip => self.skip_other,
            Status::Pass => self.pass,
        }
    }

    /// The statuses a report may contain, in the CRD's enum order, for `statusFilter`.
    pub fn status_filter(&self) -> Vec<&'static str> {
        let mut out = vec![];
        if self.pass {
            out.push("pass");
        }
        if self.fail {
            out.push("fail");
        }
        if self.error {
            out.push("error");
        }
        if self.skip_exempt || self.skip_other {
            out.push("skip");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tokens_and_rejects_unknown_ones() {
        let f = ResultFilter::parse("fail, error,skip-exempt").expect("valid");
        assert!(f.fail && f.error && f.skip_exempt && !f.skip_other && !f.pass);
        assert_eq!(f.status_filter(), ["fail", "error", "skip"]);
        assert!(f.keeps(Status::Skip, true));
        assert!(!f.keeps(Status::Skip, false));
        assert!(!f.keeps(Status::Pass, false));
        assert_eq!(ResultFilter::parse("skip,pass,fail,error").expect("valid"), ResultFilter::ALL);
        assert_eq!(ResultFilter::parse("fail,warn"), Err(FilterError("warn".into())));
        assert_eq!(ResultFilter::parse("").expect("empty").status_filter(), Vec::<&str>::new());
    }
}
