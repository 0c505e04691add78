//! Configuration reload: the file is re-read when its content changes; an invalid new file is
//! rejected with its messages and the last good configuration stays in force.

use crate::config::{Config, ConfigError};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// What a poll found.
#[derive(Debug)]
pub enum Reload {
    /// Same content as the configuration in force (or as the last rejected one).
    Unchanged,
    /// A new valid configuration, now in force.
    Reloaded,
    /// The new content is invalid; the previous configuration stays in force.
    Rejected(ConfigError),
}

/// Watches one configuration file by content.
#[derive(Debug)]
pub struct ConfigReloader {
    path: PathBuf,
    current: Config,
    seen: Option<[u8; 32]>,
}

impl ConfigReloader {
    /// Loads the file once; an invalid file at start-up is an error (there is no last good one).
    pub fn start(path: PathBuf) -> Result<Self, ConfigError> {
        let text = std::fs::read(&path).map_err(|source| ConfigError::Read { file: path.display().to_string(), source })?;
        let current = Config::parse(&String::from_utf8_lossy(&text), &path.display().to_string())?;
        Ok(ConfigReloader { path, current, seen: Some(Sha256::digest(&text).into()) })
    }

    /// The configuration in force.
    pub fn current(&self) -> &Config {
        &self.current
    }

    /// Re-reads the file; reloads when its content changed.
    pub fn poll(&mut self) -> Reload {
        let file = self.path.display().to_string();
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(source) => return Reload::Rejected(ConfigError::Read { file, source }),
        };
        let digest: [u8; 32] = Sha256::digest(&text).into();
        if self.seen == Some(digest) {
            return Reload::Unchanged;
        }
        self.seen = Some(digest);
        match Config::parse(&String::from_utf8_lossy(&text), &file) {
            Ok(cfg) => {
                self.current = cfg;
                Reload::Reloaded
            }
            Err(e) => Reload::Rejected(e),
        }
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
        assert!(matches!(r.poll(), Reload::Rejected(ConfigError::Read { .. })));
        assert_eq!(r.current().excluded_namespaces, ["ops", "tools"]);
    }
}
