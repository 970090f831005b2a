//! Handlers stay short: an HTTP handler takes its request apart, calls a use
//! case and shapes the answer. Business rules that grow past that belong in
//! the domain crate's use cases (`chatlogger::export::start`,
//! `chatlogger::chats`, ...), where they are tested without HTTP.

use std::path::Path;

/// The most lines of logic (not blank, not comments) in a handler's body.
const MAX_HANDLER_LINES: usize = 40;

/// Each handler (a function under `#[utoipa::path(...)]`) of `source`: its
/// name and the lines of logic in its body.
fn handlers(source: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        if !line.starts_with("#[utoipa::path(") {
            continue;
        }
        let Some(signature) = lines.by_ref().find(|l| l.contains("async fn ")) else {
            break;
        };
        let name = signature
            .split("async fn ")
            .nth(1)
            .unwrap_or_default()
            .split(['(', '<'])
            .next()
            .unwrap_or_default()
            .to_owned();
        // The body starts after the signature's last line (the one ending in
        // `{` at the function's indentation) and ends at its closing `}`.
        if !signature.ends_with('{') {
            lines
                .by_ref()
                .find(|l| !l.starts_with(' ') && l.ends_with('{'));
        }
        let logic = lines
            .by_ref()
            .take_while(|l| *l != "}")
            .filter(|l| {
                let l = l.trim();
                !l.is_empty() && !l.starts_with("//")
            })
            .count();
        found.push((name, logic));
    }
    found
}

#[test]
fn no_handler_holds_more_than_forty_lines_of_logic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut files = Vec::new();
    crate::rust_files(&root, &mut files);
    let mut all = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for (name, lines) in handlers(&source) {
            all.push((
                file.strip_prefix(&root).unwrap().display().to_string(),
                name,
                lines,
            ));
        }
    }
    // Every route has a handler under `#[utoipa::path]`: finding few means
    // this test lost track of them, not that the handlers are short.
    assert!(
        all.len() >= 30,
        "found only {} handlers: {all:?}",
        all.len()
    );
    let long: Vec<_> = all
        .iter()
        .filter(|(_, _, lines)| *lines > MAX_HANDLER_LINES)
        .collect();
    assert!(
        long.is_empty(),
        "handlers over {MAX_HANDLER_LINES} lines of logic (move the rules into a use case in \
         the domain crate): {long:?}"
    );
}

#[test]
fn handler_bodies_are_measured_from_signature_to_closing_brace() {
    let source = r#"
#[utoipa::path(get, path = "/x")]
pub async fn list_x(
    State(state): State<S>,
) -> Result<Json<X>, ApiError> {
    // a comment is not logic

    let x = state.x().await?;
    Ok(Json(x))
}

#[utoipa::path(get, path = "/y")]
pub async fn get_y() -> Json<Y> {
    Json(Y)
}
"#;
    assert_eq!(
        handlers(source),
        [("list_x".to_owned(), 2), ("get_y".to_owned(), 1)]
    );
}
