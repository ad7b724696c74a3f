//! Chunk commits of the native batch path, in the background: the target
//! files' bytes are synced, then the position is stored, while the next
//! chunk is processed. At most one commit runs and one waits; a chunk that
//! ends while both slots are taken joins the waiting one (its files are
//! synced together and only the later position is stored), so the records
//! loop never waits for a disk unless a run ends or stops.

use aqueduct_runtime::connector::StateStore;
use std::fs::File;
use std::sync::Arc;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;

/// What one commit makes durable: these files' bytes, then this position
/// (`None`: only the bytes, at a stop or a failure). Each file comes with
/// the number of its sink (the flow's targets, then the dead letter).
pub(super) struct Job {
    pub files: Vec<(usize, File)>,
    pub position: Option<String>,
}

impl Job {
    /// Joins a later job to this one. A sink's file is synced once: every
    /// handle of it reaches the same file, and one sync made after the
    /// later job's writes covers the earlier job's too (without this, a
    /// job that absorbed three chunks synced the same file three times).
    fn absorb(&mut self, later: Job) {
        for (sink, file) in later.files {
            if !self.files.iter().any(|(s, _)| *s == sink) {
                self.files.push((sink, file));
            }
        }
        if later.position.is_some() {
            self.position = later.position;
        }
    }
}

/// The commit thread and the job waiting for it.
pub(super) struct Committer {
    tx: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<Result<(), String>>>,
    waiting: Option<Job>,
}

impl Committer {
    pub fn start(
        state: Arc<dyn StateStore>,
        key: String,
        handle: tokio::runtime::Handle,
    ) -> Result<Committer, String> {
        let (tx, rx) = mpsc::sync_channel::<Job>(0);
        let thread = std::thread::Builder::new()
            .name("aqueduct-native-commit".into())
            .spawn(move || {
                for job in rx {
                    for (_, file) in &job.files {
                        file.sync_data()
                            .map_err(|e| format!("cannot sync an output file: {e}"))?;
                    }
                    if let Some(position) = &job.position {
                        handle
                            .block_on(state.put(&key, position))
                            .map_err(|e| format!("cannot store the position: {e}"))?;
                    }
                }
                Ok(())
            })
            .map_err(|e| format!("cannot start the commit thread: {e}"))?;
        Ok(Committer {
            tx: Some(tx),
            thread: Some(thread),
            waiting: None,
        })
    }

    /// Hands `job` over, or keeps it waiting (joined to the one already
    /// waiting) while a commit runs. `Err` when an earlier commit failed.
    pub fn push(&mut self, job: Job) -> Result<(), String> {
        let job = match self.waiting.take() {
            Some(mut waiting) => {
                waiting.absorb(job);
                waiting
            }
            None => job,
        };
        let Some(tx) = &self.tx else {
            return Err("the commit thread stopped".into());
        };
        match tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job)) => {
                self.waiting = Some(job);
                Ok(())
            }
            Err(TrySendError::Disconnected(_)) => Err(self.stop()),
        }
    }

    /// Commits what is waiting and waits for every commit to end.
    pub fn finish(mut self) -> Result<(), String> {
        if let (Some(job), Some(tx)) = (self.waiting.take(), &self.tx)
            && tx.send(job).is_err()
        {
            return Err(self.stop());
        }
        drop(self.tx.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err("the commit thread panicked".into()),
            None => Ok(()),
        }
    }

    /// The failure that stopped the commit thread.
    fn stop(&mut self) -> String {
        drop(self.tx.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => "the commit thread panicked".into(),
            _ => "the commit thread stopped".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &tempfile::TempDir, name: &str) -> File {
        File::create(dir.path().join(name)).expect("a file")
    }

    #[test]
    fn jobs_joined_sync_each_sink_once_and_store_the_later_position() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut job = Job {
            files: vec![(0, file(&dir, "a")), (1, file(&dir, "dead"))],
            position: Some("1000".into()),
        };
        job.absorb(Job {
            files: vec![(0, file(&dir, "a2"))],
            position: Some("2000".into()),
        });
        job.absorb(Job {
            files: vec![(2, file(&dir, "b"))],
            position: None,
        });
        let sinks: Vec<usize> = job.files.iter().map(|(s, _)| *s).collect();
        assert_eq!(sinks, [0, 1, 2]);
        assert_eq!(job.position.as_deref(), Some("2000"));
    }
}
