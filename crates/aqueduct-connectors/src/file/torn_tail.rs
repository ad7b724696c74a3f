//! The cut last record of a file `file.append` goes on with.
//!
//! aqueduct ends every record it appends with a newline and acknowledges a
//! record only after its bytes are synced, so a line file that does not end
//! in a newline was cut mid-record: by a run killed inside a write (SIGKILL
//! stops a write of several pages between two of them) or by another
//! writer. Appending after the fragment would glue the next record onto it
//! and spoil a record that was acknowledged. So before the first append the
//! fragment is dealt with: a jsonl fragment that is a whole JSON value only
//! lacked its newline and gets one; any other fragment is copied to
//! `.NAME.aq-torn` beside the file (appended and synced first) and then cut
//! off, so no byte is lost and the file holds whole lines. A record cut by a
//! killed run was never acknowledged and comes again.

use super::write::sibling;
use crate::formats::Format;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What was done to a file that did not end in a newline.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Repair {
    /// A whole jsonl record lacked its newline: one was added.
    Terminated,
    /// The fragment (`bytes` long) was moved to `aside`.
    MovedAside { bytes: u64, aside: PathBuf },
}

/// Says what was done to a file a killed run (or another writer) left
/// cut mid-record.
pub(crate) fn report(path: &Path, done: Repair) {
    match done {
        Repair::Terminated => tracing::warn!(
            file = %path.display(),
            "The file's last record had no newline; one was added before appending."
        ),
        Repair::MovedAside { bytes, aside } => tracing::warn!(
            file = %path.display(),
            bytes,
            aside = %aside.display(),
            "The file ended in a cut record (a run was killed mid-write, or another writer left it); its bytes were moved to the aside file and records are appended after the last whole line. A record a killed run cut was not acknowledged and comes again."
        ),
    }
}

/// How far back one read looks for the last newline.
const BLOCK: u64 = 64 * 1024;

/// Makes the line file at `path` end in a newline before records are
/// appended to it; `None` when it already does (or is empty, or missing,
/// or `format` is not one of lines).
pub(crate) fn repair(path: &Path, format: Format) -> io::Result<Option<Repair>> {
    if !matches!(format, Format::Jsonl | Format::Csv | Format::Text) {
        return Ok(None);
    }
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if len == 0 || read_at(&mut file, len - 1, 1)? == b"\n" {
        return Ok(None);
    }
    let start = after_last_newline(&mut file, len)?;
    let fragment = read_at(&mut file, start, (len - start) as usize)?;
    if format == Format::Jsonl && serde_json::from_slice::<serde_json::Value>(&fragment).is_ok() {
        file.seek(SeekFrom::End(0))?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        return Ok(Some(Repair::Terminated));
    }
    let aside = sibling(path, "aq-torn");
    let mut kept = OpenOptions::new().create(true).append(true).open(&aside)?;
    kept.write_all(&fragment)?;
    kept.write_all(b"\n")?;
    // The copy is durable before the original bytes go.
    kept.sync_all()?;
    file.set_len(start)?;
    file.sync_all()?;
    Ok(Some(Repair::MovedAside {
        bytes: len - start,
        aside,
    }))
}

/// The offset just after the last `\n` before `len` (0 when there is none).
fn after_last_newline(file: &mut File, len: u64) -> io::Result<u64> {
    let mut end = len;
    while end > 0 {
        let begin = end.saturating_sub(BLOCK);
        let block = read_at(file, begin, (end - begin) as usize)?;
        if let Some(at) = memchr::memrchr(b'\n', &block) {
            return Ok(begin + at as u64 + 1);
        }
        end = begin;
    }
    Ok(0)
}

fn read_at(file: &mut File, at: u64, n: usize) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(at))?;
    let mut buf = vec![0; n];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, content).expect("written");
        (dir, path)
    }

    fn read(path: &Path) -> Vec<u8> {
        std::fs::read(path).expect("readable")
    }

    #[test]
    fn a_file_ending_in_a_newline_is_left_alone() {
        let (_dir, path) = fixture(b"{\"id\":1}\n");
        assert_eq!(repair(&path, Format::Jsonl).expect("repaired"), None);
        assert_eq!(read(&path), b"{\"id\":1}\n");
    }

    #[test]
    fn an_empty_or_missing_file_is_left_alone() {
        let (dir, path) = fixture(b"");
        assert_eq!(repair(&path, Format::Jsonl).expect("repaired"), None);
        let missing = dir.path().join("none.jsonl");
        assert_eq!(repair(&missing, Format::Jsonl).expect("repaired"), None);
        assert!(!missing.exists());
    }

    #[test]
    fn a_cut_jsonl_record_moves_aside_and_the_file_ends_at_the_last_whole_line() {
        let (dir, path) = fixture(b"{\"id\":1}\n{\"id\":2}\n{\"id");
        let got = repair(&path, Format::Jsonl).expect("repaired");
        let aside = dir.path().join(".out.jsonl.aq-torn");
        assert_eq!(
            got,
            Some(Repair::MovedAside {
                bytes: 4,
                aside: aside.clone()
            })
        );
        assert_eq!(read(&path), b"{\"id\":1}\n{\"id\":2}\n");
        assert_eq!(read(&aside), b"{\"id\n");
    }

    #[test]
    fn a_whole_jsonl_record_without_its_newline_gets_one() {
        let (_dir, path) = fixture(b"{\"id\":1}\n{\"id\":2}");
        assert_eq!(
            repair(&path, Format::Jsonl).expect("repaired"),
            Some(Repair::Terminated)
        );
        assert_eq!(read(&path), b"{\"id\":1}\n{\"id\":2}\n");
    }

    #[test]
    fn a_file_that_is_all_fragment_ends_empty() {
        let (dir, path) = fixture(b"id,na");
        let got = repair(&path, Format::Csv).expect("repaired");
        assert!(matches!(got, Some(Repair::MovedAside { bytes: 5, .. })));
        assert_eq!(read(&path), b"");
        assert_eq!(read(&dir.path().join(".out.jsonl.aq-torn")), b"id,na\n");
    }

    #[test]
    fn a_fragment_longer_than_one_block_is_found_whole() {
        let mut content = b"1,a\n".to_vec();
        content.extend(std::iter::repeat_n(b'x', 3 * BLOCK as usize + 7));
        let (dir, path) = fixture(&content);
        let got = repair(&path, Format::Text).expect("repaired");
        assert!(matches!(got, Some(Repair::MovedAside { bytes, .. }) if bytes == 3 * BLOCK + 7));
        assert_eq!(read(&path), b"1,a\n");
        assert_eq!(
            read(&dir.path().join(".out.jsonl.aq-torn")).len() as u64,
            3 * BLOCK + 8
        );
    }

    #[test]
    fn formats_that_are_not_lines_are_left_alone() {
        let (_dir, path) = fixture(b"\x00\x01");
        assert_eq!(repair(&path, Format::Bytes).expect("repaired"), None);
        assert_eq!(read(&path), b"\x00\x01");
    }
}
