//! No edit of the tracker is ever lost: a hundred `sidik tracker` processes
//! at once while a person appends lines by hand all land; a `sidik run`
//! killed with SIGKILL at any point leaves no temporary file behind the
//! next run.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::sidik_ok;

const SEED: &[u8] = include_bytes!("../crates/sample/assets/tracker.md");

fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sidik"))
        .args(args)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sidik")
}

#[test]
fn a_hundred_concurrent_edits_and_a_person_typing_all_land() {
    let tmp = tempfile::tempdir().unwrap();
    let tracker = tmp.path().join("tracker.md");
    std::fs::write(&tracker, SEED).unwrap();
    let t = tracker.to_str().unwrap().to_string();

    // Open tasks whose text is unique, to tick by text.
    let tasks: serde_json::Value = serde_json::from_str(&sidik_ok(&[
        "tracker",
        "tasks",
        "--tracker",
        &t,
        "--format",
        "json",
    ]))
    .unwrap();
    let tasks = tasks.as_array().unwrap();
    let text_of = |v: &serde_json::Value| v["text"].as_str().unwrap().to_string();
    let open: Vec<String> = tasks
        .iter()
        .filter(|v| v["done"] == false)
        .map(text_of)
        .filter(|x| tasks.iter().filter(|v| text_of(v) == *x).count() == 1)
        .take(40)
        .collect();
    assert!(open.len() >= 30, "{} unique open tasks", open.len());

    let mut edits: Vec<Vec<String>> = Vec::new();
    for task in &open {
        edits.push(
            ["tracker", "tick", "--tracker", &t, "--task", task]
                .map(String::from)
                .to_vec(),
        );
    }
    let notes = 100 - edits.len();
    for i in 0..notes {
        let text = format!("concurrent note {i:03}");
        edits.push(
            [
                "tracker",
                "note",
                "--tracker",
                &t,
                "--section",
                "Phase 1",
                "--text",
                &text,
            ]
            .map(String::from)
            .to_vec(),
        );
    }

    // A person appends to the file in place while sidik edits it.
    let person = {
        let path = tracker.clone();
        std::thread::spawn(move || {
            for i in 0..40 {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                f.write_all(format!("- typed by hand {i:02}\n").as_bytes())
                    .unwrap();
                drop(f);
                std::thread::sleep(Duration::from_millis(7));
            }
        })
    };
    let children: Vec<Child> = edits.iter().map(|a| spawn(a)).collect();
    for (c, args) in children.into_iter().zip(&edits) {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "sidik {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    person.join().unwrap();

    let after = String::from_utf8(std::fs::read(&tracker).unwrap()).unwrap();
    for i in 0..notes {
        let want = format!("concurrent note {i:03}");
        assert_eq!(after.matches(&want).count(), 1, "{want} lost or doubled");
    }
    for i in 0..40 {
        let want = format!("- typed by hand {i:02}\n");
        assert_eq!(after.matches(&want).count(), 1, "{want:?} lost or doubled");
    }
    let tasks: serde_json::Value = serde_json::from_str(&sidik_ok(&[
        "tracker",
        "tasks",
        "--tracker",
        &t,
        "--format",
        "json",
    ]))
    .unwrap();
    for task in &open {
        let v = tasks
            .as_array()
            .unwrap()
            .iter()
            .find(|v| text_of(v) == *task)
            .unwrap();
        assert_eq!(v["done"], true, "{task} lost its tick");
    }
    // Everything else is the seed's, byte for byte, in order.
    let seed = String::from_utf8(SEED.to_vec()).unwrap();
    let mut rest = after.as_str();
    for line in seed.split_inclusive('\n') {
        let plain = line.replacen("- [ ]", "- [x]", 1);
        let at = rest
            .find(line)
            .or_else(|| rest.find(&plain))
            .unwrap_or_else(|| panic!("seed line {line:?} missing or moved"));
        rest = &rest[at..];
    }
    assert!(stray(tmp.path()).is_empty(), "{:?}", stray(tmp.path()));
}

/// Temporary files anywhere under `dir`.
fn stray(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                stack.push(p);
            } else if name.starts_with(".sidik-")
                || name.ends_with(".partial")
                || name.ends_with(".tmp")
            {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_run_killed_at_any_point_leaves_no_temporary_file_after_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("inc");
    let dir = d.to_str().unwrap().to_string();
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        &dir,
        "--scenario",
        "callback-failure",
        "--orders",
        "3000",
    ]);
    // Kill points spread over a run (a fixed sequence: the same test each time).
    for (i, ms) in [150u64, 400, 700, 1000, 1300, 1700, 2200, 2900]
        .iter()
        .enumerate()
    {
        let mut args = vec!["run".to_string(), "--incident".into(), dir.clone()];
        if i > 0 {
            args.push("--resume".into());
        }
        let mut child = spawn(&args);
        std::thread::sleep(Duration::from_millis(*ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    // What killed runs of older versions (no process id in the name) and
    // of a process that is gone leave, planted where a run writes.
    let planted = [
        d.join("evidence/.sidik-aB3dE9"),
        d.join("reports/.sidik-4194000-xYz12"),
        d.join(".sidik-4194001-q"),
    ];
    for p in &planted {
        std::fs::write(p, b"half").unwrap();
    }
    let old = Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(&planted[0])
        .status()
        .unwrap();
    assert!(old.success());
    // A temporary file of a live process is not anyone's to delete.
    let live = d.join(format!("evidence/.sidik-{}-live", std::process::id()));
    std::fs::write(&live, b"mine").unwrap();

    // A whole run: it exits 1 because phase 4 finds breaks left, as it should.
    let o = common::sidik(&["run", "--incident", &dir, "--resume"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("phase-5-prevention"), "{out}");
    std::fs::remove_file(&live).expect("the live process's file was kept");
    assert!(stray(&d).is_empty(), "{:?}", stray(&d));
    // The tracker reads as a tracker, with phase 1's tasks ticked.
    let tasks = sidik_ok(&[
        "tracker",
        "tasks",
        "--incident",
        &dir,
        "--section",
        "Phase 1",
    ]);
    assert!(tasks.contains("[x]"), "{tasks}");
}
