//! Write transactions, and group commit on SQLite.
//!
//! SQLite has one writer and, with `synchronous = FULL`, pays one fsync per commit: committed
//! one at a time, durable writes run at the disk's fsync rate while the CPU idles. So every
//! write transaction on SQLite joins a *batch*: one real transaction on the writer connection,
//! in which each member runs under a savepoint of its own. A member that fails is rolled back
//! to its savepoint and never fails the others; members that succeed are answered only once
//! the batch's single `COMMIT` is durable (nothing is acknowledged before it is on disk).
//!
//! How a batch forms, without timers (no added latency when idle): members take turns on the
//! writer through a fair (FIFO) lock. A member that has run its statements gives the lock up
//! and queues for it again; when it gets it back and its batch is still open, it commits the
//! batch, for itself and for every member that ran in between. Alone, a member gets the lock
//! straight back and commits at once; under load the queue fills while one member waits, and
//! each commit takes everyone who queued meanwhile. A batch takes at most [`MAX_MEMBERS`].
//!
//! A member dropped half-way (its request was cancelled, or an error returned early) has its
//! savepoint rolled back by the connection before the next statement, and a task commits the
//! batch for the others if nobody else would. A commit that fails fails every member of the
//! batch with the same error: they have been answered nothing yet, and retry (each alone,
//! through `Store::retrying`) or answer unavailable.
//!
//! PostgreSQL runs many writers side by side and already shares one WAL flush among the
//! commits that arrive together, so there each write transaction is its own.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, OnceLock};

use sqlx::AnyConnection;
use sqlx::any::{Any, AnyTransactionManager};
use sqlx::pool::PoolConnection;
use sqlx::{AnyPool, Transaction};
use sqlx_core::transaction::TransactionManager;
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

use super::StoreError;

/// Most members in one batch: bounds how long the first of them waits for its answer.
pub(super) const MAX_MEMBERS: usize = 256;

/// How a batch ended, shared by its members.
#[derive(Debug, Clone)]
enum Outcome {
    Committed,
    /// The commit failed: whether trying again may succeed, and what the database said.
    Failed {
        transient: bool,
        message: Arc<str>,
    },
}

impl Outcome {
    fn of(result: Result<(), sqlx::Error>) -> Self {
        match result {
            Ok(()) => Outcome::Committed,
            Err(error) => Outcome::failed(&error),
        }
    }

    fn failed(error: &sqlx::Error) -> Self {
        Outcome::Failed {
            transient: super::backend::is_transient(error),
            message: error.to_string().into(),
        }
    }

    fn result(&self) -> Result<(), StoreError> {
        match self {
            Outcome::Committed => Ok(()),
            Outcome::Failed { transient, message } => {
                let error = sqlx::Error::Protocol(format!("group commit failed: {message}"));
                Err(if *transient {
                    StoreError::Unavailable(error)
                } else {
                    StoreError::Database(error)
                })
            }
        }
    }
}

type Settled = Arc<OnceLock<Outcome>>;

/// The open batch: the writer connection inside its transaction.
struct Batch {
    conn: PoolConnection<Any>,
    members: usize,
    settled: Settled,
    /// Set when a member's savepoint could not be ended: the transaction is in no state to
    /// commit, and the batch fails for all its members.
    broken: Option<Outcome>,
}

impl Batch {
    async fn begin(pool: &AnyPool) -> Result<Self, StoreError> {
        let mut conn = pool.acquire().await?;
        AnyTransactionManager::begin(&mut conn, None).await?;
        Ok(Batch {
            conn,
            members: 0,
            settled: Settled::default(),
            broken: None,
        })
    }

    fn takes_members(&self) -> bool {
        self.members < MAX_MEMBERS && self.broken.is_none()
    }

    fn break_with(&mut self, error: &sqlx::Error) {
        self.broken.get_or_insert(Outcome::failed(error));
    }
}

#[derive(Default)]
struct Writer {
    open: Option<Batch>,
    /// Batches committed so far.
    commits: u64,
}

/// SQLite's writer, shared by every write transaction of a store.
#[derive(Clone)]
pub(super) struct GroupCommit {
    pool: AnyPool,
    writer: Arc<Mutex<Writer>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    pub(super) fn new(pool: AnyPool) -> Self {
        Self {
            pool,
            writer: Arc::default(),
        }
    }

    /// Joins the open batch (opening one if there is none, or if it takes no more members),
    /// inside a savepoint of this member's own.
    async fn join(&self) -> Result<Member, StoreError> {
        let mut writer = Arc::clone(&self.writer).lock_owned().await;
        if writer
            .open
            .as_ref()
            .is_some_and(|batch| !batch.takes_members())
        {
            writer = end_open(writer).await?;
        }
        let batch = match writer.open.take() {
            Some(batch) => batch,
            None => Batch::begin(&self.pool).await?,
        };
        let mut running = OwnedMutexGuard::map(writer, move |writer| writer.open.insert(batch));
        let pending = Pending {
            settled: Arc::clone(&running.settled),
            group: self.clone(),
            seen: false,
        };
        if let Err(error) = AnyTransactionManager::begin(&mut running.conn, None).await {
            running.break_with(&error);
            drop(running);
            pending.wait().await;
            return Err(error.into());
        }
        running.members += 1;
        Ok(Member {
            running: Running {
                batch: running,
                finished: false,
            },
            pending,
        })
    }

    /// Batches committed so far.
    #[cfg(test)]
    async fn commits(&self) -> u64 {
        self.writer.lock().await.commits
    }

    /// Waits until the batch of `settled` has ended, ending it if it is still open.
    async fn settle(&self, settled: &Settled) -> Outcome {
        if let Some(outcome) = settled.get() {
            return outcome.clone();
        }
        let writer = Arc::clone(&self.writer).lock_owned().await;
        if settled.get().is_none() {
            // Only the open batch is unsettled: it is this one.
            let _ = end_open(writer).await;
        }
        settled.get().cloned().unwrap_or_else(|| Outcome::Failed {
            transient: true,
            message: "the batch ended without an outcome".into(),
        })
    }
}

/// Ends the open batch, if any, on a task of its own that holds the writer until it is done:
/// whoever asked may stop waiting (its request cancelled) without leaving the batch's members
/// with no outcome. The writer back, unless the task did not finish (the runtime stopping).
async fn end_open(
    mut writer: OwnedMutexGuard<Writer>,
) -> Result<OwnedMutexGuard<Writer>, StoreError> {
    let ending = tokio::spawn(async move {
        if let Some(batch) = writer.open.take() {
            end_batch(&mut writer, batch).await;
        }
        writer
    });
    ending
        .await
        .map_err(|_| StoreError::Unavailable(sqlx::Error::PoolClosed))
}

/// Commits a batch (or, if it is broken, rolls it back) and tells its members how that went.
async fn end_batch(writer: &mut Writer, mut batch: Batch) {
    let outcome = match batch.broken.take() {
        Some(broken) => broken,
        None => Outcome::of(AnyTransactionManager::commit(&mut batch.conn).await),
    };
    match outcome {
        Outcome::Committed => {
            writer.commits += 1;
            super::count_durable_commit();
        }
        Outcome::Failed { .. } => discard(batch.conn).await,
    }
    let _ = batch.settled.set(outcome);
}

/// Rolls the connection's transaction back; a connection that cannot even do that is closed
/// rather than handed to the next batch in an unknown state.
async fn discard(mut conn: PoolConnection<Any>) {
    while AnyTransactionManager::get_transaction_depth(&conn) > 0 {
        if AnyTransactionManager::rollback(&mut conn).await.is_err() {
            conn.close_on_drop();
            return;
        }
    }
}

/// A member of a batch, running: the writer, inside this member's savepoint.
struct Member {
    running: Running,
    pending: Pending,
}

impl Member {
    /// Keeps this member's work (releases its savepoint) and waits for the batch's commit.
    async fn commit(self) -> Result<(), StoreError> {
        self.running.finish(true).await;
        self.pending.wait().await.result()
    }

    /// Undoes this member's work (rolls back to its savepoint) and waits for the batch to
    /// end (so that nothing is left open), whatever became of it.
    async fn rollback(self) -> Result<(), StoreError> {
        self.running.finish(false).await;
        self.pending.wait().await;
        Ok(())
    }
}

/// The writer, held while a member runs its statements.
struct Running {
    batch: OwnedMappedMutexGuard<Writer, Batch>,
    finished: bool,
}

impl Running {
    /// Ends the member's savepoint (kept or undone) and lets the next member in.
    async fn finish(mut self, keep: bool) {
        let conn = &mut self.batch.conn;
        let ended = if keep {
            AnyTransactionManager::commit(conn).await
        } else {
            AnyTransactionManager::rollback(conn).await
        };
        if let Err(error) = ended {
            self.batch.break_with(&error);
        }
        self.finished = true;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.finished {
            // Cancelled, or returned early: the connection rolls this member's savepoint back
            // before whatever it runs next.
            AnyTransactionManager::start_rollback(&mut self.batch.conn);
        }
    }
}

/// A member's interest in its batch's outcome, until it has seen it.
struct Pending {
    settled: Settled,
    group: GroupCommit,
    seen: bool,
}

impl Pending {
    async fn wait(mut self) -> Outcome {
        let outcome = self.group.settle(&self.settled).await;
        self.seen = true;
        outcome
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.seen || self.settled.get().is_some() {
            return;
        }
        // Dropped before its batch ended (cancelled while running or while waiting): the
        // others in the batch may all be gone too, so make sure the batch is ended.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let group = self.group.clone();
            let settled = Arc::clone(&self.settled);
            runtime.spawn(async move {
                group.settle(&settled).await;
            });
        }
    }
}

/// A write transaction: grouped with others on SQLite, its own on PostgreSQL. Dereferences to
/// the connection; dropping it uncommitted rolls its work back.
pub(crate) struct WriteTx(Inner);

enum Inner {
    Grouped(Member),
    Alone(Transaction<'static, Any>),
}

impl WriteTx {
    pub(super) async fn begin(
        group: Option<&GroupCommit>,
        pool: &AnyPool,
    ) -> Result<Self, StoreError> {
        Ok(WriteTx(match group {
            Some(group) => Inner::Grouped(group.join().await?),
            None => Inner::Alone(pool.begin().await?),
        }))
    }

    /// Makes the work durable: returns once it is committed.
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self.0 {
            Inner::Grouped(member) => member.commit().await,
            Inner::Alone(tx) => {
                tx.commit().await?;
                super::count_durable_commit();
                Ok(())
            }
        }
    }

    /// Undoes the work.
    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        match self.0 {
            Inner::Grouped(member) => member.rollback().await,
            Inner::Alone(tx) => Ok(tx.rollback().await?),
        }
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match &self.0 {
            Inner::Grouped(member) => &member.running.batch.conn,
            Inner::Alone(tx) => tx,
        }
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.0 {
            Inner::Grouped(member) => &mut member.running.batch.conn,
            Inner::Alone(tx) => tx,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::DatabaseConfig;
    use crate::store::Store;

    async fn sqlite() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let config = DatabaseConfig {
            url: format!("sqlite://{}/group.db", dir.path().display()),
            ..DatabaseConfig::default()
        };
        let store = Store::open(&config).await.unwrap();
        store
            .execute_write(sqlx::query("CREATE TABLE notes (body TEXT NOT NULL)"))
            .await
            .unwrap();
        (store, dir)
    }

    fn group(store: &Store) -> &GroupCommit {
        store.group.as_ref().unwrap()
    }

    async fn note(tx: &mut WriteTx, body: &str) {
        sqlx::query("INSERT INTO notes (body) VALUES ($1)")
            .bind(body.to_owned())
            .execute(&mut **tx)
            .await
            .unwrap();
    }

    async fn notes(store: &Store) -> Vec<String> {
        sqlx::query_scalar("SELECT body FROM notes ORDER BY body")
            .fetch_all(&store.reader)
            .await
            .unwrap()
    }

    /// Starts a writer that notes `body` (and, if `fail`, then runs a statement that fails and
    /// drops its transaction), once the first member holds the writer.
    fn queue(store: &Store, body: &'static str, fail: bool) -> tokio::task::JoinHandle<bool> {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin_write().await.unwrap();
            note(&mut tx, body).await;
            if fail {
                let failed = sqlx::query("INSERT INTO no_such_table VALUES (1)")
                    .execute(&mut *tx)
                    .await;
                assert!(failed.is_err());
                return false;
            }
            tx.commit().await.unwrap();
            true
        })
    }

    #[tokio::test]
    async fn writers_that_wait_together_share_one_commit() {
        let (store, _dir) = sqlite().await;
        let before = group(&store).commits().await;
        let mut first = store.begin_write().await.unwrap();
        note(&mut first, "a").await;
        let others: Vec<_> = ["b", "c", "d"]
            .into_iter()
            .map(|body| queue(&store, body, false))
            .collect();
        // Let the others queue behind the first member.
        tokio::time::sleep(Duration::from_millis(100)).await;
        first.commit().await.unwrap();
        for other in others {
            assert!(other.await.unwrap());
        }
        assert_eq!(notes(&store).await, ["a", "b", "c", "d"]);
        assert_eq!(group(&store).commits().await, before + 1);
    }

    #[tokio::test]
    async fn a_failing_member_is_rolled_back_alone() {
        let (store, _dir) = sqlite().await;
        let before = group(&store).commits().await;
        let mut first = store.begin_write().await.unwrap();
        note(&mut first, "a").await;
        let failing = queue(&store, "b", true);
        let after = queue(&store, "c", false);
        tokio::time::sleep(Duration::from_millis(100)).await;
        first.commit().await.unwrap();
        assert!(!failing.await.unwrap());
        assert!(after.await.unwrap());
        assert_eq!(notes(&store).await, ["a", "c"]);
        assert_eq!(group(&store).commits().await, before + 1);
    }

    #[tokio::test]
    async fn a_rolled_back_member_keeps_nothing_and_the_batch_goes_on() {
        let (store, _dir) = sqlite().await;
        let mut first = store.begin_write().await.unwrap();
        note(&mut first, "a").await;
        first.rollback().await.unwrap();
        let mut second = store.begin_write().await.unwrap();
        note(&mut second, "b").await;
        second.commit().await.unwrap();
        assert_eq!(notes(&store).await, ["b"]);
    }

    #[tokio::test]
    async fn a_member_dropped_alone_leaves_no_transaction_open() {
        let (store, _dir) = sqlite().await;
        let before = group(&store).commits().await;
        {
            let mut dropped = store.begin_write().await.unwrap();
            note(&mut dropped, "a").await;
        }
        // The batch it opened is ended for it: the writer is free, and reads see no trace.
        tokio::time::timeout(Duration::from_secs(5), async {
            while group(&store).writer.lock().await.open.is_some() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the dropped member's batch is ended");
        assert!(notes(&store).await.is_empty());
        assert_eq!(group(&store).commits().await, before + 1);
        let mut next = store.begin_write().await.unwrap();
        note(&mut next, "b").await;
        next.commit().await.unwrap();
        assert_eq!(notes(&store).await, ["b"]);
    }

    #[tokio::test]
    async fn a_member_cancelled_while_waiting_for_the_commit_is_committed() {
        let (store, _dir) = sqlite().await;
        let mut member = store.begin_write().await.unwrap();
        note(&mut member, "a").await;
        // Something else queues for the writer while the member runs, and keeps it a while:
        // the member, done with its statements, then waits for its batch to be committed.
        let writer = Arc::clone(&group(&store).writer);
        let busy = tokio::spawn(async move {
            let _held = writer.lock().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let committing = tokio::spawn(member.commit());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!committing.is_finished(), "the commit waits for the writer");
        committing.abort();
        busy.await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            while notes(&store).await.is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the cancelled member's batch is committed for it");
        assert_eq!(notes(&store).await, ["a"]);
    }

    #[tokio::test]
    async fn a_full_batch_is_committed_before_the_next_member_joins() {
        let (store, _dir) = sqlite().await;
        let before = group(&store).commits().await;
        let mut first = store.begin_write().await.unwrap();
        note(&mut first, "first").await;
        let others: Vec<_> = (0..MAX_MEMBERS)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut tx = store.begin_write().await.unwrap();
                    note(&mut tx, &format!("n{i:04}")).await;
                    tx.commit().await.unwrap();
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        first.commit().await.unwrap();
        for other in others {
            other.await.unwrap();
        }
        assert_eq!(notes(&store).await.len(), MAX_MEMBERS + 1);
        assert_eq!(group(&store).commits().await, before + 2);
    }
}
