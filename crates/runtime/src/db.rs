//! Database connections: SQLite (file with WAL and a busy timeout, or
//! in-memory with a single connection) or PostgreSQL, chosen by URL.

use std::path::Path;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, SqlErr};

/// A pool of connections to a service's database, and its error and
/// transaction types: what a service's wiring (`lib.rs`, `error.rs`) names,
/// so that only its stores, entities and migrations depend on sea-orm.
pub use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};

/// The SQLite URL of `file` inside `data_dir`, creating the directory.
pub fn sqlite_url(data_dir: &Path, file: &str) -> std::io::Result<String> {
    std::fs::create_dir_all(data_dir)?;
    Ok(format!(
        "sqlite://{}?mode=rwc",
        data_dir.join(file).display()
    ))
}

/// Connects to `url` (`sqlite://...`, `sqlite::memory:` or `postgres://...`).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite") {
        if url.contains(":memory:") || url.contains("mode=memory") {
            // Every connection to :memory: is its own database.
            options.max_connections(1).min_connections(1);
        } else {
            options.max_connections(8);
        }
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
        });
    } else {
        options.max_connections(16);
    }
    Database::connect(options).await
}

/// True when `err` is a unique-constraint violation (a lost insert race).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Hides a password in a database URL for logs and messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// A connection or an open transaction, as domain code passes it to its
/// store without depending on sea-orm itself.
pub trait Conn: sea_orm::ConnectionTrait {}
impl<T: sea_orm::ConnectionTrait> Conn for T {}
