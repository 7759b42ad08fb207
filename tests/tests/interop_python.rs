//! Interop: a Python client generated from `proto/` with grpcio-tools talks to
//! the real `loopbackd` binary (`tests/python/smoke.py`): create and list an
//! organization, an unauthenticated call, and a refused CreateProject whose
//! `grpc-status-details-bin` trailer decodes (with the generated
//! `google.rpc` messages) to an ErrorInfo with reason ENTITY_STATUS; huge bad
//! input (100 KB values, 10,000 unknown limit keys) arrives as a small
//! INVALID_ARGUMENT, not as grpc-core's RESOURCE_EXHAUSTED.
//!
//! Needs `target/debug/loopbackd` and `.venv` with grpcio and grpcio-tools;
//! `scripts/test.sh` provides both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod interop_common;

use std::path::{Path, PathBuf};

use interop_common::{Daemon, run, venv_python, workspace_root};

/// Every `.proto` under `dir`, relative to `root`.
fn protos(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            protos(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path.strip_prefix(root).expect("under proto/").to_path_buf());
        }
    }
}

/// Generates the Python client for every proto into `out`.
fn generate_python_client(out: &Path) {
    let root = workspace_root();
    let proto = root.join("proto");
    let mut files = Vec::new();
    protos(&proto, &proto.join("loopback"), &mut files);
    protos(&proto, &proto.join("google"), &mut files);
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("google/rpc/status.proto")),
        "proto/google/rpc/status.proto is missing: the client needs google.rpc.Status to decode error details"
    );
    let output = run(std::process::Command::new(venv_python())
        .current_dir(&root)
        .args(["-m", "grpc_tools.protoc", "-I", "proto"])
        .arg(format!("--python_out={}", out.display()))
        .arg(format!("--grpc_python_out={}", out.display()))
        .args(&files));
    assert!(
        output.status.success(),
        "grpc_tools.protoc failed ({}); run scripts/test.sh to install grpcio-tools into .venv:\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for generated in [
        "loopback/orgcore/v1/organization_pb2.py",
        "loopback/orgcore/v1/organization_pb2_grpc.py",
        "google/rpc/error_details_pb2.py",
        "google/rpc/status_pb2.py",
    ] {
        assert!(
            out.join(generated).is_file(),
            "protoc did not generate {generated}"
        );
    }
}

#[test]
fn generated_python_client_creates_lists_and_decodes_error_details() {
    let generated = tempfile::Builder::new()
        .prefix("loopback-python-client-")
        .tempdir()
        .expect("temp dir");
    generate_python_client(generated.path());

    let daemon = Daemon::start();
    let token = daemon.account_token("alice@example.com");
    let script = workspace_root().join("tests/python/smoke.py");
    let output = run(std::process::Command::new(venv_python())
        .arg(&script)
        .arg("--target")
        .arg(daemon.target())
        .arg("--token")
        .arg(&token)
        .arg("--operator-token")
        .arg(daemon.operator_token())
        .env("PYTHONPATH", generated.path())
        .env("PYTHONDONTWRITEBYTECODE", "1"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        script.display(),
        output.status
    );
    assert!(
        stdout.contains("python smoke: ok"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    println!("{stdout}");
}
