//! Where each recommendation is documented: one stable URL per id, used by every surface that links to it.

/// The base of the repository's documentation (`docs/` on the default branch).
pub const DOCS_BASE_URL: &str = "https://github.com/kompliance/kompliance/blob/main/docs";

/// The documentation section of one recommendation: `docs/recommendations.md#<id>`.
pub fn recommendation_doc_url(id: &str) -> String {
    format!("{DOCS_BASE_URL}/recommendations.md#{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_names_the_recommendation_section() {
        assert_eq!(
            recommendation_doc_url("privileged-containers"),
            "https://github.com/kompliance/kompliance/blob/main/docs/recommendations.md#privileged-containers"
        );
    }
}
