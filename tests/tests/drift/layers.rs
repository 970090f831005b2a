//! The domain crate's modules depend on each other one way only: the
//! domain at the bottom, the storage ports and adapters above it, the use
//! cases above those, the HTTP glue on top (see `shared/src/lib.rs`). This
//! reads every source file's `crate::` (and crate-level `super::`) paths and
//! checks that the module graph has no cycle and keeps to those layers.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

/// Each top-level module of `shared/src` and its layer: a module may only
/// use modules of a lower layer (or its own).
const LAYERS: &[(&str, u8)] = &[
    // Start-up and small tools, used anywhere.
    ("aws", 0),
    ("clock", 0),
    ("config", 0),
    ("sdk_error", 0),
    ("sqs_batch", 0),
    ("telemetry", 0),
    ("domain", 1),
    // Per-container caches, timed by a clock.
    ("cache", 1),
    ("store", 2),
    ("accounts", 3),
    ("analytics", 3),
    ("auth", 3),
    ("chats", 3),
    ("export", 3),
    ("ingest", 3),
    ("key_data", 3),
    // Ingest's cached lookups, followed by the change feed; the rate
    // limiter caches org limits through them.
    ("lookups", 3),
    ("sweep", 3),
    ("limits", 4),
    // S3, SQS and Secrets Manager behind the use cases' ports.
    ("adapters", 4),
    ("http", 5),
    // A dashboard Lambda's main: builds the clients and state, runs `http`.
    ("startup", 6),
];

/// The first path segment of each item a `crate::...` path names; for a
/// group (`crate::{a::x, b}`) each member's.
fn named_modules(after: &str) -> Vec<String> {
    let ident = |text: &str| -> String {
        text.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = after.strip_prefix('{') else {
        return vec![ident(after)];
    };
    let (mut depth, mut members, mut start) = (0, Vec::new(), 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                members.push(ident(&group[start..i]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                members.push(ident(&group[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    members.into_iter().filter(|m| !m.is_empty()).collect()
}

/// Top-level module → the top-level modules its files use.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/src");
    let mut files = Vec::new();
    crate::rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
        if parts == ["lib.rs"] {
            continue;
        }
        let module = parts[0].trim_end_matches(".rs").to_owned();
        // In `a.rs` and `a/mod.rs`, `super` is the crate root.
        let super_is_root = parts.len() == 1 || parts[1] == "mod.rs";
        // Code only: comments may name any module.
        let code: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut uses = BTreeSet::new();
        let mut prefixes = vec!["crate::"];
        if super_is_root {
            prefixes.push("super::");
        }
        for prefix in prefixes {
            for (at, _) in code.match_indices(prefix) {
                uses.extend(named_modules(&code[at + prefix.len()..]));
            }
        }
        uses.remove(&module);
        graph.entry(module).or_default().extend(uses);
    }
    graph
}

#[test]
fn the_domain_crate_has_no_cycles_and_keeps_its_layers() {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let graph = module_graph();
    let modules: BTreeSet<&str> = graph.keys().map(String::as_str).collect();
    assert_eq!(
        modules,
        layers.keys().copied().collect(),
        "give every top-level module of shared/src a layer here"
    );
    let mut wrong = Vec::new();
    for (module, uses) in &graph {
        for used in uses {
            // Re-exported external crates (`crate::aws_lambda_events`) are not modules.
            let Some(used_layer) = layers.get(used.as_str()) else {
                continue;
            };
            if *used_layer >= layers[module.as_str()] {
                wrong.push(format!("{module} uses {used}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "modules may only use lower layers: {wrong:?}"
    );
}

#[test]
fn crate_paths_are_read_like_the_compiler_reads_them() {
    assert_eq!(named_modules("store::{Read, keys}"), ["store"]);
    assert_eq!(
        named_modules("{\n    domain::{Org, analytics::X},\n    store::Read,\n};"),
        ["domain", "store"]
    );
}
