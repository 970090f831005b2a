//! Drift checks: template.yaml, the `cargo lambda watch` router, the
//! routers, the OpenAPI document, the sample events and the domain crate's
//! layers agree with each other and with the code.
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
mod routes;
mod template;

use std::path::{Path, PathBuf};

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

/// template.yaml, CloudFormation's tags (`!Ref`, `!GetAtt`) kept.
fn template() -> serde_norway::Value {
    serde_norway::from_str(&project_file("template.yaml")).expect("template.yaml is YAML")
}
