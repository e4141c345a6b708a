//! One row of `scripts/bench`'s table: a figure, its value with its unit, and its target. Each
//! bench prints its rows; when `ONCALL_BENCH_ROWS` names a file (scripts/bench sets it), they are
//! appended there too, tab-separated, for the one table.

use std::io::Write;

/// Prints the row and, under scripts/bench, records it.
pub fn row(figure: &str, value: impl std::fmt::Display, unit: &str, target: &str) {
    println!("{figure}: {value} {unit} (target: {target})");
    if let Some(path) = std::env::var_os("ONCALL_BENCH_ROWS") {
        let line = format!("{figure}\t{value}\t{unit}\t{target}\n");
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            eprintln!("cannot record the row in {}: {e}", std::path::Path::new(&path).display());
        }
    }
}

/// The value at quantile `q` of sorted samples.
#[allow(dead_code)] // not every bench takes quantiles
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The release binary (built first when needed), where cargo puts it (CARGO_TARGET_DIR honoured),
/// or the one ONCALL_TRIAGE_BIN names.
#[allow(dead_code)] // only the benches that run the binary
pub fn release_binary() -> std::path::PathBuf {
    if let Some(bin) = std::env::var_os("ONCALL_TRIAGE_BIN") {
        return bin.into();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = std::process::Command::new("cargo")
        .args(["build", "--release", "--locked", "--quiet"])
        .current_dir(root)
        .status()
        .expect("cargo");
    assert!(built.success(), "cargo build --release failed");
    release_binary_unbuilt()
}

/// Where the release binary is (once `release_binary` built it).
#[allow(dead_code)] // only the benches that run the binary
pub fn release_binary_unbuilt() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    target.join("release/oncall-triage")
}
