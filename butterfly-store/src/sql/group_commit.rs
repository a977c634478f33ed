//! Group commit: concurrent SCIM writes on SQLite share one transaction.
//!
//! SQLite admits one writer at a time, so SCIM writes already queued for the store's one
//! writing connection, and each paid for a transaction of its own: `BEGIN IMMEDIATE`
//! (taking the database's write lock), its statements, `COMMIT` (appending every page it
//! changed to the write-ahead log, the same index pages again for each write, and
//! dropping the lock). Here one task owns the writing side: it takes the next queued
//! write, opens a transaction, and lends it to that write inside a savepoint of its own;
//! then to the next queued write, and so on while writes are waiting (up to
//! [`MAX_BATCH`]); then it commits once, and answers every write of the batch.
//!
//! - **Each write stands alone.** A write that fails (a uniqueness violation, a lost
//!   compare-and-swap) or is given up is rolled back to its savepoint; the writes before
//!   and after it in the batch keep their work. Only a failure of the transaction itself
//!   (the commit, or an I/O error that makes SQLite abandon it) fails the whole batch,
//!   and then every write in it is told so: none is acknowledged.
//! - **Acknowledged means committed.** [`BatchedWrite::commit`] returns only after the
//!   batch's `COMMIT`, so every acknowledged write survives a crash of the process, as a
//!   write with its own transaction did.
//! - **Order and visibility are as before.** Writes run one at a time, in the order they
//!   asked, each seeing the ones before it. A write given up with
//!   [`BatchedWrite::rollback`] returns when its batch has ended, so a caller that lost a
//!   compare-and-swap and reads again (on another connection) sees the write that beat it.
//!
//! - **A write cannot wait for itself.** A write that, holding its turn, asks for
//!   another turn from the same task (a SCIM write starting a nested SCIM write) would
//!   wait forever: the writer task waits for the first write to hand the transaction
//!   back. [`GroupCommit::begin`] refuses it at once with
//!   [`SqlError::NestedScimWrite`]; the outer write goes on. (A nested write from
//!   *another* task that the holder awaits cannot be told from an ordinary concurrent
//!   write, and still waits for the holder.)
//!
//! PostgreSQL has no such queue (writers of different rows proceed in parallel), so it
//! keeps one transaction per write.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::{Any, AnyConnection, AnyPool, Executor as _, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::{SqlError, backend_error, boxed};
use butterfly_core::store::StoreError;

/// Most writes in one transaction: bounds how long the batch holds SQLite's write lock
/// (other writers, such as token and session updates, wait for it) and how long the
/// first write of a busy batch waits for its answer.
pub(crate) const MAX_BATCH: usize = 64;

const SAVEPOINT: &str = "SAVEPOINT scim_write";
const RELEASE: &str = "RELEASE SAVEPOINT scim_write";
const ROLLBACK_TO: &str = "ROLLBACK TO SAVEPOINT scim_write";

/// Where a write learns how its batch ended: `Ok` once committed.
type Answer = oneshot::Sender<Result<(), Arc<sqlx::Error>>>;

/// Counts of the group-commit writer, for monitoring and tests (see
/// [`SqlStore::group_commit_stats`](super::SqlStore::group_commit_stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupCommitStats {
    /// Transactions committed with at least one write in them.
    pub commits: u64,
    /// Writes acknowledged as committed.
    pub committed_writes: u64,
    /// Writes rolled back to their savepoint (failed or given up) while the rest of
    /// their batch went on.
    pub rolled_back_writes: u64,
    /// Writes waiting for their turn right now.
    pub waiting: u64,
}

#[derive(Debug, Default)]
struct Counters {
    commits: AtomicU64,
    committed_writes: AtomicU64,
    rolled_back_writes: AtomicU64,
    waiting: AtomicU64,
}

/// A write asking for its turn.
struct Request {
    turn: oneshot::Sender<Result<BatchedWrite, sqlx::Error>>,
}

/// How a write hands the transaction back.
enum Outcome {
    /// Keep its work; answer once the batch commits.
    Keep(Answer),
    /// Roll back to its savepoint; tell it (if it waits) once the batch ended.
    GiveUp(Option<Answer>),
}

struct Returned {
    tx: Transaction<'static, Any>,
    outcome: Outcome,
}

/// The handle SCIM writes queue on; cheap to clone. The writer task ends when the last
/// clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommit {
    requests: mpsc::UnboundedSender<Request>,
    counters: Arc<Counters>,
    /// Who holds the current turn (one at a time), so that it cannot ask for another.
    holder: Arc<Mutex<Option<Holder>>>,
}

/// The caller holding a turn: its Tokio task, or outside a task (`block_on`) its thread,
/// where every await of that caller runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Task(tokio::task::Id),
    Thread(std::thread::ThreadId),
}

impl Holder {
    fn current() -> Holder {
        tokio::task::try_id()
            .map_or_else(|| Holder::Thread(std::thread::current().id()), Holder::Task)
    }
}

impl GroupCommit {
    /// Start the writer task over `writer` (the pool of the one writing connection).
    pub(crate) fn start(writer: AnyPool) -> GroupCommit {
        let (requests, queue) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(writer, queue, Arc::clone(&counters)));
        GroupCommit {
            requests,
            counters,
            holder: Arc::new(Mutex::new(None)),
        }
    }

    /// Wait for this write's turn: the shared transaction, inside a savepoint of its own.
    /// [`SqlError::NestedScimWrite`] at once if this caller already holds a turn (it
    /// would wait for itself).
    pub(crate) async fn begin(&self) -> Result<BatchedWrite, StoreError> {
        let me = Holder::current();
        if *lock(&self.holder) == Some(me) {
            return Err(boxed(SqlError::NestedScimWrite));
        }
        let (turn, answer) = oneshot::channel();
        self.counters.waiting.fetch_add(1, Ordering::Relaxed);
        if self.requests.send(Request { turn }).is_err() {
            self.counters.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(backend_error(sqlx::Error::PoolClosed));
        }
        // The writer task only goes away with the runtime.
        let mut write = answer
            .await
            .unwrap_or(Err(sqlx::Error::PoolClosed))
            .map_err(backend_error)?;
        *lock(&self.holder) = Some(me);
        write.holder = Some(Arc::clone(&self.holder));
        Ok(write)
    }

    pub(crate) fn stats(&self) -> GroupCommitStats {
        let c = &self.counters;
        GroupCommitStats {
            commits: c.commits.load(Ordering::Relaxed),
            committed_writes: c.committed_writes.load(Ordering::Relaxed),
            rolled_back_writes: c.rolled_back_writes.load(Ordering::Relaxed),
            waiting: c.waiting.load(Ordering::Relaxed),
        }
    }
}

/// One write's turn on the shared transaction: statements run on it as on any
/// connection (it dereferences to one). [`commit`](Self::commit) keeps them and waits for
/// the batch's commit; [`rollback`](Self::rollback), or dropping it, undoes them alone.
pub(crate) struct BatchedWrite {
    /// Present from the lending until `commit`, `rollback` or drop hands it back.
    tx: Option<Transaction<'static, Any>>,
    back: Option<oneshot::Sender<Returned>>,
    /// Where its caller is recorded as holding the turn, until it hands it back.
    holder: Option<Arc<Mutex<Option<Holder>>>>,
}

/// The holder slot, even if a panic elsewhere poisoned it (it is a plain value).
fn lock(holder: &Mutex<Option<Holder>>) -> std::sync::MutexGuard<'_, Option<Holder>> {
    holder.lock().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for BatchedWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedWrite").finish_non_exhaustive()
    }
}

impl BatchedWrite {
    fn hand_back(&mut self, outcome: Outcome) {
        // Cleared before the transaction goes back: the next write's caller records
        // itself as soon as it gets its turn.
        if let Some(holder) = self.holder.take() {
            *lock(&holder) = None;
        }
        if let (Some(tx), Some(back)) = (self.tx.take(), self.back.take()) {
            // The writer task waits for it; if it is gone, so is the transaction.
            let _ = back.send(Returned { tx, outcome });
        }
    }

    /// Keep this write's work, and wait until the batch holding it has committed: `Ok`
    /// means the write is durable; an error means nothing of it was stored.
    pub(crate) async fn commit(mut self) -> Result<(), Arc<sqlx::Error>> {
        let (answer, ended) = oneshot::channel();
        self.hand_back(Outcome::Keep(answer));
        ended
            .await
            .unwrap_or_else(|_| Err(Arc::new(sqlx::Error::PoolClosed)))
    }

    /// Undo this write's work, and wait until its batch has ended (so what the batch
    /// committed is visible to every connection).
    pub(crate) async fn rollback(mut self) {
        let (answer, ended) = oneshot::channel();
        self.hand_back(Outcome::GiveUp(Some(answer)));
        let _ = ended.await;
    }
}

impl Drop for BatchedWrite {
    fn drop(&mut self) {
        // Dropped without a decision (an error returned early, a cancelled request):
        // undone, and nobody waits for the answer.
        self.hand_back(Outcome::GiveUp(None));
    }
}

impl Deref for BatchedWrite {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match &self.tx {
            Some(tx) => tx,
            None => unreachable!("only commit, rollback and drop take the transaction"),
        }
    }
}

impl DerefMut for BatchedWrite {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.tx {
            Some(tx) => tx,
            None => unreachable!("only commit, rollback and drop take the transaction"),
        }
    }
}

/// The writer task: one batch after another, for as long as writes can be queued.
async fn run(
    writer: AnyPool,
    mut queue: mpsc::UnboundedReceiver<Request>,
    counters: Arc<Counters>,
) {
    while let Some(first) = queue.recv().await {
        counters.waiting.fetch_sub(1, Ordering::Relaxed);
        // `BEGIN IMMEDIATE` takes the write lock now (waiting up to the busy timeout for
        // another writer), so no statement of the batch fails half-way for want of it.
        match writer.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => batch(tx, first, &mut queue, &counters).await,
            Err(e) => {
                let _ = first.turn.send(Err(e));
            }
        }
    }
}

/// Serve `first` and the writes queued behind it in one transaction, then end it and
/// answer them.
async fn batch(
    mut tx: Transaction<'static, Any>,
    first: Request,
    queue: &mut mpsc::UnboundedReceiver<Request>,
    counters: &Counters,
) {
    let mut kept: Vec<Answer> = Vec::new();
    let mut given_up: Vec<Answer> = Vec::new();
    let mut request = first;
    let mut served = 0;
    let ended = loop {
        served += 1;
        match serve(tx, request, &mut kept, &mut given_up, counters).await {
            Ok(back) => tx = back,
            // Dropped with the error, the transaction rolls back: the whole batch fails.
            Err(e) => break Err(Arc::new(e)),
        }
        if served >= MAX_BATCH {
            break end(tx, &kept).await;
        }
        match queue.try_recv() {
            Ok(next) => {
                counters.waiting.fetch_sub(1, Ordering::Relaxed);
                request = next;
            }
            Err(_) => break end(tx, &kept).await,
        }
    };
    if ended.is_ok() && !kept.is_empty() {
        counters.commits.fetch_add(1, Ordering::Relaxed);
        counters.committed_writes.fetch_add(
            u64::try_from(kept.len()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
    for answer in kept {
        let _ = answer.send(ended.clone());
    }
    for answer in given_up {
        let _ = answer.send(Ok(()));
    }
}

/// Commit the batch if it kept any write; otherwise roll it back (nothing to log).
async fn end(tx: Transaction<'static, Any>, kept: &[Answer]) -> Result<(), Arc<sqlx::Error>> {
    if kept.is_empty() {
        tx.rollback().await.map_err(Arc::new)
    } else {
        tx.commit().await.map_err(Arc::new)
    }
}

/// One write's turn: lend `tx` to it inside a fresh savepoint, take it back with the
/// write's decision, and release or undo the savepoint. The write's answer joins `kept`
/// or `given_up`. An error means the transaction itself failed (the batch with it).
async fn serve(
    mut tx: Transaction<'static, Any>,
    request: Request,
    kept: &mut Vec<Answer>,
    given_up: &mut Vec<Answer>,
    counters: &Counters,
) -> Result<Transaction<'static, Any>, sqlx::Error> {
    if let Err(e) = tx.execute(SAVEPOINT).await {
        let _ = request.turn.send(Err(e));
        // Whatever failed, the transaction is in no state to go on.
        return Err(sqlx::Error::Protocol(
            "cannot open a savepoint in the shared write transaction".to_owned(),
        ));
    }
    let (back, returned) = oneshot::channel();
    let write = BatchedWrite {
        tx: Some(tx),
        back: Some(back),
        holder: None,
    };
    // A write whose caller stopped waiting comes straight back, given up (its drop).
    let _ = request.turn.send(Ok(write));
    let Returned { mut tx, outcome } = returned.await.map_err(|_| sqlx::Error::PoolClosed)?;
    match outcome {
        Outcome::Keep(answer) => {
            kept.push(answer);
            // On error, its work cannot be told apart from the rest's any more.
            tx.execute(RELEASE).await?;
        }
        Outcome::GiveUp(answer) => {
            given_up.extend(answer);
            // ROLLBACK TO keeps the savepoint open; RELEASE then closes it without undoing
            // more. Either fails only when SQLite abandoned the whole transaction (an I/O
            // error, a full disk), and the writes kept before this one with it.
            tx.execute(ROLLBACK_TO).await?;
            tx.execute(RELEASE).await?;
            counters.rolled_back_writes.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(tx)
}
