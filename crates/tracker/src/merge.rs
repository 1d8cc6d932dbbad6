//! A line-level three-way merge: sidik's edit of the tracker as read (base →
//! ours) replayed onto what is on disk now (base → theirs), so that a line a
//! person added while sidik worked is kept.
//!
//! Lines are compared as bytes with their line endings, so CRLF, a BOM and
//! mojibake pass through untouched. Changes to different lines merge; the
//! same change made on both sides is taken once; insertions at the same
//! place are both kept, theirs first; changes to the same line conflict and
//! nothing is merged. Unlike diff3 (git, diffy), a change next to another one
//! is not a conflict: a tick on one line and a note added on the next belong
//! together in a tracker.

use std::ops::Range;

use similar::{capture_diff_slices, Algorithm, DiffOp};

/// Two sides changed the same line of the base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The 1-based line of the base both changed.
    pub line: usize,
    /// That line as the other side left it (empty when deleted).
    pub theirs: String,
}

/// One change of the base: its lines `base` replaced by `new`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hunk<'a> {
    base: Range<usize>,
    new: &'a [&'a [u8]],
}

/// The lines of `bytes`, each with its line ending.
fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|&c| c == b'\n').collect()
}

fn hunks<'a>(base: &[&[u8]], new: &'a [&'a [u8]]) -> Vec<Hunk<'a>> {
    let mut spans: Vec<(Range<usize>, Range<usize>)> = Vec::new();
    for op in capture_diff_slices(Algorithm::Myers, base, new) {
        let (old, fresh) = match op {
            DiffOp::Equal { .. } => continue,
            DiffOp::Delete {
                old_index,
                old_len,
                new_index,
            } => (old_index..old_index + old_len, new_index..new_index),
            DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => (old_index..old_index, new_index..new_index + new_len),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => (
                old_index..old_index + old_len,
                new_index..new_index + new_len,
            ),
        };
        // Consecutive operations (a delete then an insert) make one hunk.
        match spans.last_mut() {
            Some((b, n)) if b.end == old.start && n.end == fresh.start => {
                b.end = old.end;
                n.end = fresh.end;
            }
            _ => spans.push((old, fresh)),
        }
    }
    spans
        .into_iter()
        .map(|(base, fresh)| Hunk {
            base,
            new: &new[fresh],
        })
        .collect()
}

/// Replays base → ours onto base → theirs. Returns the merged bytes, or the
/// first line both changed.
pub fn merge(base: &[u8], ours: &[u8], theirs: &[u8]) -> Result<Vec<u8>, Conflict> {
    if theirs == base {
        return Ok(ours.to_vec());
    }
    if ours == base || ours == theirs {
        return Ok(theirs.to_vec());
    }
    let b = lines(base);
    let o = lines(ours);
    let t = lines(theirs);
    let ho = hunks(&b, &o);
    let ht = hunks(&b, &t);
    // Conflicts first, so nothing is built for a merge that fails.
    for x in &ho {
        for y in &ht {
            if x == y {
                continue;
            }
            let overlap = x.base.start < y.base.end && y.base.start < x.base.end;
            // An insertion strictly inside the other side's changed lines.
            let inside = |ins: &Hunk, other: &Hunk| {
                ins.base.is_empty()
                    && other.base.start < ins.base.start
                    && ins.base.start < other.base.end
            };
            if overlap || inside(x, y) || inside(y, x) {
                let line = x.base.start.max(y.base.start);
                let theirs_line = y
                    .new
                    .first()
                    .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
                    .unwrap_or_default();
                return Err(Conflict {
                    line: line + 1,
                    theirs: theirs_line,
                });
            }
        }
    }
    // Walk the base, taking each side's hunks in order (theirs first where
    // both insert at one place; a hunk both made once).
    let mut all: Vec<(usize, u8, &Hunk)> = Vec::new();
    for h in &ht {
        all.push((h.base.start, 0, h));
    }
    for h in &ho {
        if !ht.contains(h) {
            all.push((h.base.start, 1, h));
        }
    }
    // Insertions before replacements at the same start; theirs before ours.
    all.sort_by_key(|(start, side, h)| (*start, !h.base.is_empty(), *side));
    let mut out = Vec::with_capacity(ours.len().max(theirs.len()) + 64);
    let mut pos = 0;
    for (_, _, h) in all {
        for l in &b[pos.min(h.base.start)..h.base.start] {
            out.extend_from_slice(l);
        }
        for l in h.new {
            out.extend_from_slice(l);
        }
        pos = pos.max(h.base.end);
    }
    for l in &b[pos.min(b.len())..] {
        out.extend_from_slice(l);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::merge;

    const BASE: &str = "# T\r\n- [ ] one\r\n- [ ] two\r\n- [ ] three\r\n";

    #[test]
    fn changes_to_other_lines_merge() {
        let ours = BASE.replace("[ ] one", "[x] one");
        let theirs = format!("{BASE}- [ ] added by hand\r\n");
        let m = merge(BASE.as_bytes(), ours.as_bytes(), theirs.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(m).unwrap(),
            "# T\r\n- [x] one\r\n- [ ] two\r\n- [ ] three\r\n- [ ] added by hand\r\n"
        );
        // Two ticks of neighbouring lines.
        let theirs = BASE.replace("[ ] two", "[x] two");
        let m = merge(BASE.as_bytes(), ours.as_bytes(), theirs.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(m).unwrap(),
            "# T\r\n- [x] one\r\n- [x] two\r\n- [ ] three\r\n"
        );
    }

    #[test]
    fn the_same_line_conflicts_unless_changed_alike() {
        let ours = BASE.replace("[ ] two", "[x] two");
        let theirs = BASE.replace("[ ] two", "[-] two");
        let c = merge(BASE.as_bytes(), ours.as_bytes(), theirs.as_bytes()).unwrap_err();
        assert_eq!(c.line, 3);
        assert_eq!(c.theirs, "- [-] two");
        // Both ticked it, and they also added different lines elsewhere.
        let ours = format!("{}- a\r\n", BASE.replace("[ ] two", "[x] two"));
        let theirs = BASE.replace("[ ] two", "[x] two").replace("# T", "# Title");
        let m = merge(BASE.as_bytes(), ours.as_bytes(), theirs.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(m).unwrap(),
            "# Title\r\n- [ ] one\r\n- [x] two\r\n- [ ] three\r\n- a\r\n"
        );
    }

    #[test]
    fn insertions_at_one_place_keep_both_theirs_first() {
        let ours = format!("{BASE}- ours\r\n");
        let theirs = format!("{BASE}- theirs\r\n");
        let m = merge(BASE.as_bytes(), ours.as_bytes(), theirs.as_bytes()).unwrap();
        assert!(String::from_utf8(m)
            .unwrap()
            .ends_with("- theirs\r\n- ours\r\n"));
        // A file without a final newline, appended to by both.
        let base = "a\nb";
        let m = merge(base.as_bytes(), b"a\nb2", b"a0\nb").unwrap();
        assert_eq!(m, b"a0\nb2");
    }
}
