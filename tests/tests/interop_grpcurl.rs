//! Interop: the real `loopbackd` binary driven by the real grpcurl, with no
//! proto files at hand (everything comes from server reflection), as an
//! operator would use it: `list`, `describe`, health, authenticated and
//! unauthenticated calls, error details printed by grpcurl, and the README's
//! five-minute tour (verify, set a limit, create projects until the limit).
//!
//! Needs `target/debug/loopbackd` (`cargo build --workspace --bins`) and
//! grpcurl on PATH or in `.venv/bin`; `scripts/test.sh` provides both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod interop_common;

use interop_common::{Daemon, grpcurl_bin, run};
use serde_json::{Value, json};

/// One finished grpcurl run.
struct Call {
    what: String,
    exit: i32,
    stdout: String,
    stderr: String,
}

impl Call {
    /// Panics with everything grpcurl said unless it succeeded.
    fn ok(&self) -> &Self {
        assert_eq!(
            self.exit, 0,
            "{} failed (exit {}):\nstdout:\n{}\nstderr:\n{}",
            self.what, self.exit, self.stdout, self.stderr
        );
        self
    }

    /// The response message, as grpcurl prints it (JSON).
    fn json(&self) -> Value {
        self.ok();
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{}: stdout is not JSON ({e}):\n{}", self.what, self.stdout))
    }

    /// Asserts the call failed with `code` (grpcurl's name, e.g.
    /// `FailedPrecondition`) whose number is `number`: grpcurl prints
    /// `Code: <name>` and exits with 64 + the code number.
    fn failed_with(&self, code: &str, number: i32) -> &Self {
        assert!(
            self.stderr.contains(&format!("Code: {code}\n")) && self.exit == 64 + number,
            "{}: expected {code} (exit {}), got exit {}:\nstdout:\n{}\nstderr:\n{}",
            self.what,
            64 + number,
            self.exit,
            self.stdout,
            self.stderr
        );
        self
    }

    /// The error details grpcurl decoded (via reflection) and printed as
    /// JSON, one per `N)\t{...}` line under `Details:`.
    fn details(&self) -> Vec<Value> {
        self.stderr
            .lines()
            .filter_map(|line| {
                let (index, rest) = line.trim().split_once(')')?;
                index.parse::<u32>().ok()?;
                serde_json::from_str(rest.trim()).ok()
            })
            .collect()
    }

    /// The `google.rpc.ErrorInfo` detail.
    fn error_info(&self) -> Value {
        self.details()
            .into_iter()
            .find(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
            .unwrap_or_else(|| {
                panic!(
                    "{}: no google.rpc.ErrorInfo among the error details grpcurl printed:\n{}",
                    self.what, self.stderr
                )
            })
    }
}

/// `grpcurl -plaintext [-H authorization] [-d data] <addr> <args...>`.
fn grpcurl(daemon: &Daemon, token: Option<&str>, data: Option<&Value>, args: &[&str]) -> Call {
    let mut command = std::process::Command::new(grpcurl_bin());
    command.args(["-plaintext", "-max-time", "30"]);
    if let Some(token) = token {
        command
            .arg("-H")
            .arg(format!("authorization: Bearer {token}"));
    }
    if let Some(data) = data {
        command.arg("-d").arg(data.to_string());
    }
    command.arg(daemon.target()).args(args);
    let output = run(&mut command);
    Call {
        what: format!("grpcurl {}", args.join(" ")),
        exit: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

const ORGS: &str = "loopback.orgcore.v1.OrganizationService";
const PROJECTS: &str = "loopback.orgcore.v1.ProjectService";
const OPERATOR: &str = "loopback.orgcore.v1.OperatorService";

fn create_org(daemon: &Daemon, token: &str, display_name: &str) -> Value {
    let response = grpcurl(
        daemon,
        Some(token),
        Some(&json!({"organization": {"display_name": display_name}})),
        &[&format!("{ORGS}/CreateOrganization")],
    )
    .json();
    response["organization"].clone()
}

fn create_project(daemon: &Daemon, token: &str, org: &str, display_name: &str) -> Call {
    grpcurl(
        daemon,
        Some(token),
        Some(&json!({"parent": org, "project": {"display_name": display_name}})),
        &[&format!("{PROJECTS}/CreateProject")],
    )
}

#[test]
fn list_shows_every_service_health_and_reflection() {
    let daemon = Daemon::start();
    let call = grpcurl(&daemon, None, None, &["list"]);
    call.ok();
    let listed: Vec<&str> = call.stdout.lines().map(str::trim).collect();
    for service in [
        "loopback.orgcore.v1.OrganizationService",
        "loopback.orgcore.v1.ProjectService",
        "loopback.orgcore.v1.OperatorService",
        "loopback.orgcore.v1.AccountService",
        "loopback.orgcore.v1.AuthorityService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(
            listed.contains(&service),
            "`grpcurl list` does not show {service}:\n{}",
            call.stdout
        );
    }

    // And each service's methods, e.g. the standard methods of organizations.
    let call = grpcurl(&daemon, None, None, &["list", ORGS]);
    call.ok();
    for method in [
        "CreateOrganization",
        "GetOrganization",
        "ListOrganizations",
        "UpdateOrganization",
        "DeleteOrganization",
    ] {
        assert!(
            call.stdout
                .lines()
                .any(|l| l.trim() == format!("{ORGS}.{method}")),
            "`grpcurl list {ORGS}` does not show {method}:\n{}",
            call.stdout
        );
    }
}

#[test]
fn describe_shows_documented_messages() {
    let daemon = Daemon::start();
    let call = grpcurl(
        &daemon,
        None,
        None,
        &["describe", "loopback.orgcore.v1.Organization"],
    );
    call.ok();
    let out = &call.stdout;
    assert!(
        out.contains("loopback.orgcore.v1.Organization is a message:"),
        "{out}"
    );
    assert!(out.contains("message Organization {"), "{out}");
    assert!(out.contains("string display_name = 2;"), "{out}");
    // Comments come through reflection: the message and every field carry one.
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let message_line = lines
        .iter()
        .position(|l| *l == "message Organization {")
        .unwrap();
    assert!(
        message_line > 0 && lines[message_line - 1].starts_with("//"),
        "no comment on message Organization:\n{out}"
    );
    let mut fields = 0;
    for (i, line) in lines.iter().enumerate().skip(message_line + 1) {
        if line.ends_with(';') && line.contains(" = ") {
            fields += 1;
            assert!(
                lines[i - 1].starts_with("//"),
                "field `{line}` has no comment in `describe`:\n{out}"
            );
        }
    }
    assert!(fields >= 5, "describe shows only {fields} fields:\n{out}");

    // Services describe with their methods, and the error details our
    // errors carry are describable too (grpcurl needs that to print them).
    let call = grpcurl(&daemon, None, None, &["describe", ORGS]);
    call.ok();
    assert!(call.stdout.contains("is a service:"), "{}", call.stdout);
    assert!(
        call.stdout.contains("rpc CreateOrganization"),
        "{}",
        call.stdout
    );
    let call = grpcurl(&daemon, None, None, &["describe", "google.rpc.ErrorInfo"]);
    call.ok();
    assert!(
        call.stdout.contains("string reason = 1;"),
        "{}",
        call.stdout
    );
}

#[test]
fn health_check_serves() {
    let daemon = Daemon::start();
    let response = grpcurl(&daemon, None, None, &["grpc.health.v1.Health/Check"]).json();
    assert_eq!(response["status"], "SERVING", "{response}");
}

#[test]
fn calls_without_a_valid_token_are_unauthenticated() {
    let daemon = Daemon::start();
    let list = format!("{ORGS}/ListOrganizations");
    let call = grpcurl(&daemon, None, Some(&json!({})), &[&list]);
    call.failed_with("Unauthenticated", 16);
    let call = grpcurl(&daemon, Some("not-a-token"), Some(&json!({})), &[&list]);
    call.failed_with("Unauthenticated", 16);
    // A token signed by another server's dev key is refused too.
    let other = Daemon::start();
    let foreign = other.account_token("alice@example.com");
    let call = grpcurl(&daemon, Some(&foreign), Some(&json!({})), &[&list]);
    call.failed_with("Unauthenticated", 16);
}

#[test]
fn account_creates_and_lists_an_organization() {
    let daemon = Daemon::start();
    let alice = daemon.account_token("alice@example.com");
    let org = create_org(&daemon, &alice, "Acme");
    let name = org["name"].as_str().expect("organization name");
    assert!(name.starts_with("organizations/"), "{org}");
    assert_eq!(org["displayName"], "Acme", "{org}");
    assert_eq!(
        org["verificationStatus"], "VERIFICATION_STATUS_IN_SETUP",
        "{org}"
    );

    let got = grpcurl(
        &daemon,
        Some(&alice),
        Some(&json!({"name": name})),
        &[&format!("{ORGS}/GetOrganization")],
    )
    .json();
    assert_eq!(got["organization"]["name"], name, "{got}");

    let listed = grpcurl(
        &daemon,
        Some(&alice),
        Some(&json!({})),
        &[&format!("{ORGS}/ListOrganizations")],
    )
    .json();
    let names: Vec<&str> = listed["organizations"]
        .as_array()
        .unwrap_or_else(|| panic!("no organizations in {listed}"))
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(names, vec![name], "{listed}");

    // Another account does not see it.
    let bob = daemon.account_token("bob@example.com");
    let listed = grpcurl(
        &daemon,
        Some(&bob),
        Some(&json!({})),
        &[&format!("{ORGS}/ListOrganizations")],
    )
    .json();
    assert!(
        listed["organizations"].as_array().is_none_or(Vec::is_empty),
        "bob sees alice's organization: {listed}"
    );
}

#[test]
fn create_project_in_setup_is_refused_with_entity_status_details() {
    let daemon = Daemon::start();
    let alice = daemon.account_token("alice@example.com");
    let org = create_org(&daemon, &alice, "Acme");
    let name = org["name"].as_str().expect("organization name");

    let call = create_project(&daemon, &alice, name, "web");
    call.failed_with("FailedPrecondition", 9);
    let info = call.error_info();
    assert_eq!(info["reason"], "ENTITY_STATUS", "{info}");
    assert_eq!(info["domain"], "loopback.cloud", "{info}");
    assert_eq!(info["metadata"]["organization"], name, "{info}");
    assert_eq!(
        info["metadata"]["verification_status"], "IN_SETUP",
        "{info}"
    );
    assert_eq!(info["metadata"]["action"], "CreateProject", "{info}");
    assert!(
        call.stderr.contains("IN_SETUP"),
        "the message should say why:\n{}",
        call.stderr
    );
}

/// The README's five-minute tour: an account creates an organization and
/// cannot create a project yet (ENTITY_STATUS); the operator verifies it and
/// sets `max_projects=2`; the account creates projects until the limit
/// refuses with RESOURCE_EXHAUSTED / LIMIT_REACHED.
fn five_minute_tour(daemon: &Daemon) {
    let operator = daemon.operator_token();
    let alice = daemon.account_token("alice@example.com");
    let org = create_org(daemon, &alice, "Acme");
    let name = org["name"].as_str().expect("organization name");

    // Not yet verified: creating a project is refused.
    let refused = create_project(daemon, &alice, name, "web");
    refused.failed_with("FailedPrecondition", 9);
    assert_eq!(
        refused.error_info()["reason"],
        "ENTITY_STATUS",
        "{}",
        refused.stderr
    );

    let verified = grpcurl(
        daemon,
        Some(&operator),
        Some(&json!({"name": name, "verification_status": "VERIFICATION_STATUS_VERIFIED", "reason": "kyc ok"})),
        &[&format!("{OPERATOR}/SetVerificationStatus")],
    )
    .json();
    assert_eq!(
        verified["organization"]["verificationStatus"], "VERIFICATION_STATUS_VERIFIED",
        "{verified}"
    );

    let limited = grpcurl(
        daemon,
        Some(&operator),
        Some(&json!({"name": name, "capabilities": {"limits": {"max_projects": "2"}}, "reason": "plan"})),
        &[&format!("{OPERATOR}/SetCapabilities")],
    )
    .json();
    assert_eq!(
        limited["organization"]["capabilities"]["limits"]["max_projects"], "2",
        "{limited}"
    );

    // Accounts cannot use operator verbs.
    grpcurl(
        daemon,
        Some(&alice),
        Some(&json!({"name": name, "capabilities": {"limits": {"max_projects": "100"}}, "reason": "me"})),
        &[&format!("{OPERATOR}/SetCapabilities")],
    )
    .failed_with("PermissionDenied", 7);

    let mut created = Vec::new();
    let refusal = loop {
        assert!(
            created.len() <= 10,
            "max_projects=2 never refused: created {created:?}"
        );
        let call = create_project(daemon, &alice, name, &format!("p{}", created.len() + 1));
        if call.exit != 0 {
            break call;
        }
        let project = call.json();
        created.push(
            project["project"]["name"]
                .as_str()
                .expect("project name")
                .to_string(),
        );
    };
    assert_eq!(
        created.len(),
        2,
        "expected exactly 2 projects before the limit: {created:?}"
    );
    for project in &created {
        assert!(
            project.starts_with(&format!("{name}/projects/")),
            "{project}"
        );
    }
    refusal.failed_with("ResourceExhausted", 8);
    let info = refusal.error_info();
    assert_eq!(info["reason"], "LIMIT_REACHED", "{info}");
    assert_eq!(info["domain"], "loopback.cloud", "{info}");
    assert_eq!(info["metadata"]["limit"], "max_projects", "{info}");
    assert_eq!(info["metadata"]["limit_value"], "2", "{info}");
    assert_eq!(info["metadata"]["usage"], "2", "{info}");
    assert!(
        refusal
            .details()
            .iter()
            .any(|d| d["@type"] == "type.googleapis.com/google.rpc.QuotaFailure"),
        "LIMIT_REACHED should carry a QuotaFailure:\n{}",
        refusal.stderr
    );

    let listed = grpcurl(
        daemon,
        Some(&alice),
        Some(&json!({"parent": name})),
        &[&format!("{PROJECTS}/ListProjects")],
    )
    .json();
    assert_eq!(
        listed["projects"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
}

#[test]
fn five_minute_tour_on_sqlite() {
    five_minute_tour(&Daemon::start());
}

#[test]
fn five_minute_tour_on_postgres() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let url = runtime.block_on(loopback_tests::pg::fresh_database());
    five_minute_tour(&Daemon::start_with(&[&format!(
        "--org-core-database-url={url}"
    )]));
}
