//! `make check` runs every test that needs no AWS: each crate's unit tests
//! (`--lib`) and the test targets in the Makefile's `CHECK_TESTS`, which
//! must be every test target but those of [`NEED_AWS`]. Otherwise a new
//! test target would run under `make test` only.

use std::collections::BTreeSet;

/// The test targets that need AWS (moto): `make test` runs them, `make
/// check` cannot.
const NEED_AWS: &[&str] = &["api"];

/// `CHECK_TESTS := ...` in the Makefile.
fn check_tests() -> BTreeSet<String> {
    crate::project_file("Makefile")
        .lines()
        .find_map(|line| line.strip_prefix("CHECK_TESTS :="))
        .expect("the Makefile sets CHECK_TESTS")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn make_check_runs_every_test_target_that_needs_no_aws() {
    let metadata = crate::workspace_metadata();
    let mut without_aws = BTreeSet::new();
    for package in metadata["packages"].as_array().unwrap() {
        for target in package["targets"].as_array().unwrap() {
            let name = target["name"].as_str().unwrap();
            let kinds = target["kind"].as_array().unwrap();
            let tested = target["test"].as_bool() == Some(true);
            if !tested {
                continue;
            }
            if kinds.iter().any(|kind| kind == "test") && !NEED_AWS.contains(&name) {
                without_aws.insert(name.to_owned());
            }
            // `cargo test --workspace` runs a binary's own tests, `--lib` does not.
            assert!(
                !kinds.iter().any(|kind| kind == "bin"),
                "{}: binary {name} has tests of its own, which make check would not run: \
                 move them to the crate's lib (or set `test = false`)",
                package["name"]
            );
        }
    }
    assert_eq!(
        check_tests(),
        without_aws,
        "the Makefile's CHECK_TESTS vs the test targets that need no AWS"
    );
}
