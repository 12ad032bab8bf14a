//! Scopes: RFC 6749 §3.3 scope tokens and sets of them.

use std::{collections::BTreeSet, fmt};

use serde::{Deserialize, Serialize};

use crate::{ErrorKind, Result};

/// Whether `s` is a valid RFC 6749 scope token (`%x21 / %x23-5B / %x5D-7E`, non-empty).
/// Role names use the same alphabet.
pub fn is_valid_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// An ordered, de-duplicated set of scope names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a space-separated scope string (the OAuth `scope` parameter).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidScope`] for a token with characters outside RFC 6749 §3.3.
    pub fn parse(s: &str) -> Result<Self> {
        Self::try_from_iter(s.split(' ').filter(|t| !t.is_empty()))
    }

    /// Builds a set from names, validating each.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidScope`] for an invalid name.
    pub fn try_from_iter<I, S>(iter: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeSet::new();
        for s in iter {
            let s = s.as_ref();
            if !is_valid_scope_token(s) {
                return Err(ErrorKind::InvalidScope(s.chars().take(64).collect()).into());
            }
            set.insert(s.to_owned());
        }
        Ok(Self(set))
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// Whether every scope of `other` is in `self`.
    pub fn is_superset(&self, other: &ScopeSet) -> bool {
        self.0.is_superset(&other.0)
    }

    /// The scopes of `required` missing from `self`.
    pub fn missing<'a>(&self, required: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        required.into_iter().filter(|s| !self.0.contains(*s)).collect()
    }

    /// The scopes in both sets.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// Adds a scope (unchecked: callers pass names that were validated).
    pub fn insert(&mut self, scope: impl Into<String>) {
        self.0.insert(scope.into());
    }

    /// Adds every scope of `other`.
    pub fn extend(&mut self, other: &ScopeSet) {
        self.0.extend(other.0.iter().cloned());
    }

    /// The names, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names as a vector.
    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }
}

impl fmt::Display for ScopeSet {
    /// Space-separated, as in the OAuth `scope` parameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

impl TryFrom<Vec<String>> for ScopeSet {
    type Error = crate::Error;
    fn try_from(v: Vec<String>) -> Result<Self> {
        Self::try_from_iter(v)
    }
}

impl From<ScopeSet> for Vec<String> {
    fn from(s: ScopeSet) -> Self {
        s.0.into_iter().collect()
    }
}

impl<'a> FromIterator<&'a str> for ScopeSet {
    /// Collects names without validation; use [`ScopeSet::try_from_iter`] for untrusted input.
    fn from_iter<T: IntoIterator<Item = &'a str>>(iter: T) -> Self {
        Self(iter.into_iter().map(str::to_owned).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_sorted_unique() {
        let s = ScopeSet::parse("b a  b").unwrap();
        assert_eq!(s.to_string(), "a b");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn rejects_bad_characters() {
        assert!(ScopeSet::parse("ok \"quoted\"").is_err());
        assert!(ScopeSet::parse("back\\slash").is_err());
        assert!(ScopeSet::parse("tab\tsep").is_err());
        assert!(ScopeSet::parse("é").is_err());
    }

    #[test]
    fn set_operations() {
        let a = ScopeSet::parse("me admin").unwrap();
        let b = ScopeSet::parse("me tasks:read").unwrap();
        assert_eq!(a.intersection(&b).to_string(), "me");
        assert_eq!(a.missing(["me", "x"]), vec!["x"]);
        assert!(a.is_superset(&ScopeSet::parse("me").unwrap()));
    }
}
