//! The journal of a restore run: one JSON line per event, each synced to disk before the
//! next request goes out.
//!
//! It holds ids and actions only, never resource bodies: the repository is encrypted,
//! the journal is not. A run killed midway leaves a journal without a `finished` record;
//! the next run reads it to know what was already created (and under which new ids) and
//! which undo snapshot holds what it replaced.
//!
//! ```text
//! {"type":"run","run_id":"...","mode":"restore","snapshot_id":"...","org":"...","plan_fingerprint":"..."}
//! {"type":"undo_snapshot","snapshot_id":"..."}
//! {"type":"step","plan_fingerprint":"...","order":0,"action":"create","kind":"group","id":"00g1","live_id":"00g9","outcome":"done"}
//! {"type":"finished","done":12,"failed":0}
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use butterfly_core::restore::{PlanAction, RestoreMode};
use butterfly_core::{Digest, ResourceKind, SnapshotId};
use serde::{Deserialize, Serialize};

use super::remap::IdMap;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum JournalRecord {
    /// A run (or a resumed run) of a plan starts.
    Run {
        /// The run's id (its directory's name).
        run_id: String,
        /// Restore, sync or undo.
        mode: RestoreMode,
        /// The snapshot restored from.
        snapshot_id: SnapshotId,
        /// The org written to.
        org: String,
        /// The plan executed.
        plan_fingerprint: Digest,
    },
    /// The live versions of what the run updates or deletes were stored as this snapshot.
    UndoSnapshot {
        /// The snapshot.
        snapshot_id: SnapshotId,
    },
    /// One step's outcome.
    Step {
        /// The plan the step belongs to.
        plan_fingerprint: Digest,
        /// Its position in the plan.
        order: u64,
        /// What it did.
        action: PlanAction,
        /// The kind.
        kind: ResourceKind,
        /// The resource's id in the snapshot (for a delete: in the org).
        id: String,
        /// Its id in the org after the step.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        live_id: Option<String>,
        /// `done` or `failed`.
        outcome: StepOutcome,
        /// Why it failed (Okta's status, error code and summary).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Every step was attempted.
    Finished {
        /// Steps done.
        done: u64,
        /// Steps that failed.
        failed: u64,
    },
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StepOutcome {
    /// It happened.
    Done,
    /// Okta refused it or it could not be sent.
    Failed,
}

/// A journal: in a file (synced on every record), or in memory.
#[derive(Debug)]
pub struct Journal {
    path: Option<PathBuf>,
    file: Option<File>,
    records: Vec<JournalRecord>,
}

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The file could not be opened, read, written or synced.
    #[error("journal {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line does not parse.
    #[error("journal {}, line {line}: {reason}", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// Why.
        reason: String,
    },
}

impl Journal {
    /// A journal kept in memory only (tests, dry runs).
    pub fn in_memory() -> Self {
        Journal {
            path: None,
            file: None,
            records: Vec::new(),
        }
    }

    /// Open the journal at `path`, reading what it holds, to append to it. A last line
    /// cut short by a crash is dropped (its step is retried or re-planned).
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut records = Vec::new();
        let mut keep = None;
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(io)?;
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            let last = lines.len();
            let mut offset = 0u64;
            for (n, line) in lines.iter().enumerate() {
                if !line.trim().is_empty() {
                    match serde_json::from_str(line.trim_end()) {
                        Ok(record) => records.push(record),
                        // Only the last line can be torn by a kill: cut it off, so the
                        // next record starts on a line of its own.
                        Err(_) if n + 1 == last => {
                            keep = Some(offset);
                            break;
                        }
                        Err(e) => {
                            return Err(JournalError::Damaged {
                                path: path.to_owned(),
                                line: n + 1,
                                reason: e.to_string(),
                            });
                        }
                    }
                }
                offset += line.len() as u64;
            }
        }
        if let Some(length) = keep {
            let file = OpenOptions::new().write(true).open(path).map_err(io)?;
            file.set_len(length).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok(Journal {
            path: Some(path.to_owned()),
            file: Some(file),
            records,
        })
    }

    /// Append one record, synced to disk before this returns.
    pub fn append(&mut self, record: JournalRecord) -> Result<(), JournalError> {
        if let (Some(file), Some(path)) = (&mut self.file, &self.path) {
            let io = |source| JournalError::Io {
                path: path.clone(),
                source,
            };
            let mut line = serde_json::to_vec(&record).map_err(|e| io(e.into()))?;
            line.push(b'\n');
            file.write_all(&line).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        self.records.push(record);
        Ok(())
    }

    /// Every record, oldest first.
    pub fn records(&self) -> &[JournalRecord] {
        &self.records
    }

    /// Whether the last run recorded finished.
    pub fn is_finished(&self) -> bool {
        matches!(self.records.last(), Some(JournalRecord::Finished { .. }))
    }

    /// The latest undo snapshot recorded.
    pub fn undo_snapshot(&self) -> Option<SnapshotId> {
        self.records.iter().rev().find_map(|r| match r {
            JournalRecord::UndoSnapshot { snapshot_id } => Some(*snapshot_id),
            _ => None,
        })
    }

    /// Whether step `order` of plan `fingerprint` is done.
    pub fn is_done(&self, fingerprint: Digest, order: u64) -> bool {
        self.done_steps()
            .any(|(f, o, ..)| f == fingerprint && o == order)
    }

    /// `(plan, order, action, kind, id, live id)` of every step done, oldest first.
    pub fn done_steps(
        &self,
    ) -> impl Iterator<Item = (Digest, u64, PlanAction, &ResourceKind, &str, Option<&str>)> {
        self.records.iter().filter_map(|r| match r {
            JournalRecord::Step {
                plan_fingerprint,
                order,
                action,
                kind,
                id,
                live_id,
                outcome: StepOutcome::Done,
                ..
            } => Some((
                *plan_fingerprint,
                *order,
                *action,
                kind,
                id.as_str(),
                live_id.as_deref(),
            )),
            _ => None,
        })
    }

    /// The ids the run's creates were given: snapshot id to org id.
    pub fn created_ids(&self) -> IdMap {
        let mut map = IdMap::new();
        for (_, _, action, _, id, live_id) in self.done_steps() {
            if let (PlanAction::Create, Some(live_id)) = (action, live_id) {
                map.insert_path(id, live_id);
            }
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(order: u64, outcome: StepOutcome) -> JournalRecord {
        JournalRecord::Step {
            plan_fingerprint: Digest::from_array([1; 32]),
            order,
            action: PlanAction::Create,
            kind: ResourceKind::new("group"),
            id: format!("00g{order}"),
            live_id: Some(format!("00gNEW{order}")),
            outcome,
            error: None,
        }
    }

    #[test]
    fn survives_a_torn_last_line_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        journal.append(step(0, StepOutcome::Done)).unwrap();
        journal.append(step(1, StepOutcome::Failed)).unwrap();
        drop(journal);
        // A kill in the middle of a write.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"type\":\"step\",\"plan_fin").unwrap();
        drop(file);

        let journal = Journal::open(&path).unwrap();
        assert_eq!(journal.records().len(), 2);
        assert!(journal.is_done(Digest::from_array([1; 32]), 0));
        assert!(!journal.is_done(Digest::from_array([1; 32]), 1));
        assert!(!journal.is_finished());
        assert_eq!(journal.created_ids().get("00g0"), "00gNEW0");
        assert_eq!(journal.created_ids().get("00g1"), "00g1");

        let mut journal = journal;
        journal
            .append(JournalRecord::Finished { done: 1, failed: 1 })
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(
            text.lines()
                .next()
                .unwrap()
                .contains("\"live_id\":\"00gNEW0\"")
        );
        assert!(Journal::open(&path).unwrap().is_finished());
    }

    #[test]
    fn damage_before_the_last_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        std::fs::write(
            &path,
            "not json\n{\"type\":\"finished\",\"done\":0,\"failed\":0}\n",
        )
        .unwrap();
        assert!(matches!(
            Journal::open(&path),
            Err(JournalError::Damaged { line: 1, .. })
        ));
    }
}
