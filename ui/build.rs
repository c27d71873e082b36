//! Builds the web UI (`web/`, TypeScript + Vite) into `$OUT_DIR/dist` and writes
//! `$OUT_DIR/assets.rs`, a table of every built file embedded with `include_bytes!`.
//!
//! Runs only when the UI's sources change (cargo's rerun-if-changed), so `cargo build` alone
//! yields a binary with the UI and Rust-only changes never wait for npm. `npm ci` runs when
//! `node_modules` is missing or older than `package-lock.json`. Needs Node.js 20+ and npm.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let web = manifest.join("web");
    for input in ["src", "index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts", "public"]
    {
        println!("cargo:rerun-if-changed=web/{input}");
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dist = out.join("dist");

    let installed = web.join("node_modules/.package-lock.json");
    if modified(&installed) < modified(&web.join("package-lock.json")) {
        run(Command::new(npm()).args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&web));
    }
    run(Command::new(npm())
        .args(["run", "--silent", "build", "--", "--outDir"])
        .arg(&dist)
        .args(["--emptyOutDir", "--logLevel", "warn"])
        .current_dir(&web));

    let mut files = Vec::new();
    collect(&dist, &dist, &mut files);
    files.sort();
    assert!(files.iter().any(|(name, _)| name == "/index.html"), "the UI build wrote no index.html");
    let mut table = String::from("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    for (name, path) in files {
        table.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    table.push_str("];\n");
    fs::write(out.join("assets.rs"), table).expect("writing assets.rs");
}

fn npm() -> &'static str {
    if cfg!(windows) { "npm.cmd" } else { "npm" }
}

fn modified(path: &Path) -> std::time::SystemTime {
    fs::metadata(path).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH)
}

fn run(command: &mut Command) {
    let status = command.status().unwrap_or_else(|e| {
        panic!("fluoro's web UI is built with Node.js 20+ and npm, which could not be started ({e}); install them")
    });
    assert!(status.success(), "building the web UI failed ({status}): {command:?}");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    for entry in fs::read_dir(dir).expect("reading the UI build") {
        let path = entry.expect("reading the UI build").path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let name = path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
            files.push((format!("/{name}"), path));
        }
    }
}
