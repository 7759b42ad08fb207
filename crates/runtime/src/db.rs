//! Database connections: SQLite (file with WAL and a busy timeout, or
//! in-memory with a single connection) or PostgreSQL, chosen by URL.

use std::path::Path;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, SqlErr};

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
