//! Helpers shared by the end-to-end tests: run the real `sidik` binary.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `sidik ARGS` and returns its output.
pub fn sidik(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sidik"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run sidik")
}

/// Runs `sidik ARGS --incident DIR`, without the environment's database URLs.
pub fn sidik_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sidik"))
        .args(args)
        .args(["--incident", dir.to_str().expect("utf-8 path")])
        .env_remove("SIDIK_SAMPLE_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .output()
        .expect("run sidik")
}

/// Runs `sidik ARGS`, fails the test unless it succeeds, returns stdout.
pub fn sidik_ok(args: &[&str]) -> String {
    let out = sidik(args);
    assert!(
        out.status.success(),
        "sidik {} failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs `sidik ARGS`, fails the test unless it fails with exit code 2, returns stderr.
pub fn sidik_err(args: &[&str]) -> String {
    let out = sidik(args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "sidik {} should have failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).expect("utf-8 output")
}

/// Reads a JSON file.
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read json")).expect("valid json")
}
