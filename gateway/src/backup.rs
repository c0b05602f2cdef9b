//! `voice-gateway backup <file>` and `voice-gateway restore <file>`: SQLite snapshots.
//!
//! **Backup** runs `VACUUM INTO` on a connection of its own to the live database: SQLite
//! writes a consistent snapshot (one read transaction; with WAL, writers go on meanwhile), so
//! it is safe while the gateway serves. The snapshot is written under a temporary name beside
//! the target, checked (`PRAGMA quick_check`), synced and renamed, so the target name never
//! holds half a file. An existing target is refused.
//!
//! **Restore** replaces the configured database with a backup, only when no gateway uses it.
//! `serve` holds an exclusive lock on a file beside the database (`<database>.lock`, see
//! [`DatabaseLock`]) for as long as it runs; restore takes the same lock and refuses if it
//! cannot. (A SQLite transaction lock cannot tell: in WAL mode an idle gateway holds none.)
//! The lock is the operating system's advisory file lock, released when the process ends,
//! however it ends. The backup is checked first (a SQLite database with the gateway's
//! migrations table), an existing database is replaced only with `--force`, and the copy is
//! written under a temporary name, synced, and renamed over the database, after the old
//! database's `-wal` and `-shm` files are removed (they belong to the old file).
//!
//! PostgreSQL has its own tools: both commands refuse a PostgreSQL config and say to use
//! `pg_dump` / `pg_restore` (the README's "Backup and restore").

use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteLockingMode};
use sqlx::{ConnectOptions, Connection};

use crate::config::{Backend, DatabaseConfig};

/// What to tell a PostgreSQL operator.
const USE_PG_TOOLS: &str = "the database is PostgreSQL: back it up with pg_dump and restore it \
     with pg_restore (see the README's \"Backup and restore\"); these commands are for SQLite";

/// The SQLite database file a config names, or why it names none.
pub fn database_file(config: &DatabaseConfig) -> Result<PathBuf, String> {
    match Backend::from_url(&config.url)? {
        Backend::Postgres => return Err(USE_PG_TOOLS.to_owned()),
        Backend::Sqlite => {}
    }
    let options = SqliteConnectOptions::from_str(&config.url)
        .map_err(|e| format!("invalid database url: {e}"))?;
    let file = options.get_filename();
    let in_memory = config.url.contains(":memory:") || config.url.contains("mode=memory");
    if in_memory || file.as_os_str().is_empty() {
        return Err("the database is in memory: there is nothing to back up or restore".into());
    }
    Ok(file.to_path_buf())
}

/// `path` with `suffix` appended to its file name (`gw.db` -> `gw.db.lock`).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// An exclusive lock on `<database>.lock`: held by `serve` while it runs, and by `restore`
/// while it replaces the database. Released when dropped or when the process ends.
///
/// The lock file is a tiny SQLite database of its own, held by a connection in exclusive
/// locking mode after a write: SQLite's file locks, which work the same on every platform, are
/// released by the operating system when the process dies, and another connection (in this
/// process or another) gets `SQLITE_BUSY` at once.
#[derive(Debug)]
pub struct DatabaseLock {
    held: SqliteConnection,
}

impl DatabaseLock {
    /// Takes the lock of the SQLite database `database`, or says who has it.
    pub async fn acquire(database: &Path) -> Result<Self, String> {
        let path = beside(database, ".lock");
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let refused = |e: sqlx::Error| {
            let busy = e
                .as_database_error()
                .and_then(|db| db.code())
                .and_then(|code| code.parse::<i32>().ok())
                .is_some_and(|code| matches!(code & 0xff, 5 | 6));
            if busy {
                format!(
                    "the database {} is in use: a gateway is serving it (or a restore is \
                     replacing it; it holds {}); stop it first",
                    database.display(),
                    path.display()
                )
            } else {
                format!("cannot lock {}: {e}", path.display())
            }
        };
        let mut held = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Delete)
            .locking_mode(SqliteLockingMode::Exclusive)
            .busy_timeout(std::time::Duration::ZERO)
            .connect()
            .await
            .map_err(refused)?;
        // The first write in exclusive locking mode takes the lock for good.
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS held_by (pid INTEGER NOT NULL); DELETE FROM held_by;",
        )
        .execute(&mut held)
        .await
        .map_err(refused)?;
        sqlx::query("INSERT INTO held_by (pid) VALUES ($1)")
            .bind(i64::from(std::process::id()))
            .execute(&mut held)
            .await
            .map_err(refused)?;
        Ok(Self { held })
    }

    /// Releases the lock now (dropping it releases it too, a moment later).
    pub async fn release(self) {
        let _ = self.held.close().await;
    }
}

/// A connection to the existing database `file` (never created). Read-write even to read: a
/// read-only connection cannot open a WAL database whose shared-memory file is missing.
async fn connect(file: &Path) -> Result<SqliteConnection, String> {
    SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("cannot open {}: {e}", file.display()))
}

/// Checks that `file` is a whole SQLite database of the gateway's (it has the migrations
/// table); returns how many migrations it has.
async fn check_database(file: &Path) -> Result<i64, String> {
    let mut conn = connect(file).await?;
    let checked: Result<(String, i64), sqlx::Error> = async {
        let integrity: String = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_one(&mut conn)
            .await?;
        let migrations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&mut conn)
            .await?;
        Ok((integrity, migrations))
    }
    .await;
    let _ = conn.close().await;
    match checked {
        Ok((integrity, migrations)) if integrity == "ok" && migrations > 0 => Ok(migrations),
        Ok((integrity, _)) if integrity != "ok" => Err(format!(
            "{} is damaged (quick_check: {integrity})",
            file.display()
        )),
        Ok(_) => Err(format!("{} has no migrations applied", file.display())),
        Err(e) => Err(format!(
            "{} is not a voice-gateway SQLite database: {e}",
            file.display()
        )),
    }
}

/// Syncs `path`'s contents, then its directory's entry.
fn sync(path: &Path) -> Result<(), String> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", path.display()))?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Removes `path` if it exists.
fn remove_if_present(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

/// Writes a consistent snapshot of the configured SQLite database to `target` (which must not
/// exist). Safe while the gateway serves.
pub async fn backup(config: &DatabaseConfig, target: &Path) -> Result<(), String> {
    let database = database_file(config)?;
    if !database.exists() {
        return Err(format!("there is no database at {}", database.display()));
    }
    if target.exists() {
        return Err(format!(
            "{} exists: name a new file (a backup never overwrites one)",
            target.display()
        ));
    }
    let partial = beside(target, ".partial");
    remove_if_present(&partial)?;
    let mut conn = connect(&database).await?;
    let vacuumed = sqlx::query("VACUUM INTO $1")
        .bind(partial.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    if let Err(e) = vacuumed {
        let _ = remove_if_present(&partial);
        return Err(format!("backup failed: {e}"));
    }
    let finished = async {
        check_database(&partial).await?;
        sync(&partial)?;
        // A hard link never replaces a target created meanwhile; where the file system has
        // none, a rename does the job.
        match std::fs::hard_link(&partial, target) {
            Ok(()) => remove_if_present(&partial)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(format!("{} exists: name a new file", target.display()));
            }
            Err(_) => std::fs::rename(&partial, target)
                .map_err(|e| format!("cannot write {}: {e}", target.display()))?,
        }
        sync_dir(target)
    }
    .await;
    if finished.is_err() {
        let _ = remove_if_present(&partial);
    }
    finished
}

/// Replaces the configured SQLite database with the backup `source`, if no gateway serves it;
/// an existing database only when `force`.
pub async fn restore(config: &DatabaseConfig, source: &Path, force: bool) -> Result<(), String> {
    let database = database_file(config)?;
    let migrations = check_database(source).await?;
    let lock = DatabaseLock::acquire(&database).await?;
    let restored = replace(&database, source, force).await;
    lock.release().await;
    restored?;
    tracing::info!(
        database = %database.display(),
        migrations,
        "database restored; `serve` applies any newer migrations"
    );
    Ok(())
}

/// [`restore`]'s work, under the lock.
async fn replace(database: &Path, source: &Path, force: bool) -> Result<(), String> {
    if database.exists() && !force {
        return Err(format!(
            "{} exists: pass --force to replace it with the backup",
            database.display()
        ));
    }
    let partial = beside(database, ".restoring");
    remove_if_present(&partial)?;
    let copied = async {
        std::fs::copy(source, &partial)
            .map_err(|e| format!("cannot copy {}: {e}", source.display()))?;
        sync(&partial)?;
        // The old database's write-ahead log and index must not be applied to the new file.
        remove_if_present(&beside(database, "-wal"))?;
        remove_if_present(&beside(database, "-shm"))?;
        std::fs::rename(&partial, database)
            .map_err(|e| format!("cannot replace {}: {e}", database.display()))?;
        sync_dir(database)
    }
    .await;
    if copied.is_err() {
        let _ = remove_if_present(&partial);
    }
    copied
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(dir: &Path) -> DatabaseConfig {
        DatabaseConfig {
            url: format!("sqlite://{}/gw.db", dir.display()),
            ..DatabaseConfig::default()
        }
    }

    #[test]
    fn postgres_and_memory_databases_are_refused_with_the_reason() {
        let postgres = DatabaseConfig {
            url: "postgres://u:p@db/voice".into(),
            ..DatabaseConfig::default()
        };
        let refused = database_file(&postgres).unwrap_err();
        assert!(refused.contains("pg_dump") && refused.contains("pg_restore"));
        let memory = DatabaseConfig {
            url: "sqlite::memory:".into(),
            ..DatabaseConfig::default()
        };
        assert!(database_file(&memory).unwrap_err().contains("in memory"));
    }

    #[tokio::test]
    async fn the_lock_is_held_once() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("gw.db");
        let held = DatabaseLock::acquire(&database).await.unwrap();
        let refused = DatabaseLock::acquire(&database).await.unwrap_err();
        assert!(refused.contains("in use"), "{refused}");
        held.release().await;
        DatabaseLock::acquire(&database).await.unwrap();
    }

    #[tokio::test]
    async fn a_backup_restores_and_neither_overwrites_without_asking() {
        let dir = tempfile::tempdir().unwrap();
        let config = sqlite(dir.path());
        let store = crate::store::Store::open(&config).await.unwrap();
        store.migrate().await.unwrap();
        let target = dir.path().join("backup.db");
        backup(&config, &target).await.unwrap();
        assert!(check_database(&target).await.unwrap() > 0);
        let again = backup(&config, &target).await.unwrap_err();
        assert!(again.contains("exists"), "{again}");
        store.close().await;

        let other = tempfile::tempdir().unwrap();
        let restored = sqlite(&other.path().join("nested"));
        restore(&restored, &target, false).await.unwrap();
        let refused = restore(&restored, &target, false).await.unwrap_err();
        assert!(refused.contains("--force"), "{refused}");
        restore(&restored, &target, true).await.unwrap();

        let not_a_backup = dir.path().join("notes.txt");
        std::fs::write(&not_a_backup, "hello").unwrap();
        let refused = restore(&restored, &not_a_backup, true).await.unwrap_err();
        assert!(refused.contains("not a voice-gateway"), "{refused}");
    }
}
