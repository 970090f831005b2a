//! Embeds the dashboard that Vite built into `web/dist/` (with the `.gz` and
//! `.br` variants `web/scripts/compress.mjs` wrote beside each file): writes
//! `$OUT_DIR/assets.rs`, one `EmbeddedFile` per file, its bytes pulled in by
//! `include_bytes!`. The assets are build output, never committed, so a
//! fresh clone must build them first: the Makefile does (`make web`).
//!
//! A debug build without them embeds `placeholder.html` instead (one page
//! saying how to build the dashboard) and sets `cfg(dashboard_placeholder)`,
//! so `cargo build`, `cargo test` and `make check` need no Node.js. A
//! release build, which is what gets deployed, refuses to.

use std::{
    env,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let web = manifest.join("../../web");
    let web = web.canonicalize().unwrap_or(web);
    let dist = web.join("dist");
    println!("cargo::rustc-check-cfg=cfg(dashboard_placeholder)");
    let code = if dist.join("index.html").is_file() {
        // A directory: cargo re-runs this script when anything under it changes.
        println!("cargo::rerun-if-changed={}", dist.display());
        embed(&dist)
    } else if debug_build() {
        // Not `web/dist`: cargo re-runs a script whose watched path is
        // missing on every build, rebuilding everything that depends on this
        // crate. `web/` changes when `web/dist` appears.
        println!("cargo::rerun-if-changed={}", web.display());
        println!(
            "cargo::warning=web/dist is missing: the web function serves a placeholder page \
             instead of the dashboard (build it with `make web`; `make dev` does it for you)"
        );
        println!("cargo::rustc-cfg=dashboard_placeholder");
        placeholder(&manifest.join("placeholder.html"))
    } else {
        eprintln!(
            "error: the dashboard's built assets are missing ({}), and a release build \
             must embed them.\n\
             Build them with `make web` (npm ci and npm run build in web/); \
             `make build`, `make sam-build`, `make bench` and `make test` do it for you.",
            dist.join("index.html").display()
        );
        std::process::exit(1);
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("assets.rs");
    fs::write(out, code).expect("OUT_DIR is writable");
}

/// A debug build (the dev and test profiles), never one that could be deployed.
fn debug_build() -> bool {
    env::var("PROFILE").as_deref() == Ok("debug")
        && env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_some()
}

/// `FILES`: every file of `dist` with its compressed variants.
fn embed(dist: &Path) -> String {
    let mut files = Vec::new();
    collect(dist, &mut files);
    files.sort();

    let mut code = String::from("pub(crate) static FILES: &[EmbeddedFile] = &[\n");
    for file in &files {
        let relative = file.strip_prefix(dist).expect("under dist");
        let path = relative
            .to_str()
            .expect("asset names are UTF-8")
            .replace('\\', "/");
        let variant = |extension: &str| {
            let mut name = file.clone().into_os_string();
            name.push(extension);
            let name = PathBuf::from(name);
            if name.is_file() {
                format!("Some(include_bytes!({:?}))", name.display().to_string())
            } else {
                "None".to_owned()
            }
        };
        writeln!(
            code,
            "    EmbeddedFile {{ path: {path:?}, identity: include_bytes!({:?}), gzip: {}, br: {} }},",
            file.display().to_string(),
            variant(".gz"),
            variant(".br"),
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    code
}

/// `FILES`: the placeholder page as the app's one page, and no assets.
fn placeholder(page: &Path) -> String {
    println!("cargo::rerun-if-changed={}", page.display());
    format!(
        "pub(crate) static FILES: &[EmbeddedFile] = &[\n    \
         EmbeddedFile {{ path: \"index.html\", identity: include_bytes!({:?}), gzip: None, br: None }},\n];\n",
        page.display().to_string()
    )
}

/// Every file under `dir` except the compressed variants.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("web/dist is readable") {
        let path = entry.expect("web/dist is readable").path();
        if path.is_dir() {
            collect(&path, files);
        } else if !matches!(path.extension().and_then(|e| e.to_str()), Some("gz" | "br")) {
            files.push(path);
        }
    }
}
