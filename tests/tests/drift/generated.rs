//! Files generated from the code and committed, so that a reader (and the
//! dashboard's type generator) has them without building anything:
//!
//! - `docs/openapi.json`: the OpenAPI document `GET /openapi.json` serves,
//!   pretty-printed;
//! - `docs/api-reference.md`: the API reference, rendered from it;
//! - the `cargo lambda watch` router in `Cargo.toml`, from template.yaml's
//!   routes (template.yaml is the one list of functions and their routes).
//!
//! Each test regenerates its file and fails when the committed one differs.
//! `make generated` (`UPDATE_GENERATED=1` here) rewrites them instead, and
//! `web/src/api-types.ts` after them (the web's own check keeps that one
//! current).

use std::path::Path;

/// What a failure tells the reader to run.
const REGENERATE: &str = "make generated";

/// Compares `path` (from the workspace root) with what the code generates, or
/// rewrites it when `UPDATE_GENERATED` is set.
fn check_generated(path: &str, generated: &str) {
    check_generated_tail(path, "", generated);
}

/// [`check_generated`] for the part of `path` from the line `from` to its end
/// (what comes before is written by hand).
fn check_generated_tail(path: &str, from: &str, generated_tail: &str) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    let whole = std::fs::read_to_string(&file).unwrap_or_default();
    let start = if from.is_empty() {
        0
    } else {
        whole
            .find(&format!("\n{from}\n"))
            .map(|at| at + 1)
            .unwrap_or_else(|| panic!("{path} has no line {from}"))
    };
    let (head, committed) = whole.split_at(start);
    let generated = format!(
        "{from}{}{generated_tail}",
        if from.is_empty() { "" } else { "\n" }
    );
    if committed == generated {
        return;
    }
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        std::fs::write(&file, format!("{head}{generated}"))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        return;
    }
    let (line, ours, theirs) = committed
        .lines()
        .map(Some)
        .chain(std::iter::repeat(None))
        .zip(generated.lines().map(Some).chain(std::iter::repeat(None)))
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(n, (a, b))| {
            (
                n + 1,
                a.unwrap_or("(end of file)"),
                b.unwrap_or("(end of file)"),
            )
        })
        .unwrap_or((0, "", "(only line endings differ)"));
    panic!(
        "{path} is not what the code generates: run `{REGENERATE}` and commit the result.\n\
         First difference, line {line}:\n  committed: {ours}\n  generated: {theirs}"
    );
}

#[test]
fn the_committed_openapi_document_is_the_served_one() {
    check_generated("docs/openapi.json", &chatlogger_docs::document_file());
}

#[test]
fn the_api_reference_is_rendered_from_the_openapi_document() {
    check_generated(
        "docs/api-reference.md",
        &chatlogger_docs::reference::markdown(&chatlogger_docs::full_openapi()),
    );
}

/// The watch router's table, one line per path, grouped by function.
fn watch_router() -> String {
    let mut text = String::from(
        "# Generated from template.yaml's routes: `make generated` rewrites it,\n\
         # `make check` fails when it is stale. `cargo lambda watch` serves these.\n",
    );
    for (function, routes) in crate::routes::template_routes() {
        let mut methods = std::collections::BTreeMap::<String, Vec<String>>::new();
        for (method, path) in routes {
            methods.entry(path).or_default().push(method);
        }
        for (path, methods) in methods {
            let targets: Vec<String> = methods
                .iter()
                .map(|method| format!("{{ method = \"{method}\", function = \"{function}\" }}"))
                .collect();
            text.push_str(&format!("\"{path}\" = [{}]\n", targets.join(", ")));
        }
    }
    text
}

#[test]
fn the_watch_router_is_generated_from_the_template() {
    check_generated_tail(
        "Cargo.toml",
        "[workspace.metadata.lambda.watch.router]",
        &watch_router(),
    );
}
