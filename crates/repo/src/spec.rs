//! Adaptor specifiers (`@openfn/language-http@7.2.10`) and the repo's alias names
//! (`@openfn/language-http_7.2.10`), following the kit's `getNameAndVersion` and
//! `getAliasedName`.

use std::fmt;

use nodejs_semver::{Range, Version};

use crate::error::RepoError;

/// A `name[@version]` specifier as jobs and the CLI write them. `version` may be an exact
/// version, a semver range, a dist-tag (`latest`, `next`) or absent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Specifier {
    /// Package name, e.g. `@openfn/language-http`.
    pub name: String,
    /// The text after the last `@`, if any.
    pub version: Option<String>,
}

/// What a specifier's version asks for.
#[derive(Debug, Clone)]
pub enum Requirement {
    /// No version: the highest installed (resolve) or the `latest` tag (install).
    Any,
    /// One exact version, e.g. `7.2.10`.
    Exact(Version),
    /// A node-semver range, e.g. `^7`.
    Range(Range),
    /// A dist-tag, e.g. `latest` or `next`.
    Tag(String),
}

impl Specifier {
    /// Parses `name[@version]`, splitting at the last `@` when it is not the first character
    /// (the kit's `getNameAndVersion`). An empty version (`name@`) counts as none.
    pub fn parse(text: &str) -> Result<Self, RepoError> {
        let text = text.trim();
        let (name, version) = match text.rfind('@') {
            Some(index) if index > 0 => (&text[..index], Some(&text[index + 1..])),
            _ => (text, None),
        };
        let version = version.filter(|v| !v.is_empty()).map(str::to_owned);
        let spec = Specifier {
            name: name.to_owned(),
            version,
        };
        if let Err(reason) = validate_name(&spec.name) {
            return Err(RepoError::InvalidSpecifier {
                specifier: text.to_owned(),
                reason,
            });
        }
        if let Some(v) = &spec.version
            && let Requirement::Tag(tag) = spec.requirement()
            && !is_valid_tag(&tag)
        {
            return Err(RepoError::InvalidSpecifier {
                specifier: text.to_owned(),
                reason: format!("{v:?} is neither a version, a semver range nor a dist-tag"),
            });
        }
        Ok(spec)
    }

    /// A specifier for `name` at `version` (or no version).
    pub fn new(name: impl Into<String>, version: Option<impl Into<String>>) -> Self {
        Specifier {
            name: name.into(),
            version: version.map(Into::into),
        }
    }

    /// Classifies the version part.
    pub fn requirement(&self) -> Requirement {
        match self.version.as_deref() {
            None => Requirement::Any,
            Some(v) => parse_requirement(v),
        }
    }
}

/// Classifies a version text: exact version, range, or dist-tag.
pub(crate) fn parse_requirement(text: &str) -> Requirement {
    let text = text.trim();
    if text.is_empty() || text == "*" {
        return Requirement::Any;
    }
    if let Ok(version) = Version::parse(text) {
        // `Version::parse` accepts a leading `v` and `=`; only a bare version is "exact".
        if text.starts_with(|c: char| c.is_ascii_digit()) {
            return Requirement::Exact(version);
        }
    }
    match Range::parse(text) {
        Ok(range) => Requirement::Range(range),
        Err(_) => Requirement::Tag(text.to_owned()),
    }
}

fn is_valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl fmt::Display for Specifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl std::str::FromStr for Specifier {
    type Err = RepoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Specifier::parse(s)
    }
}

/// The alias a package version is installed under: `<name>_<version>`.
pub fn alias(name: &str, version: &str) -> String {
    format!("{name}_{version}")
}

/// The kit's `getAliasedName`: `x@1` → `x_1`; no version → the name itself.
pub fn aliased_name(specifier: &str) -> String {
    match Specifier::parse(specifier) {
        Ok(Specifier {
            name,
            version: Some(v),
        }) => alias(&name, &v),
        Ok(Specifier {
            name,
            version: None,
        }) => name,
        Err(_) => specifier.to_owned(),
    }
}

/// Splits an alias back into `(name, version)` at the last `_` (versions never contain `_`).
pub fn split_alias(alias: &str) -> Option<(&str, &str)> {
    let index = alias.rfind('_')?;
    let (name, version) = (&alias[..index], &alias[index + 1..]);
    (!name.is_empty() && !version.is_empty()).then_some((name, version))
}

/// Checks that a package name is safe to use as a directory path and looks like an npm name:
/// `name` or `@scope/name`, no path separators beyond the scope's, no `.`/`..`, no whitespace.
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the package name is empty".to_owned());
    }
    if name.len() > 214 {
        return Err("the package name is longer than 214 characters".to_owned());
    }
    let parts: Vec<&str> = if let Some(rest) = name.strip_prefix('@') {
        match rest.split_once('/') {
            Some((scope, pkg)) => vec![scope, pkg],
            None => return Err("a scoped name must look like @scope/name".to_owned()),
        }
    } else {
        vec![name]
    };
    for part in parts {
        let bad_char = part.chars().find(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '@'
                )
        });
        if part.is_empty() || part == "." || part == ".." || part.starts_with('.') {
            return Err(format!("{part:?} is not a valid package name part"));
        }
        if let Some(c) = bad_char {
            return Err(format!("the package name contains {c:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_get_name_and_version() {
        let s = Specifier::parse("@openfn/language-http@7.2.10").expect("valid");
        assert_eq!(s.name, "@openfn/language-http");
        assert_eq!(s.version.as_deref(), Some("7.2.10"));
        let s = Specifier::parse("@openfn/language-http").expect("valid");
        assert_eq!(s.version, None);
        let s = Specifier::parse("lodash@^4").expect("valid");
        assert!(matches!(s.requirement(), Requirement::Range(_)));
        let s = Specifier::parse("x@latest").expect("valid");
        assert!(matches!(s.requirement(), Requirement::Tag(t) if t == "latest"));
        assert!(matches!(
            Specifier::parse("x@1.2.3").expect("valid").requirement(),
            Requirement::Exact(_)
        ));
        assert!(Specifier::parse("../evil@1.0.0").is_err());
        assert!(Specifier::parse("@scope@1").is_err());
        assert!(Specifier::parse("").is_err());
    }

    #[test]
    fn aliases_round_trip() {
        assert_eq!(aliased_name("x@1"), "x_1");
        assert_eq!(aliased_name("x"), "x");
        assert_eq!(
            aliased_name("@openfn/language-http@7.2.10"),
            "@openfn/language-http_7.2.10"
        );
        assert_eq!(
            split_alias("@openfn/language_x_1.0.0"),
            Some(("@openfn/language_x", "1.0.0"))
        );
        assert_eq!(split_alias("nounderscore"), None);
    }
}
