//! Two things the binary carries:
//! - every assets/scenarios/*.json, so `--demo` works from any folder;
//! - libpg_query, PostgreSQL's own parser, which the SQL guard asks how PostgreSQL reads the text
//!   it dispatches. Its C sources come from the PyPI sdist pinned in native/libpg_query.txt,
//!   fetched with pip (set ONCALL_LIBPG_QUERY_SRC to a libpg_query tree to build offline), and
//!   are compiled with cc. The guard binds the two functions it calls by hand, so no bindgen and
//!   no libclang is needed.

// A build script reports what it cannot do by panicking with the reason.
#![allow(clippy::expect_used)]

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    embed_scenarios();
    libpg_query();
}

fn embed_scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("assets/scenarios exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut code = String::from("&[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().and_then(|n| n.to_str()).expect("utf-8 file name");
        writeln!(code, "    ({name:?}, include_str!({:?})),", f.display().to_string()).expect("write to string");
    }
    code.push(']');
    let out = out_dir().join("embedded_scenarios.rs");
    std::fs::write(out, code).expect("write embedded_scenarios.rs");
}

fn out_dir() -> PathBuf {
    PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"))
}

fn fail(what: &str) -> ! {
    panic!(
        "building the SQL guard's PostgreSQL parser: {what}. It needs python3 with pip and access to PyPI \
         (or ONCALL_LIBPG_QUERY_SRC set to a libpg_query 15-4.2 source tree)"
    )
}

/// The libpg_query source tree: ONCALL_LIBPG_QUERY_SRC, or the pinned sdist unpacked in OUT_DIR.
fn libpg_query_sources() -> PathBuf {
    println!("cargo:rerun-if-env-changed=ONCALL_LIBPG_QUERY_SRC");
    if let Some(dir) = std::env::var_os("ONCALL_LIBPG_QUERY_SRC") {
        return PathBuf::from(dir);
    }
    let pin = Path::new(env!("CARGO_MANIFEST_DIR")).join("native/libpg_query.txt");
    println!("cargo:rerun-if-changed={}", pin.display());
    let root = out_dir().join("libpg_query-sdist");
    let tree = root.join("libpg_query");
    let stamp = root.join(".unpacked");
    if stamp.exists() {
        return tree;
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", root.display())));
    let pip = Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-binary", ":all:"])
        .args(["--require-hashes", "-r"])
        .arg(&pin)
        .arg("-d")
        .arg(&root)
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run python3: {e}")));
    if !pip.status.success() {
        fail(&format!("pip download failed: {}", String::from_utf8_lossy(&pip.stderr).trim()));
    }
    let sdist = std::fs::read_dir(&root)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .unwrap_or_else(|| fail("pip downloaded no .tar.gz"));
    let stem = sdist.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".tar.gz")).expect("sdist name");
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(&sdist)
        .arg("-C")
        .arg(&root)
        .arg("--strip-components=1")
        .arg(format!("{stem}/libpg_query"))
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run tar: {e}")));
    if !untar.success() || !tree.join("pg_query.h").exists() {
        fail(&format!("{} holds no libpg_query/pg_query.h", sdist.display()));
    }
    std::fs::write(&stamp, "").expect("write the stamp");
    tree
}

fn libpg_query() {
    let src = libpg_query_sources();
    // As libpg_query's Makefile: every C file but those it #includes into others.
    let included = [
        "pg_query_enum_defs.c",
        "pg_query_fingerprint_defs.c",
        "pg_query_fingerprint_conds.c",
        "pg_query_outfuncs_defs.c",
        "pg_query_outfuncs_conds.c",
        "pg_query_readfuncs_defs.c",
        "pg_query_readfuncs_conds.c",
        "guc-file.c",
        "scan.c",
        "pg_query_json_helper.c",
    ];
    let mut files = Vec::new();
    for dir in ["src", "src/postgres"] {
        let mut here: Vec<PathBuf> = std::fs::read_dir(src.join(dir))
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", src.join(dir).display())))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "c"))
            .filter(|p| !included.iter().any(|i| p.file_name().is_some_and(|n| n == *i)))
            .collect();
        here.sort();
        files.extend(here);
    }
    files.push(src.join("vendor/protobuf-c/protobuf-c.c"));
    files.push(src.join("vendor/xxhash/xxhash.c"));
    files.push(src.join("protobuf/pg_query.pb-c.c"));
    cc::Build::new()
        .files(&files)
        .include(&src)
        .include(src.join("vendor"))
        .include(src.join("src/postgres/include"))
        // DEBUG only removes libpg_query's redirection of the process's stderr around each call
        // (a dup2 of fd 2, which races with every other thread that logs).
        .define("DEBUG", None)
        .flag("-fno-strict-aliasing")
        .flag("-fwrapv")
        .flag_if_supported("-w")
        .warnings(false)
        .debug(false)
        .compile("pg_query");
}
