//! The invariants ARCHITECTURE.md states about the service shape, checked
//! on the source so they stay true. Each service crate (every crate
//! `loopbackd` runs) is read file by file:
//!
//! - only `store.rs`/`store/`, `entity/` and `migration/` touch sea-orm
//!   (`lib.rs`, `service.rs` and `error.rs` may name its connection and
//!   error types to wire the service);
//! - only adapters (`grpc.rs`) see gRPC: no `tonic`/`Status` in domain or
//!   store code (`error.rs` holds the one conversion, `lib.rs` the routes);
//! - adapters parse and map: no `Status::` built in them, no authority or
//!   write-transaction calls, no "validated fields missing" fallbacks;
//! - a module reaches another module through its domain API, never its
//!   store;
//! - no permission string literals: permissions are the catalog's constants.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Code without comments (doc comments mention these words freely).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

struct SourceFile {
    /// Path below the crate's `src/`, e.g. `projects/grpc.rs`.
    rel: String,
    /// The top-level module it belongs to (`projects`), or `""` for files
    /// directly in `src/`.
    module: String,
    code: String,
}

fn service_files() -> Vec<(String, Vec<SourceFile>)> {
    let root = workspace_root();
    loopbackd::SERVICES
        .iter()
        .map(|service| {
            let src = root.join("crates").join(service).join("src");
            let mut paths = Vec::new();
            rust_files(&src, &mut paths);
            let files = paths
                .into_iter()
                .map(|path| {
                    let rel = path
                        .strip_prefix(&src)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    let module = match rel.split_once('/') {
                        Some((dir, _)) => dir.to_string(),
                        None => String::new(),
                    };
                    let code = code_of(&std::fs::read_to_string(&path).unwrap());
                    SourceFile { rel, module, code }
                })
                .collect();
            (service.to_string(), files)
        })
        .collect()
}

fn is_store(rel: &str) -> bool {
    rel.ends_with("store.rs")
        || rel.contains("/store/")
        || rel.starts_with("entity/")
        || rel.starts_with("migration/")
}

fn is_wiring(rel: &str) -> bool {
    matches!(rel, "lib.rs" | "service.rs" | "error.rs" | "main.rs")
}

fn is_adapter(rel: &str) -> bool {
    rel.ends_with("grpc.rs") || rel.contains("/grpc/")
}

/// Whether `code` builds or names a gRPC `Status` (`Status::new`,
/// `tonic::Status`), as opposed to `VerificationStatus::` and the like.
fn uses_status(code: &str) -> bool {
    code.match_indices("Status::").any(|(i, _)| {
        !code[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

fn check(rule: &str, offenders: Vec<String>) {
    assert!(
        offenders.is_empty(),
        "{rule}; offending files:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn only_stores_touch_sea_orm() {
    let mut offenders = Vec::new();
    for (service, files) in service_files() {
        for f in files {
            if f.code.contains("sea_orm") && !is_store(&f.rel) && !is_wiring(&f.rel) {
                offenders.push(format!("crates/{service}/src/{}", f.rel));
            }
        }
    }
    check("sea-orm outside store/entity/migration", offenders);
}

#[test]
fn only_adapters_see_grpc() {
    let mut offenders = Vec::new();
    for (service, files) in service_files() {
        for f in files {
            let grpc = f.code.contains("tonic::") || uses_status(&f.code);
            let allowed = is_adapter(&f.rel) || matches!(f.rel.as_str(), "lib.rs" | "error.rs");
            if grpc && !allowed {
                offenders.push(format!("crates/{service}/src/{}", f.rel));
            }
        }
    }
    check("tonic/Status outside the adapters", offenders);
}

#[test]
fn adapters_parse_and_map_only() {
    // `FieldViolations::new()` is the old hand-rolled validation whose
    // parsed fields were then defaulted; adapters use `Fields`, which hands
    // back values only when every field is good.
    let forbidden = [
        ".authority()",
        ".authorize(",
        "begin_write",
        "validated fields missing",
        "FieldViolations::new()",
    ];
    let mut offenders = Vec::new();
    for (service, files) in service_files() {
        for f in files.iter().filter(|f| is_adapter(&f.rel)) {
            if uses_status(&f.code) {
                offenders.push(format!("crates/{service}/src/{}: builds a Status", f.rel));
            }
            for word in forbidden {
                if f.code.contains(word) {
                    offenders.push(format!("crates/{service}/src/{}: {word}", f.rel));
                }
            }
        }
    }
    check("adapters doing more than parse, call, map", offenders);
}

#[test]
fn no_validated_fields_missing_fallbacks_anywhere() {
    let mut paths = Vec::new();
    rust_files(&workspace_root().join("crates"), &mut paths);
    let offenders: Vec<String> = paths
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .contains("validated fields missing")
        })
        .map(|p| p.display().to_string())
        .collect();
    check("Option-then-internal fallbacks", offenders);
}

#[test]
fn modules_reach_each_other_through_their_domain_api() {
    let mut offenders = Vec::new();
    for (service, files) in service_files() {
        let modules: Vec<String> = files
            .iter()
            .filter(|f| !f.module.is_empty())
            .map(|f| f.module.clone())
            .collect();
        for f in &files {
            for other in &modules {
                if *other == f.module {
                    continue;
                }
                if f.code.contains(&format!("{other}::store")) {
                    offenders.push(format!(
                        "crates/{service}/src/{} uses {other}::store",
                        f.rel
                    ));
                }
            }
        }
    }
    offenders.sort();
    offenders.dedup();
    check("a module using another module's store", offenders);
}

#[test]
fn permissions_are_catalog_constants_not_literals() {
    let mut offenders = Vec::new();
    for (service, files) in service_files() {
        for f in files {
            for literal in f.code.split('"').skip(1).step_by(2) {
                let parts: Vec<&str> = literal.split('.').collect();
                let looks_like_permission = parts.len() == 3
                    && ["orgcore", "billing", "dns", "integrations"].contains(&parts[0])
                    && parts[1].chars().all(|c| c.is_ascii_alphabetic())
                    && parts[2].chars().all(|c| c.is_ascii_lowercase());
                if looks_like_permission {
                    offenders.push(format!("crates/{service}/src/{}: {literal:?}", f.rel));
                }
            }
        }
    }
    check("permission string literals", offenders);
}
