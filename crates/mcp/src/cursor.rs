//! Opaque `tools/list` cursors.
//!
//! A cursor is the offset of the next page, base64url-encoded behind a version tag. The
//! catalogue is deterministic per deployment, so an offset is enough; a cursor that does not
//! decode, or points past the catalogue (it changed since), is invalid (-32602).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

const TAG: &str = "tools-v1:";

/// The cursor for the page that starts at `offset`.
pub fn encode(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TAG}{offset}"))
}

/// The offset a cursor points at, if it is one of ours and still inside a catalogue of
/// `len` tools. Offset 0 is never issued (the first page has no cursor).
pub fn decode(cursor: &str, len: usize) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let digits = text.strip_prefix(TAG)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let offset: usize = digits.parse().ok()?;
    (offset > 0 && offset < len).then_some(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for offset in [1, 2, 27, 1000] {
            assert_eq!(decode(&encode(offset), offset + 1), Some(offset));
        }
    }

    #[test]
    fn cursors_are_opaque_url_safe_text() {
        let c = encode(50);
        assert!(!c.contains("50"));
        assert!(c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn foreign_or_stale_cursors_are_rejected() {
        assert_eq!(decode("", 10), None);
        assert_eq!(decode("not base64!", 10), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("other:3"), 10), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("tools-v1:-3"), 10), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("tools-v1:+3"), 10), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("tools-v1:"), 10), None);
        assert_eq!(decode(&encode(0), 10), None);
        // The catalogue shrank below the cursor.
        assert_eq!(decode(&encode(10), 10), None);
        assert_eq!(
            decode(&URL_SAFE_NO_PAD.encode("tools-v1:99999999999999999999999"), 10),
            None
        );
    }
}
