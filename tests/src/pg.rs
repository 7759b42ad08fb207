//! A throwaway PostgreSQL for tests.
//!
//! If `LOOPBACK_TEST_POSTGRES_URL` is set (a server URL without a database,
//! e.g. `postgres://postgres@127.0.0.1:5432`, whose user may create
//! databases), tests use it; `scripts/test.sh` starts one cluster for the
//! whole run and sets it. Otherwise the first test that needs PostgreSQL in a
//! test process starts a private cluster with `initdb`/`pg_ctl` on a free
//! port (as the `postgres` user when running as root, since initdb refuses
//! root), and a watchdog stops and removes it when the process exits.
//!
//! There is no skipping: if neither works, the test fails and says why.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sea_orm::{ConnectionTrait as _, Database};

/// Environment variable naming an existing server to use.
pub const URL_ENV: &str = "LOOPBACK_TEST_POSTGRES_URL";

static CLUSTER: OnceLock<Result<String, String>> = OnceLock::new();

/// The server URL (without a database) tests create databases on.
pub async fn server_url() -> String {
    if let Ok(url) = std::env::var(URL_ENV)
        && !url.is_empty()
    {
        return url.trim_end_matches('/').to_string();
    }
    let result = tokio::task::spawn_blocking(|| CLUSTER.get_or_init(start_cluster).clone())
        .await
        .expect("cluster start task");
    match result {
        Ok(url) => url,
        Err(e) => panic!(
            "cannot start a throwaway PostgreSQL ({e}); set {URL_ENV} or install initdb/pg_ctl"
        ),
    }
}

/// Test databases older than this are dropped (on a shared server they
/// would otherwise pile up run after run).
const STALE_AFTER_SECONDS: u64 = 2 * 3600;

static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Drops the `t_…` databases of earlier runs (their name holds a UUIDv7, so
/// its time tells their age). One in use is left alone: DROP refuses it.
async fn drop_stale_databases(admin: &sea_orm::DatabaseConnection) {
    let Ok(rows) = admin
        .query_all_raw(sea_orm::Statement::from_string(
            admin.get_database_backend(),
            "SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'".to_string(),
        ))
        .await
    else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let created = uuid::Uuid::parse_str(&name[2..])
            .ok()
            .and_then(|id| id.get_timestamp())
            .map(|t| t.to_unix().0);
        if created.is_some_and(|c| now.saturating_sub(c) > STALE_AFTER_SECONDS) {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
                .await;
        }
    }
}

/// A fresh, empty database; returns its URL.
pub async fn fresh_database() -> String {
    let server = server_url().await;
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let admin = Database::connect(format!("{server}/postgres"))
        .await
        .unwrap_or_else(|e| panic!("connecting to {server}/postgres: {e}"));
    SWEPT.get_or_init(|| drop_stale_databases(&admin)).await;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
    admin.close().await.ok();
    format!("{server}/{name}")
}

/// Drops a database [`fresh_database`] made (best effort: a test that
/// cannot clean up still passes; the next run's sweep removes it).
pub async fn drop_database(url: &str) {
    let Some((server, name)) = url.rsplit_once('/') else {
        return;
    };
    if !name.starts_with("t_") {
        return;
    }
    if let Ok(admin) = Database::connect(format!("{server}/postgres")).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
        admin.close().await.ok();
    }
}

fn find_pg_bin(tool: &str) -> Result<PathBuf, String> {
    if let Ok(path) = which(tool) {
        return Ok(path);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| format!("{tool} is not on PATH and /usr/lib/postgresql does not exist"))?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(tool)))
        .filter(|p| p.exists())
        .collect();
    versions.sort();
    versions.pop().ok_or_else(|| format!("{tool} not found"))
}

fn which(tool: &str) -> Result<PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root.
fn pg_command(tool: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(tool);
        c
    } else {
        Command::new(tool)
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn start_cluster() -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let initdb = find_pg_bin("initdb")?;
    let pg_ctl = find_pg_bin("pg_ctl")?;
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("loopback-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    // The postgres user must be able to write here.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
        .map_err(|e| e.to_string())?;
    let data = dir.join("data");
    let mut init = pg_command(&initdb, root);
    init.arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
        "--no-instructions",
    ]);
    run(init, "initdb")?;
    let port = free_port()?;
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
        dir.display()
    );
    let mut start = pg_command(&pg_ctl, root);
    start
        .arg("-D")
        .arg(&data)
        .arg("-o")
        .arg(&options)
        .arg("-l")
        .arg(dir.join("log"))
        .args(["-w", "-t", "60", "start"]);
    run(start, "pg_ctl start")?;
    // Stop and remove the cluster once this test process is gone.
    let stop = if root {
        format!(
            "runuser -u postgres -- {} -D {} -m immediate stop",
            pg_ctl.display(),
            data.display()
        )
    } else {
        format!(
            "{} -D {} -m immediate stop",
            pg_ctl.display(),
            data.display()
        )
    };
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .arg("-c")
        .arg(watchdog)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the cluster watchdog: {e}"))?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}"))
}
