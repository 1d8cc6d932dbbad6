//! Text folding for matching, and mojibake detection and repair.
//!
//! Mojibake here is UTF-8 that was once read as Windows-1252 and saved again
//! as UTF-8: 🔴 (F0 9F 94 B4) became `ðŸ”´`. Every mojibake sequence is made of
//! non-ASCII characters, so ASCII text is never touched. A sequence is repaired
//! only when its characters re-encode to Windows-1252 bytes that decode as one
//! strict UTF-8 character.

use std::ops::Range;

/// Windows-1252 byte for `c`, including the five bytes the encoding leaves
/// undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D), which decoders keep as the C1
/// controls U+0081 … U+009D.
fn cp1252_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    if cp < 0x80 {
        return Some(cp as u8);
    }
    if matches!(cp, 0x81 | 0x8D | 0x8F | 0x90 | 0x9D) {
        return Some(cp as u8);
    }
    let mut buf = [0u8; 4];
    let s = c.encode_utf8(&mut buf);
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(s);
    (!unmappable && bytes.len() == 1).then(|| bytes[0])
}

/// Length of the UTF-8 sequence a lead byte starts (2-4), or `None`.
fn utf8_len(lead: u8) -> Option<usize> {
    match lead {
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

/// One mojibake sequence found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MojibakeSpan {
    /// Byte range in the text.
    pub range: Range<usize>,
    /// What is there now.
    pub found: String,
    /// What it was meant to be, when it can be recovered exactly.
    pub repaired: Option<String>,
}

/// Finds mojibake sequences in `text`.
///
/// A sequence starts at a character whose Windows-1252 byte is a UTF-8 lead
/// byte and is followed by characters whose bytes are continuation bytes.
/// When they decode as one strict UTF-8 character, `repaired` holds it. When a
/// lead is followed by at least one continuation but the sequence is broken
/// (a byte was lost, e.g. an undefined byte stripped by an editor), the span
/// is reported with `repaired = None`. A lead byte followed by no
/// continuation (a genuine `é` before a space) is ordinary text.
pub fn find_mojibake(text: &str) -> Vec<MojibakeSpan> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let Some(n) = cp1252_byte(c).filter(|b| *b >= 0x80).and_then(utf8_len) else {
            i += 1;
            continue;
        };
        // Collect up to n-1 following continuation bytes.
        let mut bytes = vec![cp1252_byte(c).expect("checked")];
        let mut j = i + 1;
        while j < chars.len() && bytes.len() < n {
            match cp1252_byte(chars[j].1) {
                Some(b) if (0x80..=0xBF).contains(&b) => {
                    bytes.push(b);
                    j += 1;
                }
                _ => break,
            }
        }
        if bytes.len() == 1 {
            i += 1;
            continue;
        }
        let end = chars.get(j).map_or(text.len(), |(o, _)| *o);
        let repaired = if bytes.len() == n {
            std::str::from_utf8(&bytes).ok().map(str::to_string)
        } else {
            None
        };
        out.push(MojibakeSpan {
            range: start..end,
            found: text[start..end].to_string(),
            repaired,
        });
        i = j;
    }
    out
}

/// `text` with every exactly-repairable mojibake sequence repaired.
pub fn repair(text: &str) -> String {
    let spans = find_mojibake(text);
    if spans.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for s in spans {
        if let Some(r) = &s.repaired {
            out.push_str(&text[last..s.range.start]);
            out.push_str(r);
            last = s.range.end;
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Folds text for matching: mojibake repaired, lower-cased, every run of
/// characters that are not letters or digits (spaces, punctuation, emoji,
/// markdown markers) turned into one space.
///
/// `ðŸ”´ **HIGH PRIORITY**` and `🔴 High priority` both fold to `high priority`.
pub fn fold(text: &str) -> String {
    let repaired = repair(text);
    let mut out = String::with_capacity(repaired.len());
    let mut gap = false;
    for c in repaired.chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repairs_the_seed_trackers_emoji() {
        for (bad, good) in [
            ("ðŸ”´", "🔴"),
            ("ðŸŸ¡", "🟡"),
            ("ðŸ“Š", "📊"),
            ("âœ…", "✅"),
            ("âœ“", "✓"),
            ("â†’", "→"),
            ("â”œâ”€â”€", "├──"),
        ] {
            assert_eq!(repair(bad), good, "{bad}");
        }
        assert_eq!(repair("spike â†’ errors"), "spike → errors");
    }

    #[test]
    fn clean_text_is_never_touched() {
        for clean in [
            "café au lait",
            "naïve résumé",
            "日本語",
            "🔴 already fine",
            "Ã alone",
            "plain ascii",
        ] {
            assert_eq!(repair(clean), clean);
            assert!(find_mojibake(clean).iter().all(|s| s.repaired.is_none()) || clean.is_empty());
        }
        assert!(find_mojibake("café au lait").is_empty());
    }

    #[test]
    fn broken_sequences_are_reported_not_guessed() {
        // 🔴 with its third byte (0x94, '"') lost.
        let spans = find_mojibake("x ðŸ´ y");
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].found, "ðŸ´");
        assert_eq!(spans[0].repaired, None);
        assert_eq!(repair("x ðŸ´ y"), "x ðŸ´ y");
    }

    #[test]
    fn undefined_windows_1252_bytes_survive_as_c1_controls() {
        // U+1F41D 🐝 = F0 9F 90 9D: two of its bytes are undefined in Windows-1252.
        let moji: String = "ðŸ\u{90}\u{9D}".to_string();
        assert_eq!(repair(&moji), "🐝");
    }

    #[test]
    fn fold_ignores_emoji_markup_case_and_mojibake() {
        assert_eq!(
            fold("ðŸ”´ **HIGH PRIORITY - CRITICAL PATH**"),
            "high priority critical path"
        );
        assert_eq!(
            fold("🔴 High priority: critical path"),
            "high priority critical path"
        );
        assert_eq!(
            fold("Map timeline: spike â†’ errors â†’ degradation"),
            "map timeline spike errors degradation"
        );
        assert_eq!(
            fold("Map timeline: spike → errors → degradation"),
            "map timeline spike errors degradation"
        );
        assert_eq!(fold("  "), "");
    }
}
