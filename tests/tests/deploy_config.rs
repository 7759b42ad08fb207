//! The example deployment environments stay true: every LOOPBACK_* variable
//! in deploy/<binary>.env is one `<binary> --help` documents.

mod interop_common;

use interop_common::{binary, clean_command, run, workspace_root};

#[test]
fn every_variable_in_the_example_env_is_a_loopbackd_setting() {
    check_example_env("loopbackd", 25);
}

#[test]
fn every_variable_in_the_standalone_examples_is_a_setting_of_that_binary() {
    check_example_env("org-core", 15);
    check_example_env("billing", 13);
    check_example_env("dns", 15);
    check_example_env("integrations", 15);
}

fn check_example_env(binary_name: &str, at_least: usize) {
    let help = run(clean_command(&binary(binary_name)).arg("--help"));
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let example =
        std::fs::read_to_string(workspace_root().join(format!("deploy/{binary_name}.env")))
            .unwrap();
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
            "{name} is not a {binary_name} setting"
        );
        checked += 1;
    }
    assert!(
        checked >= at_least,
        "the {binary_name} example sets every group of settings ({checked} checked)"
    );
}
