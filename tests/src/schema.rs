//! A service's database read generically, for tests proving that a purge
//! left nothing behind: every table with its columns, and which tables
//! still mention an id in any column. Works on SQLite and PostgreSQL.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, QueryResult, Statement};

/// Runs `sql` and returns every row.
pub async fn query(db: &DatabaseConnection, sql: impl Into<String>) -> Vec<QueryResult> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
}

/// The `n` column of the first row of `sql` (a `SELECT COUNT(*) AS n ...`).
pub async fn count(db: &DatabaseConnection, sql: impl Into<String>) -> i64 {
    query(db, sql).await[0].try_get("", "n").unwrap()
}

/// Every table of the database's schema with its columns.
pub async fn tables(db: &DatabaseConnection) -> BTreeMap<String, Vec<String>> {
    let (tables_sql, columns_sql): (&str, fn(&str) -> String) = match db.get_database_backend() {
        DbBackend::Sqlite => (
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            |t| format!("SELECT name AS c FROM pragma_table_info('{t}')"),
        ),
        _ => (
            "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            |t| {
                format!(
                    "SELECT column_name AS c FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{t}'"
                )
            },
        ),
    };
    let mut out = BTreeMap::new();
    for row in query(db, tables_sql).await {
        let table: String = row.try_get("", "t").unwrap();
        let columns = query(db, columns_sql(&table))
            .await
            .iter()
            .map(|c| c.try_get::<String>("", "c").unwrap())
            .collect();
        out.insert(table, columns);
    }
    out
}

/// Per table, how many rows mention `needle` in any column (tables with
/// none are left out).
pub async fn rows_mentioning(db: &DatabaseConnection, needle: &str) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for (table, columns) in tables(db).await {
        let any = columns
            .iter()
            .map(|c| format!("CAST(\"{c}\" AS TEXT) LIKE '%{needle}%'"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let n = count(
            db,
            format!("SELECT COUNT(*) AS n FROM \"{table}\" WHERE {any}"),
        )
        .await;
        if n > 0 {
            out.insert(table, n);
        }
    }
    out
}

/// The tables holding organization data: those with an `organization_id`
/// or `scope_id` column.
pub async fn organization_tables(db: &DatabaseConnection) -> Vec<String> {
    tables(db)
        .await
        .into_iter()
        .filter(|(_, columns)| {
            columns
                .iter()
                .any(|c| c == "organization_id" || c == "scope_id")
        })
        .map(|(t, _)| t)
        .collect()
}

/// Every organization table (bar `allowed_empty`) holds data of `org`: the
/// test's data covers every place a purge must clean, so a table added
/// later without a purge path fails the test instead of passing it.
pub async fn assert_covers_every_table(db: &DatabaseConnection, org: &str, allowed_empty: &[&str]) {
    let mentioned = rows_mentioning(db, org).await;
    for table in organization_tables(db).await {
        if allowed_empty.contains(&table.as_str()) {
            continue;
        }
        assert!(
            mentioned.contains_key(&table),
            "{table} holds organization data but none of this test's organization: extend the test's data (and make sure the purge removes it)"
        );
    }
}
