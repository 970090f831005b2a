//! The in-memory store (`chatlogger`'s `memory-store` feature: the memory
//! adapters and the storage contract) is for tests and the benchmark.
//! Tests ask for it as a dev-dependency feature; only the benchmark, which
//! is not a default member, as a normal one. So neither a Lambda's release
//! build (`cargo lambda build --release`, `sam build`), nor the local
//! server's, nor the CLI's compiles it. Checked in the manifests as cargo
//! reads them, and in the features cargo resolves for a build of every
//! crate but the benchmark.

use std::collections::BTreeSet;

use crate::cargo;

const FEATURE: &str = "memory-store";
/// The one crate whose build may compile it.
const BENCH: &str = "chatlogger-bench";

/// The features `chatlogger` is built with when cargo builds `packages`
/// (libraries and binaries, as `cargo build` does: normal and build
/// dependencies, for every target platform).
fn chatlogger_features(packages: &[&str]) -> BTreeSet<String> {
    let mut args = vec!["tree", "--locked", "-e", "normal,build", "--target", "all"];
    args.extend(["--prefix", "none", "--format", "{p} features: {f}"]);
    args.extend(packages);
    let tree = cargo(&args);
    let lines: Vec<&str> = tree
        .lines()
        .filter(|line| line.starts_with("chatlogger v"))
        .collect();
    assert!(
        !lines.is_empty(),
        "cargo tree {packages:?} names chatlogger"
    );
    lines
        .iter()
        .filter_map(|line| line.split_once(" features: "))
        .flat_map(|(_, features)| features.trim_end_matches(" (*)").split(','))
        .map(str::trim)
        .filter(|feature| !feature.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn only_the_benchmark_depends_on_the_memory_store_outside_tests() {
    let metadata = crate::workspace_metadata();
    let packages = metadata["packages"].as_array().unwrap();
    let chatlogger = packages
        .iter()
        .find(|package| package["name"] == "chatlogger")
        .expect("the domain crate");
    assert!(
        chatlogger["features"].get(FEATURE).is_some(),
        "chatlogger has no {FEATURE} feature any more: update this check"
    );
    let defaults = chatlogger["features"]["default"].as_array();
    assert!(
        !defaults.is_some_and(|defaults| defaults.iter().any(|f| f == FEATURE)),
        "{FEATURE} is one of chatlogger's default features"
    );
    let mut normal = BTreeSet::new();
    for package in packages {
        let name = package["name"].as_str().unwrap();
        for dependency in package["dependencies"].as_array().unwrap() {
            let enables = dependency["name"] == "chatlogger"
                && dependency["features"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f == FEATURE);
            // `kind` is null for a normal dependency, "build" or "dev".
            if enables && dependency["kind"] != "dev" {
                normal.insert(name);
            }
        }
    }
    assert_eq!(
        normal,
        BTreeSet::from([BENCH]),
        "crates whose normal (or build) dependency on chatlogger enables {FEATURE}: \
         only tests (as a dev-dependency feature) and the benchmark may"
    );
}

#[test]
fn a_build_of_every_crate_but_the_benchmark_leaves_the_memory_store_out() {
    let everything_else = chatlogger_features(&["--workspace", "--exclude", BENCH]);
    assert!(
        !everything_else.contains(FEATURE),
        "building the workspace without the benchmark compiles chatlogger with {everything_else:?}"
    );
    // The check can see the feature: the benchmark's build has it.
    assert!(chatlogger_features(&["-p", BENCH]).contains(FEATURE));
}
