//! Hints for install errors, without asking the registry: the known `@openfn/language-*`
//! adaptor nearest to a misspelt one, and the published versions nearest to a missing one.

use nodejs_semver::Version;

/// The `@openfn/language-*` adaptors published by OpenFn (short names), for "did you mean".
const KNOWN_ADAPTORS: &[&str] = &[
    "asana",
    "beyonic",
    "bigquery",
    "cartodb",
    "cht",
    "commcare",
    "common",
    "dhis2",
    "dynamics",
    "emis",
    "facebook",
    "fhir",
    "fhir-4",
    "fhir-fr",
    "fhir-ndr-et",
    "gmail",
    "godata",
    "googledrive",
    "googlehealthcare",
    "googlesheets",
    "hive",
    "http",
    "inform",
    "kobotoolbox",
    "magpi",
    "mailchimp",
    "mailgun",
    "maximo",
    "medicmobile",
    "mogli",
    "mongodb",
    "monnify",
    "motherduck",
    "msgraph",
    "mssql",
    "mysql",
    "nexmo",
    "ocl",
    "odk",
    "openboxes",
    "openfn",
    "openhim",
    "openimis",
    "openlmis",
    "openmrs",
    "openspp",
    "postgresql",
    "primero",
    "progres",
    "rapidpro",
    "redis",
    "resourcemap",
    "salesforce",
    "satusehat",
    "senaite",
    "sftp",
    "smpp",
    "surveycto",
    "telerivet",
    "testing",
    "twilio",
    "varo",
    "vtiger",
    "wigal",
    "zata",
];

/// The known `@openfn/language-*` adaptor whose short name is within a small edit distance of
/// `name`'s (`@openfn/language-commmon` → `@openfn/language-common`); `None` for other scopes,
/// for known names and when nothing is close.
pub fn suggest_adaptor(name: &str) -> Option<String> {
    let short = name.strip_prefix("@openfn/language-")?;
    if KNOWN_ADAPTORS.contains(&short) {
        return None;
    }
    let limit = (short.chars().count() / 3).clamp(1, 3);
    KNOWN_ADAPTORS
        .iter()
        .map(|known| (edit_distance(short, known), *known))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, known)| format!("@openfn/language-{known}"))
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Up to four published versions around `requirement` (two below, two above, when it is a
/// version), else the four highest; `versions` ascending.
pub(crate) fn nearest_versions<'a>(
    versions: impl ExactSizeIterator<Item = &'a Version>,
    requirement: &str,
) -> Vec<String> {
    let all: Vec<&Version> = versions.collect();
    let wanted = Version::parse(requirement.trim_start_matches(['=', 'v', '^', '~'])).ok();
    let at = match wanted {
        Some(w) => all.partition_point(|v| **v < w),
        None => all.len(),
    };
    let from = at.saturating_sub(if at == all.len() { 4 } else { 2 });
    let to = (from + 4).min(all.len());
    all[from..to].iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_adaptors_get_a_suggestion() {
        assert_eq!(
            suggest_adaptor("@openfn/language-commmon").as_deref(),
            Some("@openfn/language-common")
        );
        assert_eq!(
            suggest_adaptor("@openfn/language-htp").as_deref(),
            Some("@openfn/language-http")
        );
        assert_eq!(suggest_adaptor("@openfn/language-common"), None);
        assert_eq!(suggest_adaptor("@openfn/language-zzzzzzzzz"), None);
        assert_eq!(suggest_adaptor("lodash"), None);
    }

    #[test]
    fn nearest_versions_surround_the_missing_one() {
        let versions: Vec<Version> = ["1.0.0", "1.1.0", "2.0.0", "2.1.0", "3.0.0", "4.0.0"]
            .iter()
            .map(|v| Version::parse(v).unwrap())
            .collect();
        assert_eq!(
            nearest_versions(versions.iter(), "2.0.5"),
            ["1.1.0", "2.0.0", "2.1.0", "3.0.0"]
        );
        assert_eq!(
            nearest_versions(versions.iter(), "9.9.9"),
            ["2.0.0", "2.1.0", "3.0.0", "4.0.0"]
        );
        assert_eq!(
            nearest_versions(versions.iter(), "0.0.1"),
            ["1.0.0", "1.1.0", "2.0.0", "2.1.0"]
        );
        assert_eq!(nearest_versions(versions.iter(), "latest").len(), 4);
    }
}
