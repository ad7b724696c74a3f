//! Which offsets of a consumed topic may be committed.
//!
//! Kafka commits a position per partition: committing offset N says every
//! record before N is done. A record is done when the executor acked it, and
//! acks arrive out of order (targets commit in groups, the dead letter takes
//! some at once), so the committable position of a partition is the lowest
//! offset still waiting, or one past the highest delivered when none waits.
//! A record whose ack is dropped (the flow could not take it) holds its
//! partition back until a restart or rebalance delivers it again.

use std::collections::{BTreeMap, HashMap};

/// Delivered, acked and committed offsets per partition of one topic.
#[derive(Debug, Default)]
pub(crate) struct Offsets {
    partitions: HashMap<i32, Partition>,
}

#[derive(Debug)]
struct Partition {
    /// Offsets handed to the flow and not acked yet, with how many copies
    /// (a rebalance can deliver an offset again while the first copy waits).
    waiting: BTreeMap<i64, u32>,
    /// One past the highest offset delivered.
    next: i64,
    /// The position last committed (or where this consumer started).
    committed: i64,
}

impl Partition {
    fn position(&self) -> i64 {
        self.waiting.keys().next().copied().unwrap_or(self.next)
    }
}

impl Offsets {
    /// A record at `offset` was handed to the flow.
    pub(crate) fn delivered(&mut self, partition: i32, offset: i64) {
        let p = self.partitions.entry(partition).or_insert(Partition {
            waiting: BTreeMap::new(),
            next: offset,
            committed: offset,
        });
        *p.waiting.entry(offset).or_insert(0) += 1;
        p.next = p.next.max(offset + 1);
    }

    /// The record at `offset` is safe (in every target, or dead-lettered).
    pub(crate) fn acked(&mut self, partition: i32, offset: i64) {
        let Some(p) = self.partitions.get_mut(&partition) else {
            return; // revoked meanwhile; its new owner reads it again
        };
        if let Some(n) = p.waiting.get_mut(&offset) {
            *n -= 1;
            if *n == 0 {
                p.waiting.remove(&offset);
            }
        }
    }

    /// The positions to commit: partitions that moved since their last commit.
    pub(crate) fn due(&self) -> Vec<(i32, i64)> {
        let mut due: Vec<(i32, i64)> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.position() > p.committed)
            .map(|(&partition, p)| (partition, p.position()))
            .collect();
        due.sort_unstable();
        due
    }

    /// `positions` were committed.
    pub(crate) fn committed(&mut self, positions: &[(i32, i64)]) {
        for (partition, offset) in positions {
            if let Some(p) = self.partitions.get_mut(partition) {
                p.committed = p.committed.max(*offset);
            }
        }
    }

    /// Forgets `partitions` (revoked in a rebalance), returning the
    /// positions still to commit for them.
    pub(crate) fn revoke(&mut self, partitions: &[i32]) -> Vec<(i32, i64)> {
        let mut due = Vec::new();
        for partition in partitions {
            if let Some(p) = self.partitions.remove(partition)
                && p.position() > p.committed
            {
                due.push((*partition, p.position()));
            }
        }
        due
    }

    /// How many records wait for their ack.
    pub(crate) fn waiting(&self) -> usize {
        self.partitions
            .values()
            .map(|p| p.waiting.values().map(|&n| n as usize).sum::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::Offsets;

    #[test]
    fn the_position_stops_at_the_lowest_record_still_waiting() {
        let mut o = Offsets::default();
        for offset in 10..15 {
            o.delivered(0, offset);
        }
        assert!(o.due().is_empty(), "nothing acked yet");
        o.acked(0, 11);
        o.acked(0, 12);
        assert!(o.due().is_empty(), "10 still waits");
        o.acked(0, 10);
        assert_eq!(o.due(), vec![(0, 13)]);
        o.committed(&[(0, 13)]);
        assert!(o.due().is_empty());
        o.acked(0, 14);
        o.acked(0, 13);
        assert_eq!(o.due(), vec![(0, 15)], "one past the last delivered");
        assert_eq!(o.waiting(), 0);
    }

    #[test]
    fn partitions_move_independently_and_revoked_ones_are_forgotten() {
        let mut o = Offsets::default();
        o.delivered(0, 0);
        o.delivered(1, 100);
        o.delivered(1, 101);
        o.acked(1, 100);
        assert_eq!(o.due(), vec![(1, 101)]);
        assert_eq!(o.revoke(&[1]), vec![(1, 101)]);
        o.acked(1, 101); // late ack of a revoked partition: ignored
        assert!(o.due().is_empty());
        assert_eq!(o.waiting(), 1);
    }

    #[test]
    fn an_offset_delivered_twice_waits_for_both_copies() {
        let mut o = Offsets::default();
        o.delivered(0, 5);
        o.delivered(0, 5);
        o.acked(0, 5);
        assert!(o.due().is_empty());
        o.acked(0, 5);
        assert_eq!(o.due(), vec![(0, 6)]);
    }
}
