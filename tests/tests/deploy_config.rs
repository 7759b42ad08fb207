//! The example deployment environment stays true: every LOOPBACK_* variable
//! in deploy/loopbackd.env is one `loopbackd --help` documents.

mod interop_common;

use interop_common::{clean_command, loopbackd_bin, run, workspace_root};

#[test]
fn every_variable_in_the_example_env_is_a_loopbackd_setting() {
    let help = run(clean_command(&loopbackd_bin()).arg("--help"));
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let example = std::fs::read_to_string(workspace_root().join("deploy/loopbackd.env")).unwrap();
    let mut checked = 0;
    for line in example.lines().map(str::trim) {
        let line = line.trim_start_matches("# ");
        let Some((name, _)) = line.split_once('=') else {
            continue;
        };
        if !name.starts_with("LOOPBACK_") || name.contains(' ') {
            continue;
        }
        assert!(
            help.contains(&format!("[env: {name}=")),
            "{name} is not a loopbackd setting"
        );
        checked += 1;
    }
    assert!(
        checked >= 20,
        "the example sets every group of settings ({checked} checked)"
    );
}
