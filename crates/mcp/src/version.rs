//! Protocol revisions this endpoint speaks, and how a request's revision is decided.
//!
//! The server is dual-era: the handshake revisions (an `initialize` handshake, here answered
//! statelessly) and the modern, stateless 2026-07-28 revision (`server/discover`, per-request
//! `_meta`, mirrored HTTP headers).

use rmcp::model::ProtocolVersion;

/// Every revision we accept, oldest first (the order `server/discover` lists them in).
pub const SUPPORTED: [ProtocolVersion; 5] = [
    ProtocolVersion::V_2024_11_05,
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

/// The newest revision that has an `initialize` handshake: the answer to an `initialize`
/// asking for a revision we do not know, or for a modern one.
pub const LATEST_HANDSHAKE: ProtocolVersion = ProtocolVersion::V_2025_11_25;

/// The first modern (stateless) revision.
pub const FIRST_MODERN: ProtocolVersion = ProtocolVersion::V_2026_07_28;

/// What a request without an `MCP-Protocol-Version` header speaks (spec 2025-06-18 on:
/// "assume 2025-03-26").
pub const WITHOUT_HEADER: ProtocolVersion = ProtocolVersion::V_2025_03_26;

/// The only revision whose POST bodies may be JSON-RPC batches.
pub const BATCH_REVISION: ProtocolVersion = ProtocolVersion::V_2025_03_26;

/// A supported revision named by `text`, exactly (revisions are case-sensitive dates).
pub fn supported(text: &str) -> Option<ProtocolVersion> {
    SUPPORTED.iter().find(|v| v.as_str() == text).cloned()
}

/// True for the stateless revisions (per-request `_meta`, `server/discover`).
pub fn is_modern(version: &ProtocolVersion) -> bool {
    version.as_str() >= FIRST_MODERN.as_str()
}

/// The revision to answer an `initialize` with: the client's, when it is a handshake revision
/// we support; otherwise our latest handshake revision (the client then decides whether it can
/// speak it, as the lifecycle spec says).
pub fn negotiate_initialize(requested: &ProtocolVersion) -> ProtocolVersion {
    match supported(requested.as_str()) {
        Some(v) if !is_modern(&v) => v,
        _ => LATEST_HANDSHAKE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_revisions_are_exact() {
        for v in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"] {
            assert_eq!(supported(v).unwrap().as_str(), v);
        }
        for v in ["2025-11-25 ", "2000-01-01", "2099-01-01", "invalid", ""] {
            assert!(supported(v).is_none(), "{v}");
        }
    }

    #[test]
    fn only_2026_is_modern() {
        assert!(is_modern(&ProtocolVersion::V_2026_07_28));
        assert!(!is_modern(&ProtocolVersion::V_2025_11_25));
        assert!(!is_modern(&ProtocolVersion::V_2024_11_05));
    }

    #[test]
    fn initialize_echoes_handshake_revisions_and_downgrades_the_rest() {
        for v in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
            let req: ProtocolVersion = serde_json::from_value(v.into()).unwrap();
            assert_eq!(negotiate_initialize(&req).as_str(), v);
        }
        for v in ["2026-07-28", "2099-01-01", "1.0"] {
            let req: ProtocolVersion = serde_json::from_value(v.into()).unwrap();
            assert_eq!(negotiate_initialize(&req), LATEST_HANDSHAKE);
        }
    }
}
