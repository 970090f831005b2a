//! Drift checks: template.yaml, the `cargo lambda watch` router, the
//! routers, the OpenAPI document, the sample events and the domain crate's
//! layers agree with each other and with the code, and the in-memory
//! store stays out of every build but the tests' and the benchmark's.
//!
//! They read files and build routers but call no AWS, so they need no moto:
//! `make check` runs them (`cargo test --test drift`), and `make test` with
//! everything else. A test that needs AWS belongs in `tests/api/`, never
//! here. `make_check.rs` keeps `make check` running every such target.

mod events;
mod generated;
mod handlers;
mod layers;
mod make_check;
mod memory_store;
mod routes;
mod template;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// A file of the project, by its path from the workspace root.
fn project_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.rs` file under `dir`, at any depth.
fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// What a cargo command (run offline, at the workspace root) prints.
fn cargo(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO"))
        .args(args)
        .arg("--offline")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .unwrap_or_else(|e| panic!("cargo {args:?}: {e}"));
    assert!(
        output.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("cargo prints UTF-8")
}

/// The workspace's packages as their manifests declare them (`cargo
/// metadata --no-deps`).
fn workspace_metadata() -> serde_json::Value {
    let json = cargo(&["metadata", "--no-deps", "--format-version", "1"]);
    serde_json::from_str(&json).expect("cargo metadata prints JSON")
}

/// template.yaml, CloudFormation's tags (`!Ref`, `!GetAtt`) kept.
fn template() -> serde_norway::Value {
    serde_norway::from_str(&project_file("template.yaml")).expect("template.yaml is YAML")
}
