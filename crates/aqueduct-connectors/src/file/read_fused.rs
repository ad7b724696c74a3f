//! `file.read` on the fused batch path (`aqueduct_runtime::fused`): the
//! reader thread runs the flow's `where`/`map` over each jsonl line or csv
//! row itself and sends sealed groups of encoded output, one envelope and
//! one ack per group.
//!
//! A group ends at a chunk's end (so checkpoints land where they land on
//! the general path), at 128 KiB of output, before a line the plan does
//! not take (which then goes as an ordinary record, in its place), and at
//! the end of the file. Its position is the offset after its last line.
//! Large groups keep the hand-overs between the reader thread and the
//! flow rare (each wakes a thread: about a tenth of the CPU time with
//! 32 KiB groups); the reader sends a group only while fewer than
//! [`GROUPS_QUEUED`] envelopes wait in the flow's queue, so what waits
//! there stays within [`QUEUE_BYTES`] whatever the queue's length.

use super::read::Batch;
use crate::formats::{Codec, Format, Line, StreamDecoder};
use aqueduct_runtime::fused::{CsvColumns, FusedGroup, FusedPlan, Outcome};

/// Output bytes after which a group is sealed.
const GROUP_BYTES: usize = 128 * 1024;

/// The most output bytes of sealed groups waiting in the flow's queue.
const QUEUE_BYTES: usize = 32 * 1024 * 1024;

/// Envelopes the flow's queue may hold before the reader waits to send a
/// group (the queue itself takes more: records one by one are small).
const GROUPS_QUEUED: usize = QUEUE_BYTES / GROUP_BYTES;

/// The fused state of one file being read.
pub(super) struct Fusing<'p> {
    plan: &'p FusedPlan,
    format: Format,
    delimiter: u8,
    group: FusedGroup,
    /// The offset after the group's last line.
    end: u64,
    /// csv: where each field's cell is, once the header row is known.
    columns: Option<CsvColumns>,
    /// The file (for the log line at its end).
    file: &'p str,
    /// Records the fused path took, and lines it handed to the general path.
    taken: u64,
    general: u64,
}

impl<'p> Fusing<'p> {
    pub(super) fn new(plan: &'p FusedPlan, codec: &Codec, file: &'p str) -> Fusing<'p> {
        Fusing {
            plan,
            format: codec.format,
            delimiter: codec.delimiter,
            group: plan.group(),
            end: 0,
            columns: None,
            file,
            taken: 0,
            general: 0,
        }
    }

    /// Offers one logical line: `Some(true)` when the fused path took it,
    /// `Some(false)` when it goes the general way (the group so far was
    /// sent first), `None` when the flow is gone.
    pub(super) fn line(
        &mut self,
        logical: &Line<'_>,
        decoder: &StreamDecoder,
        batch: &mut Batch<'_>,
    ) -> Option<bool> {
        let outcome = match (&logical.text, self.format) {
            (Ok(text), Format::Jsonl) => self.plan.jsonl(text, &mut self.group),
            // the header row itself goes the general way (the decoder reads it)
            (Ok(text), Format::Csv) if decoder.has_header() => {
                let columns = self.columns.get_or_insert_with(|| {
                    self.plan.csv_columns(decoder.headers(), self.delimiter)
                });
                self.plan.csv(text, columns, &mut self.group)
            }
            _ => Outcome::General,
        };
        match outcome {
            Outcome::Written | Outcome::Filtered => {
                self.taken += 1;
                self.end = logical.end;
                if (self.group.records() >= batch.room() || self.group.bytes() >= GROUP_BYTES)
                    && !self.seal(batch)
                {
                    return None;
                }
                Some(true)
            }
            // no record, as on the general path
            Outcome::Blank => Some(true),
            Outcome::General => {
                self.general += 1;
                if !self.seal(batch) {
                    return None;
                }
                Some(false)
            }
        }
    }

    /// Sends the group so far (if any); false when the flow is gone.
    pub(super) fn seal(&mut self, batch: &mut Batch<'_>) -> bool {
        let records = self.group.records();
        if records == 0 {
            return true;
        }
        if !batch.wait_for_queue(GROUPS_QUEUED) {
            return false;
        }
        let value = self.plan.seal(&mut self.group);
        batch.push_weighted(Ok(value), self.end, records)
    }
}

impl Drop for Fusing<'_> {
    fn drop(&mut self) {
        tracing::info!(
            file = self.file,
            fused = self.taken,
            general = self.general,
            "Read a file on the fused path."
        );
    }
}
