//! Embeds the dashboard that Vite built into `web/dist/` (with the `.gz` and
//! `.br` variants `web/scripts/compress.mjs` wrote beside each file): writes
//! `$OUT_DIR/assets.rs`, one `EmbeddedFile` per file, its bytes pulled in by
//! `include_bytes!`. The assets are build output, never committed, so a
//! fresh clone must build them first: the Makefile does (`make web`).

use std::{
    env,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("../../web/dist");
    // A directory: cargo re-runs this script when anything under it changes.
    println!("cargo::rerun-if-changed={}", dist.display());
    if !dist.join("index.html").is_file() {
        eprintln!(
            "error: the dashboard's built assets are missing ({}).\n\
             Build them with `make web` (npm ci and npm run build in web/); \
             `make dev`, `make test`, `make build` and `make lint` do it for you.",
            dist.join("index.html").display()
        );
        std::process::exit(1);
    }
    let dist = dist.canonicalize().expect("web/dist is readable");
    let mut files = Vec::new();
    collect(&dist, &mut files);
    files.sort();

    let mut code = String::from("pub(crate) static FILES: &[EmbeddedFile] = &[\n");
    for file in &files {
        let relative = file.strip_prefix(&dist).expect("under dist");
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
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("assets.rs");
    fs::write(out, code).expect("OUT_DIR is writable");
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
