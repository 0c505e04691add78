//! `kompliance explain ID`: a recommendation's section of `docs/recommendations.md`, built into the binary.

use super::{CATALOG, Lang};

/// `docs/recommendations.md` as committed (a test keeps it in step with the catalogue and fixtures).
pub const RECOMMENDATIONS_MD: &str = include_str!("../../docs/recommendations.md");

/// How many close ids an unknown id's error lists at most.
const CLOSE_IDS_SHOWN: usize = 3;

/// The section of a recommendation (from its `## ID` heading to the next one), or `None` for an unknown id.
pub fn section(id: &str) -> Option<&'static str> {
    let heading = format!("\n## {id}\n");
    let start = RECOMMENDATIONS_MD.find(&heading)? + 1;
    let rest = &RECOMMENDATIONS_MD[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    Some(rest[..end].trim_end())
}

/// The section as printed: with `--lang ko` the title is the Korean one.
pub fn render(id: &str, lang: Lang) -> Option<String> {
    let text = section(id)?;
    let rec = super::by_id(id)?;
    Some(match lang {
        Lang::En => format!("{text}\n\n{}\n", super::links::recommendation_doc_url(id)),
        Lang::Ko => {
            let title_line = format!("**#{} {}** ({})", rec.number, rec.title, rec.title_ko);
            let ko_line = format!("**#{} {}** ({})", rec.number, rec.title_ko, rec.title);
            format!("{}\n\n{}\n", text.replacen(&title_line, &ko_line, 1), super::links::recommendation_doc_url(id))
        }
    })
}

/// Levenshtein distance between two short strings.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The ids closest to an unknown one: those containing it, then those sharing a word, each by edit distance.
pub fn close_ids(id: &str) -> Vec<&'static str> {
    let id = id.to_ascii_lowercase();
    let words: Vec<&str> = id.split(['-', '_', ' ']).filter(|w| w.len() >= 3).collect();
    let mut scored: Vec<(bool, bool, usize, &'static str)> =
        CATALOG.iter().map(|r| (!r.id.contains(id.as_str()), !words.iter().any(|w| r.id.contains(w)), distance(&id, r.id), r.id)).collect();
    scored.sort();
    scored.into_iter().take(CLOSE_IDS_SHOWN).map(|(_, _, _, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_has_a_section_that_stops_before_the_next() {
        for r in &CATALOG {
            let s = section(r.id).unwrap_or_else(|| panic!("{}: no section", r.id));
            assert!(s.starts_with(&format!("## {}\n", r.id)));
            assert_eq!(s.matches("\n## ").count(), 0, "{}: runs into the next section", r.id);
            assert!(s.contains(r.remediation));
        }
        assert!(section("no-such-id").is_none());
    }

    #[test]
    fn korean_puts_the_korean_title_first() {
        let r = &CATALOG[17];
        let ko = render(r.id, Lang::Ko).unwrap_or_default();
        assert!(ko.contains(&format!("**#{} {}**", r.number, r.title_ko)), "{ko}");
        let en = render(r.id, Lang::En).unwrap_or_default();
        assert!(en.contains(&format!("**#{} {}**", r.number, r.title)));
    }

    #[test]
    fn unknown_ids_get_close_ones() {
        assert_eq!(close_ids("privileged-container")[0], "privileged-containers");
        assert_eq!(close_ids("hostpath")[0], "hostpath-volumes");
        assert!(close_ids("privileged").contains(&"privileged-containers"));
        assert_eq!(close_ids("zzz").len(), CLOSE_IDS_SHOWN);
    }
}
