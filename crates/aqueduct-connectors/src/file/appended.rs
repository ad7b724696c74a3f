//! A file records are appended to: opened so it ends in a newline, and
//! written to under a lock that keeps that check safe.
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
//!
//! Other aqueduct writers may be appending to the same file at that moment
//! (flows sharing a dead-letter file, replicas on one host), and a reader
//! can see their write half done. So every append holds a shared `flock`
//! while it writes ([`append`]) and the check holds it exclusively
//! ([`open`]): the check never sees another aqueduct writer mid-record, and
//! a cut it finds is a real one. Writers that are not aqueduct do not take
//! the lock.

use super::write::sibling;
use crate::formats::Format;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What was done to a file that did not end in a newline.
#[derive(Debug, PartialEq, Eq)]
enum Repair {
    /// A whole jsonl record lacked its newline: one was added.
    Terminated,
    /// The fragment (`bytes` long) was moved to `aside`.
    MovedAside { bytes: u64, aside: PathBuf },
}

/// Says what was done to a file a killed run (or another writer) left
/// cut mid-record.
fn report(path: &Path, done: Repair) {
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

/// Opens `path` for appending (creating it) under an exclusive lock: the
/// file made to end in a newline ([`Repair`], told as a warning) and, when
/// it is empty, `prefix` (a csv header) written. True when it was empty.
pub(crate) fn open(path: &Path, format: Format, prefix: &[u8]) -> io::Result<(File, bool)> {
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    file.lock()?;
    let empty = prepare(&mut file, path, format, prefix);
    file.unlock()?;
    Ok((file, empty?))
}

/// [`open`]'s work under the lock.
fn prepare(file: &mut File, path: &Path, format: Format, prefix: &[u8]) -> io::Result<bool> {
    if let Some(done) = repair(file, path, format)? {
        report(path, done);
    }
    let empty = file.metadata()?.len() == 0;
    if empty && !prefix.is_empty() {
        file.write_all(prefix)?;
    }
    Ok(empty)
}

/// Writes `bytes` at the end of a file [`open`] opened, holding the shared
/// lock while the write is under way.
pub(crate) fn append(mut file: &File, bytes: &[u8]) -> io::Result<()> {
    file.lock_shared()?;
    let written = file.write_all(bytes);
    file.unlock()?;
    written
}

/// Makes a line file end in a newline; `None` when it already does (or is
/// empty, or `format` is not one of lines). The caller holds the lock.
fn repair(file: &mut File, path: &Path, format: Format) -> io::Result<Option<Repair>> {
    if !matches!(format, Format::Jsonl | Format::Csv | Format::Text) {
        return Ok(None);
    }
    let len = file.metadata()?.len();
    if len == 0 || read_at(file, len - 1, 1)? == b"\n" {
        return Ok(None);
    }
    let start = after_last_newline(file, len)?;
    let fragment = read_at(file, start, (len - start) as usize)?;
    if format == Format::Jsonl && serde_json::from_slice::<serde_json::Value>(&fragment).is_ok() {
        // opened to append: the newline goes at the end
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
    use std::time::Duration;

    fn fixture(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, content).expect("written");
        (dir, path)
    }

    fn read(path: &Path) -> Vec<u8> {
        std::fs::read(path).expect("readable")
    }

    /// Opens `path` as a run would and appends `record`.
    fn open_and_append(path: &Path, format: Format, record: &[u8]) -> bool {
        let (file, empty) = open(path, format, b"").expect("opened");
        append(&file, record).expect("appended");
        empty
    }

    #[test]
    fn a_file_ending_in_a_newline_is_appended_to() {
        let (dir, path) = fixture(b"{\"id\":1}\n");
        assert!(!open_and_append(&path, Format::Jsonl, b"{\"id\":2}\n"));
        assert_eq!(read(&path), b"{\"id\":1}\n{\"id\":2}\n");
        assert!(!dir.path().join(".out.jsonl.aq-torn").exists());
    }

    #[test]
    fn a_missing_file_is_created_with_the_prefix() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("out.csv");
        let (file, empty) = open(&path, Format::Csv, b"id\n").expect("opened");
        append(&file, b"1\n").expect("appended");
        assert!(empty);
        assert_eq!(read(&path), b"id\n1\n");
    }

    #[test]
    fn a_cut_jsonl_record_moves_aside_and_records_follow_the_last_whole_line() {
        let (dir, path) = fixture(b"{\"id\":1}\n{\"id\":2}\n{\"id");
        open_and_append(&path, Format::Jsonl, b"{\"id\":3}\n");
        assert_eq!(read(&path), b"{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n");
        assert_eq!(read(&dir.path().join(".out.jsonl.aq-torn")), b"{\"id\n");
    }

    #[test]
    fn a_whole_jsonl_record_without_its_newline_gets_one() {
        let (dir, path) = fixture(b"{\"id\":1}\n{\"id\":2}");
        open_and_append(&path, Format::Jsonl, b"{\"id\":3}\n");
        assert_eq!(read(&path), b"{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n");
        assert!(!dir.path().join(".out.jsonl.aq-torn").exists());
    }

    #[test]
    fn a_file_that_is_all_fragment_starts_again_with_its_header() {
        let (dir, path) = fixture(b"id,na");
        let (file, empty) = open(&path, Format::Csv, b"id,name\n").expect("opened");
        append(&file, b"1,a\n").expect("appended");
        assert!(empty);
        assert_eq!(read(&path), b"id,name\n1,a\n");
        assert_eq!(read(&dir.path().join(".out.jsonl.aq-torn")), b"id,na\n");
    }

    #[test]
    fn a_fragment_longer_than_one_block_is_moved_whole() {
        let mut content = b"1,a\n".to_vec();
        content.extend(std::iter::repeat_n(b'x', 3 * BLOCK as usize + 7));
        let (dir, path) = fixture(&content);
        open_and_append(&path, Format::Text, b"2,b\n");
        assert_eq!(read(&path), b"1,a\n2,b\n");
        assert_eq!(
            read(&dir.path().join(".out.jsonl.aq-torn")).len() as u64,
            3 * BLOCK + 8
        );
    }

    #[test]
    fn formats_that_are_not_lines_are_left_alone() {
        let (_dir, path) = fixture(b"\x00\x01");
        open_and_append(&path, Format::Bytes, b"\x02");
        assert_eq!(read(&path), b"\x00\x01\x02");
    }

    /// Another writer's record half written when a second target opens the
    /// file is not taken for a cut one: the check waits for the write.
    #[test]
    fn a_record_another_writer_is_appending_is_not_cut() {
        let (dir, path) = fixture(b"{\"id\":1}\n");
        let (mut writer, _) = open(&path, Format::Jsonl, b"").expect("opened");
        // `append`'s lock, held across a write that is half done
        writer.lock_shared().expect("locked");
        writer.write_all(b"{\"id\":2,").expect("half written");
        let second = {
            let path = path.clone();
            std::thread::spawn(move || open_and_append(&path, Format::Jsonl, b"{\"id\":3}\n"))
        };
        std::thread::sleep(Duration::from_millis(200));
        writer.write_all(b"\"x\":0}\n").expect("written");
        writer.unlock().expect("unlocked");
        second.join().expect("the second writer");
        assert_eq!(read(&path), b"{\"id\":1}\n{\"id\":2,\"x\":0}\n{\"id\":3}\n");
        assert!(!dir.path().join(".out.jsonl.aq-torn").exists());
    }
}
