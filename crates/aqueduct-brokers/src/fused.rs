//! Broker messages on the fused async path (`aqueduct_runtime::fused`): a
//! source whose flow offered a streaming plan runs the flow's `where`/`map`
//! over each JSON payload itself and sends sealed groups of encoded output,
//! one envelope and one ack for all the messages of a group.
//!
//! A group holds the messages at hand: the source takes one message
//! (waiting for it), then whatever is already received, never waiting for
//! more, so a quiet stream still gets each message written at once. A
//! group ends at [`GROUP_MESSAGES`] messages or [`GROUP_BYTES`] of output,
//! and before a message the plan does not take (a payload that is not
//! UTF-8 or not a JSON object of the declared fields, a blank one, a value
//! the general path words differently): that one then goes as an ordinary
//! record, in its place, so its dead letter or error is the general
//! path's. The source keeps each message of the group (its ack handle)
//! and acknowledges them, in order, once the group's ack comes.
//!
//! Why: per message, the general path decodes a record, queues an
//! envelope, runs the executor's steps and resolves an ack; the fused path
//! spends only the decode and the encode. Fewer than [`GROUPS_QUEUED`]
//! groups wait in the flow's queue, so what a source holds stays bounded
//! by groups, not by the queue's length in envelopes.

use aqueduct_runtime::connector::{Ack, Envelope};
use aqueduct_runtime::fused::{FusedGroup, FusedPlan, Outcome};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Messages after which a group is sealed.
pub(crate) const GROUP_MESSAGES: usize = 512;

/// Output bytes after which a group is sealed.
const GROUP_BYTES: usize = 64 * 1024;

/// Sealed groups that may wait in the flow's queue before the source
/// waits to send another.
const GROUPS_QUEUED: usize = 8;

/// The flow is gone (its queue closed): the source stops.
#[derive(Debug)]
pub(crate) struct Gone;

/// The group being filled, with the handle of each message in it.
pub(crate) struct Fusing<H> {
    plan: Arc<FusedPlan>,
    group: FusedGroup,
    held: Vec<H>,
}

/// A sent group: the ack the source waits for (none at most once) and the
/// handles of its messages, in arrival order.
pub(crate) struct Sent<H> {
    /// Resolved once every record of the group is safe.
    pub(crate) safe: Option<oneshot::Receiver<()>>,
    /// The group's messages.
    pub(crate) held: Vec<H>,
}

impl<H> Fusing<H> {
    /// An empty group for `plan` (a streaming plan).
    pub(crate) fn new(plan: Arc<FusedPlan>) -> Fusing<H> {
        let group = plan.group();
        Fusing {
            plan,
            group,
            held: Vec::new(),
        }
    }

    /// Offers one message's payload: `Ok` when the group took it (and
    /// keeps `handle`), `Err(handle)` when it goes the general way (send
    /// the group first, then the message as an ordinary record).
    pub(crate) fn offer(&mut self, payload: &[u8], handle: H) -> Result<(), H> {
        let Ok(text) = std::str::from_utf8(payload) else {
            return Err(handle);
        };
        match self.plan.jsonl(text, &mut self.group) {
            Outcome::Written | Outcome::Filtered => {
                self.held.push(handle);
                Ok(())
            }
            // A blank line of a file is no record, but a blank message
            // is one that does not decode: the general path says so.
            Outcome::Blank | Outcome::General => Err(handle),
        }
    }

    /// True when the group should be sent before it takes more.
    pub(crate) fn full(&self) -> bool {
        self.held.len() >= GROUP_MESSAGES || self.group.bytes() >= GROUP_BYTES
    }

    /// Sends the group so far into the flow as one envelope (`Ok(None)`
    /// when it is empty), with an ack when `acked`.
    pub(crate) async fn send(
        &mut self,
        out: &mpsc::Sender<Envelope>,
        acked: bool,
    ) -> Result<Option<Sent<H>>, Gone> {
        if self.held.is_empty() {
            return Ok(None);
        }
        // only a flow slower than the source waits here, and then it has
        // GROUPS_QUEUED groups of work queued
        while out.max_capacity() - out.capacity() >= GROUPS_QUEUED {
            if out.is_closed() {
                return Err(Gone);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let record = Ok(self.plan.seal(&mut self.group));
        let (ack, safe) = Ack::new_if(acked);
        out.send(Envelope::new(record, ack))
            .await
            .map_err(|_| Gone)?;
        Ok(Some(Sent {
            safe,
            held: std::mem::take(&mut self.held),
        }))
    }
}
