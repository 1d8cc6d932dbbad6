//! The engine with an action of the test's own: charts embedded under the
//! task, manual steps, the run summary, and a panicking action recorded as a
//! failure.

use std::path::Path;

use chrono::NaiveDate;
use sidik_core::Incident;
use sidik_playbook::{
    Action, Context, Done, Outcome, Playbook, Registry, RunOptions, Runner, StepResult, StepStatus,
};
use sidik_tracker::LinkStyle;

struct Chart;

impl Action for Chart {
    fn name(&self) -> &'static str {
        "test.chart"
    }
    fn summary(&self) -> &'static str {
        "writes a chart and a report"
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let png = ctx.chart_path("png");
        std::fs::create_dir_all(png.parent().unwrap()).unwrap();
        std::fs::write(&png, b"\x89PNG\r\n\x1a\n").unwrap();
        std::fs::write(ctx.report_path(), "# timeline\n").unwrap();
        Ok(Outcome::Succeeded(Done {
            outputs: vec![],
            report: Some(ctx.report_path()),
            charts: vec![png],
            result: "spike 19:00, errors 19:07".into(),
        }))
    }
}

struct Panics;

impl Action for Panics {
    fn name(&self) -> &'static str {
        "test.panics"
    }
    fn summary(&self) -> &'static str {
        "panics"
    }
    fn run(&self, _: &Context) -> StepResult {
        panic!("index out of bounds")
    }
}

#[test]
fn charts_are_embedded_and_panics_are_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("inc");
    sidik_core::IncidentDir::create(&dir).unwrap();
    std::fs::write(dir.join("tracker.md"), sidik_sample::SEED_TRACKER).unwrap();
    std::fs::write(
        dir.join("incident.toml"),
        "[incident]\nid = \"t\"\ntracker = \"tracker.md\"\n",
    )
    .unwrap();
    let inc = Incident::load(&dir).unwrap();
    let mut reg = Registry::new();
    reg.register(Chart);
    reg.register(Panics);
    let pb = Playbook::parse(
        "[playbook]\nid = \"p2\"\ntitle = \"Phase 2\"\nsection = \"Phase 2\"\n\n[[step]]\nid = \"timeline\"\ntask = \"Map timeline: spike → errors → degradation\"\naction = \"test.chart\"\n\n[[step]]\nid = \"boom\"\ntask = \"Identify root cause dari hypotheses\"\naction = \"test.panics\"\n\n[[step]]\nid = \"after-boom\"\nneeds = [\"boom\"]\naction = \"test.chart\"\n\n[[step]]\nid = \"logs\"\ntask = \"Analyze logs untuk error patterns\"\nmanual = \"read the logs\"\n",
        Path::new("p2.toml"),
        &reg.specs(),
    )
    .unwrap();
    let opts = RunOptions {
        resume: false,
        only: vec![],
        dry_run: false,
        approve: vec![],
        date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        link_style: LinkStyle::Wiki,
        done_date: true,
        no_tracker: false,
    };
    let mut seen = Vec::new();
    let r = Runner::new(&reg, &inc)
        .run(&pb, &opts, &mut |s| seen.push(s.id.clone()))
        .unwrap();
    assert_eq!(seen, ["timeline", "boom", "after-boom", "logs"]);
    let status = |id: &str| r.journal.steps.iter().find(|s| s.id == id).unwrap().clone();
    assert_eq!(status("timeline").status, StepStatus::Succeeded);
    assert_eq!(status("boom").status, StepStatus::Failed);
    assert!(status("boom")
        .reason
        .unwrap()
        .contains("internal error in step boom: index out of bounds"));
    assert_eq!(
        status("after-boom").reason.as_deref(),
        Some("needs `boom`, which failed")
    );
    assert_eq!(status("logs").status, StepStatus::Manual);
    let t = std::fs::read_to_string(dir.join("tracker.md")).unwrap();
    assert!(
        t.contains("- [x] Map timeline: spike â†’ errors â†’ degradation → [[reports/timeline.md]] ✅ 2026-11-26\n  - spike 19:00, errors 19:07\n  - ![[charts/timeline.png]]\n"),
        "{t}"
    );
    assert!(t.contains("- [ ] Identify root cause dari hypotheses:"));
    assert!(t.contains("- [ ] Analyze logs untuk error patterns\n"));
    assert!(
        t.contains("- 2026-11-26: sidik run p2: 1 succeeded, 1 failed, 1 skipped, 1 manual\n"),
        "{t}"
    );
    let m = sidik_core::Manifest::load(&inc.dir).unwrap();
    assert!(m
        .get("charts/timeline.png")
        .is_some_and(|a| a.step == "timeline"));
}
