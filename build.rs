//! Build script: `KOMPLIANCE_GIT_COMMIT` for `kompliance --version` (the short commit from git, or the
//! variable of the same name when set, as in an image built without `.git`; `unknown` otherwise).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=KOMPLIANCE_GIT_COMMIT");
    let commit = match std::env::var("KOMPLIANCE_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => {
            // Rebuild when HEAD moves: HEAD itself, the branch it names, and packed refs.
            if let Some(git_dir) = git(&["rev-parse", "--git-dir"]) {
                println!("cargo:rerun-if-changed={git_dir}/HEAD");
                if let (Some(common), Some(head_ref)) = (git(&["rev-parse", "--git-common-dir"]), git(&["symbolic-ref", "-q", "HEAD"])) {
                    println!("cargo:rerun-if-changed={common}/{head_ref}");
                    println!("cargo:rerun-if-changed={common}/packed-refs");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string())
        }
    };
    println!("cargo:rustc-env=KOMPLIANCE_GIT_COMMIT={commit}");
}
