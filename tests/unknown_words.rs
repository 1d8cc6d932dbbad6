//! A cause whose wording no rule knows still shows: a warning no class
//! claims becomes a template class of its own, onset detection sees it,
//! and a hypothesis claims it by keywords.

mod common;

use std::io::{Read, Write};
use std::path::Path;

use common::{json, sidik_ok};

/// Replaces `from` with `to` in every file under `dir`, gzip or not.
fn reword(dir: &Path, from: &str, to: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let raw = std::fs::read(&p).unwrap();
        let gz = raw.starts_with(&[0x1f, 0x8b]);
        let mut text = String::new();
        if gz {
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_string(&mut text)
                .unwrap();
        } else {
            text = String::from_utf8(raw).unwrap();
        }
        n += text.matches(from).count();
        let text = text.replace(from, to);
        if gz {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            w.write_all(text.as_bytes()).unwrap();
            std::fs::write(&p, w.finish().unwrap()).unwrap();
        } else {
            std::fs::write(&p, text).unwrap();
        }
    }
    n
}

#[test]
fn a_race_worded_as_no_rule_knows_is_claimed_by_keywords() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("race");
    let ds = d.to_str().unwrap();
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        ds,
        "--scenario",
        "race-condition",
        "--orders",
        "3000",
        "--seed",
        "2",
    ]);
    // The orchestrator's own warning, in words the unseen incident used.
    let n = reword(
        &d.join("logs/order-orchestrator"),
        "payment callback processed twice",
        "duplicate charge request",
    );
    assert!(n > 0, "the sample has no such warning to reword");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sidik"))
        .args([
            "run",
            "phase-1-data-collection",
            "--incident",
            ds,
            "--no-tracker",
        ])
        .env_remove("SIDIK_SAMPLE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // The warning is a class of its own, in the timeline and the templates.
    let timeline = std::fs::read_to_string(d.join("evidence/logs/timeline.csv")).unwrap();
    assert!(timeline
        .lines()
        .next()
        .unwrap()
        .contains(",tpl_duplicate_charge_request"));
    let patterns = std::fs::read_to_string(d.join("evidence/logs/patterns.csv")).unwrap();
    assert!(
        patterns
            .lines()
            .any(|l| l.starts_with("order-orchestrator,tpl_duplicate_charge_request,")),
        "{patterns}"
    );
    sidik_ok(&["rca", "--incident", ds]);
    let rca = json(&d.join("evidence/rca.json"));
    let race = rca["hypotheses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == "race-condition")
        .unwrap();
    let check = race["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "concurrent-handling")
        .unwrap();
    assert_eq!(check["outcome"], "pass", "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("tpl_duplicate_charge_request"),
        "{check}"
    );
    assert_eq!(rca["primary"], "race-condition");
}

#[test]
fn a_class_written_in_incident_toml_claims_the_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("race");
    let ds = d.to_str().unwrap();
    sidik_ok(&[
        "sample",
        "generate",
        "--out",
        ds,
        "--scenario",
        "race-condition",
        "--orders",
        "1000",
        "--seed",
        "2",
    ]);
    let n = reword(
        &d.join("logs/order-orchestrator"),
        "payment callback processed twice",
        "duplicate charge request",
    );
    assert!(n > 0, "the sample has no such warning to reword");
    let toml = d.join("incident.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[[logs.rules]]\nname = \"double_charge\"\ndescription = \"A charge requested twice\"\npatterns = ['(?i)duplicate charge request']\n");
    std::fs::write(&toml, text).unwrap();
    sidik_ok(&["logs", "ingest", "--incident", ds]);
    let timeline = std::fs::read_to_string(d.join("evidence/logs/timeline.csv")).unwrap();
    let header = timeline.lines().next().unwrap();
    assert!(header.contains(",double_charge"), "{header}");
    assert!(!header.contains("tpl_duplicate_charge_request"), "{header}");
    let mut r = csv::Reader::from_path(d.join("evidence/logs/patterns.csv")).unwrap();
    let claimed: u64 = r
        .records()
        .map(|x| x.unwrap())
        .filter(|x| &x[0] == "order-orchestrator" && &x[1] == "double_charge")
        .map(|x| x[4].parse::<u64>().unwrap())
        .sum();
    // Every reworded warning is claimed by the class.
    assert_eq!(claimed, n as u64);
}
