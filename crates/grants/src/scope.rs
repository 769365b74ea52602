//! The scopes our tokens carry: exactly kintone's six OAuth scopes, under the same names.
//!
//! Mirroring kintone's names keeps one vocabulary from the consent page to the tool check:
//! each tool declares the scope kintone needs for its REST call (the WIT `tool.scopes`, from
//! the `kintone` crate's catalogue), and the endpoint answers `403 insufficient_scope` naming it. Upstream we always ask Cybozu for all six, so one
//! kintone grant serves any narrower token; our token is what limits the client.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    AppRecordRead,
    AppRecordWrite,
    AppSettingsRead,
    AppSettingsWrite,
    FileRead,
    FileWrite,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::AppRecordRead,
        Scope::AppRecordWrite,
        Scope::AppSettingsRead,
        Scope::AppSettingsWrite,
        Scope::FileRead,
        Scope::FileWrite,
    ];

    /// The scope token, identical to kintone's.
    pub fn name(self) -> &'static str {
        match self {
            Scope::AppRecordRead => "k:app_record:read",
            Scope::AppRecordWrite => "k:app_record:write",
            Scope::AppSettingsRead => "k:app_settings:read",
            Scope::AppSettingsWrite => "k:app_settings:write",
            Scope::FileRead => "k:file:read",
            Scope::FileWrite => "k:file:write",
        }
    }

    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Scope`]s, stored as a bit set (one byte in records and tokens).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scopes(u8);

impl Scopes {
    pub const ALL: Scopes = Scopes(0b11_1111);
    pub const NONE: Scopes = Scopes(0);

    /// Parse a space-separated `scope` parameter, ignoring tokens we do not know (Claude sends
    /// `claudeai`, others `openid` or `offline_access`): an unknown scope grants nothing, and
    /// refusing it would break real clients.
    pub fn parse_lenient(scope: &str) -> Scopes {
        scope.split_ascii_whitespace().filter_map(Scope::from_name).collect()
    }

    /// Rebuild from the stored bit set, dropping bits that name no scope.
    pub fn from_bits(bits: u8) -> Scopes {
        Scopes(bits & Scopes::ALL.0)
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn contains_all(self, other: Scopes) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn with(self, scope: Scope) -> Scopes {
        Scopes(self.0 | scope.bit())
    }

    pub fn intersection(self, other: Scopes) -> Scopes {
        Scopes(self.0 & other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        iter.into_iter().fold(Scopes::NONE, Scopes::with)
    }
}

impl From<Scope> for Scopes {
    fn from(scope: Scope) -> Self {
        Scopes::NONE.with(scope)
    }
}

/// The space-separated scope string, in canonical order.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in self.iter() {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope.name())?;
            first = false;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::from_name(scope.name()), Some(scope));
        }
        assert_eq!(Scope::from_name("k:app_record:READ"), None);
    }

    #[test]
    fn lenient_parsing_ignores_unknown_scopes() {
        assert_eq!(Scopes::parse_lenient("claudeai"), Scopes::NONE);
        let parsed = Scopes::parse_lenient("openid  k:file:read\tclaudeai k:app_record:read");
        assert_eq!(parsed.to_string(), "k:app_record:read k:file:read");
        assert!(parsed.contains(Scope::FileRead));
        assert!(!parsed.contains(Scope::FileWrite));
    }

    #[test]
    fn all_lists_the_six_kintone_scopes_in_order() {
        assert_eq!(
            Scopes::ALL.to_string(),
            "k:app_record:read k:app_record:write k:app_settings:read k:app_settings:write k:file:read k:file:write"
        );
        assert_eq!(Scopes::parse_lenient(&Scopes::ALL.to_string()), Scopes::ALL);
    }

    #[test]
    fn set_operations() {
        let read: Scopes = [Scope::AppRecordRead, Scope::FileRead].into_iter().collect();
        assert!(Scopes::ALL.contains_all(read));
        assert!(!read.contains_all(Scopes::ALL));
        assert_eq!(read.intersection(Scope::FileRead.into()), Scope::FileRead.into());
        assert_eq!(Scopes::from_bits(0xff), Scopes::ALL);
        assert!(Scopes::NONE.is_empty());
    }
}
