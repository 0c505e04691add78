//! Configuration reload: the file is re-read when its content changes; an invalid new file is
//! rejected with its messages and the last good configuration stays in force. A file that is empty
//! or missing for one poll (an editor or a ConfigMap update replacing it) is waited for, each
//! distinct problem is reported once, and the configuration in force coming back is a good reload.

use crate::config::{Config, ConfigError};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// What a poll found.
#[derive(Debug)]
pub enum Reload {
    /// Same content as the configuration in force, a problem already reported, or a file that is
    /// empty or missing for the first poll.
    Unchanged,
    /// A valid configuration is in force: a new one, or the one in force back after a problem.
    Reloaded,
    /// A new problem (invalid content, an empty or missing file that stays); the previous
    /// configuration stays in force.
    Rejected(ConfigError),
}

/// Watches one configuration file by content.
#[derive(Debug)]
pub struct ConfigReloader {
    path: PathBuf,
    current: Config,
    /// Digest of the content in force.
    in_force: [u8; 32],
    /// Digest of the last content looked at (good or bad).
    seen: [u8; 32],
    /// The problem last reported, until a good file is back.
    reported: Option<String>,
    /// The file was empty or missing at the previous poll.
    absent_once: bool,
}

impl ConfigReloader {
    /// Loads the file once; an invalid file at start-up is an error (there is no last good one).
    pub fn start(path: PathBuf) -> Result<Self, ConfigError> {
        let text = std::fs::read(&path).map_err(|source| ConfigError::Read { file: path.display().to_string(), source })?;
        let current = Config::from_bytes(&text, &path.display().to_string())?;
        let digest: [u8; 32] = Sha256::digest(&text).into();
        Ok(ConfigReloader { path, current, in_force: digest, seen: digest, reported: None, absent_once: false })
    }

    /// The configuration in force.
    pub fn current(&self) -> &Config {
        &self.current
    }

    /// Re-reads the file; reloads when its content changed.
    pub fn poll(&mut self) -> Reload {
        let file = self.path.display().to_string();
        let read = std::fs::read(&self.path);
        let absent = match &read {
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
            Ok(t) => t.iter().all(u8::is_ascii_whitespace),
        };
        if absent && !std::mem::replace(&mut self.absent_once, true) {
            return Reload::Unchanged;
        }
        if !absent {
            self.absent_once = false;
        }
        let text = match read {
            Ok(t) => t,
            Err(source) => return self.problem(ConfigError::Read { file, source }),
        };
        let digest: [u8; 32] = Sha256::digest(&text).into();
        if digest == self.in_force {
            self.seen = digest;
            // The content in force back after a reported problem (a file restored): a good reload again.
            return if self.reported.take().is_some() { Reload::Reloaded } else { Reload::Unchanged };
        }
        if digest == self.seen {
            return Reload::Unchanged;
        }
        self.seen = digest;
        match Config::from_bytes(&text, &file) {
            Ok(cfg) => {
                self.current = cfg;
                self.in_force = digest;
                self.reported = None;
                Reload::Reloaded
            }
            Err(e) => self.problem(e),
        }
    }

    /// Reports `e` unless the same problem was the last one reported.
    fn problem(&mut self, e: ConfigError) -> Reload {
        let key = e.to_string();
        if self.reported.as_deref() == Some(key.as_str()) {
            return Reload::Unchanged;
        }
        self.reported = Some(key);
        Reload::Rejected(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_new_file_keeps_the_last_good_config() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("config.yaml");
        let good = "apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\nexcludedNamespaces: [ops]\n";
        std::fs::write(&path, good).expect("write");
        let mut r = ConfigReloader::start(path.clone()).expect("start");
        assert!(matches!(r.poll(), Reload::Unchanged));
        std::fs::write(&path, "apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\nexcludedNamespace: [typo]\n").expect("write");
        match r.poll() {
            Reload::Rejected(e) => assert!(e.to_string().contains("excludedNamespace: unknown key"), "{e}"),
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert_eq!(r.current().excluded_namespaces, ["ops"], "the last good configuration stays");
        assert!(matches!(r.poll(), Reload::Unchanged), "the same bad content is reported once");
        std::fs::write(&path, good.replace("[ops]", "[ops, tools]")).expect("write");
        assert!(matches!(r.poll(), Reload::Reloaded));
        assert_eq!(r.current().excluded_namespaces, ["ops", "tools"]);
        std::fs::remove_file(&path).expect("rm");
        assert!(matches!(r.poll(), Reload::Unchanged), "a file missing for one poll is a replacement in progress");
        assert!(matches!(r.poll(), Reload::Rejected(ConfigError::Read { .. })));
        assert_eq!(r.current().excluded_namespaces, ["ops", "tools"]);
    }

    fn reloader(text: &str) -> (tempfile::TempDir, PathBuf, ConfigReloader) {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).expect("write");
        let r = ConfigReloader::start(path.clone()).expect("start");
        (dir, path, r)
    }

    const GOOD: &str = "apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\nexcludedNamespaces: [ops]\n";

    #[test]
    fn a_missing_file_is_reported_once_and_its_identical_return_is_good_again() {
        let (_dir, path, mut r) = reloader(GOOD);
        std::fs::remove_file(&path).expect("rm");
        let mut rejected = 0;
        for _ in 0..10 {
            match r.poll() {
                Reload::Rejected(e) => {
                    rejected += 1;
                    assert!(e.to_string().contains("config.yaml"), "{e}");
                }
                Reload::Unchanged => {}
                Reload::Reloaded => panic!("nothing to reload"),
            }
        }
        assert_eq!(rejected, 1, "one problem, one rejection (one Event), not one per poll");
        assert_eq!(r.current().excluded_namespaces, ["ops"], "the last good configuration stays");
        std::fs::write(&path, GOOD).expect("restore");
        assert!(matches!(r.poll(), Reload::Reloaded), "the same good file again: reload succeeds (the gauge goes back to 1)");
        assert!(matches!(r.poll(), Reload::Unchanged));
        std::fs::remove_file(&path).expect("rm");
        r.poll();
        assert!(matches!(r.poll(), Reload::Rejected(_)), "the same problem after a good file is a new occurrence");
    }

    #[test]
    fn an_empty_file_keeps_the_last_good_configuration() {
        let (_dir, path, mut r) = reloader(GOOD);
        // An editor or a ConfigMap update truncates, then writes: nothing to report.
        std::fs::write(&path, "").expect("truncate");
        assert!(matches!(r.poll(), Reload::Unchanged));
        std::fs::write(&path, GOOD.replace("[ops]", "[ops, tools]")).expect("write");
        assert!(matches!(r.poll(), Reload::Reloaded));
        assert_eq!(r.current().excluded_namespaces, ["ops", "tools"]);
        // An empty file that stays is reported once, and never replaces the configuration in force.
        std::fs::write(&path, "# nothing here\n").expect("empty");
        let outcomes: Vec<String> = (0..5)
            .map(|_| match r.poll() {
                Reload::Rejected(e) => e.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(outcomes.iter().filter(|o| o.contains("is empty")).count(), 1, "{outcomes:?}");
        assert!(outcomes.iter().all(|o| o.contains("is empty") || o == "Unchanged"), "{outcomes:?}");
        assert_eq!(r.current().excluded_namespaces, ["ops", "tools"]);
    }

    #[test]
    fn config_check_and_the_operator_accept_and_reject_the_same_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let files: [(&str, &[u8]); 4] = [
            ("good.yaml", GOOD.as_bytes()),
            ("empty.yaml", b""),
            ("comments.yaml", b"# only a comment\n"),
            ("latin1.yaml", b"apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\nexcludedNamespaces: [caf\xe9]\n"),
        ];
        for (name, bytes) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("write");
            let check = Config::load(&path).map(|_| ()).map_err(|e| e.to_string());
            let operator = ConfigReloader::start(path.clone()).map(|_| ()).map_err(|e| e.to_string());
            assert_eq!(check, operator, "{name}");
            assert_eq!(check.is_ok(), name == "good.yaml", "{name}: {check:?}");
        }
    }
}
