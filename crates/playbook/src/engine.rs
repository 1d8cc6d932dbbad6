//! The step runner: dependency order, conditions, approvals, retries and
//! timeouts, the journal after every step, resume, and the tracker updates
//! of succeeded steps.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use sidik_core::manifest::{sha256_file, Manifest};
use sidik_core::Incident;
use sidik_tracker::ops::{self, Tick};
use sidik_tracker::{LinkStyle, Status, TrackerFile};

use crate::format::{ActionSpecs, Condition, Kind, Playbook, Step};
use crate::journal::{new_run_id, Journal, Output, PlaybookRef, StepRecord, StepStatus};
use crate::EngineError;

/// Environment variable that makes a run stop dead right after the named step
/// (its journal written), as if the process were killed: used by tests of `--resume`.
pub const ABORT_AFTER_ENV: &str = "SIDIK_TEST_ABORT_AFTER";

/// What an action is given.
#[derive(Debug, Clone)]
pub struct Context {
    /// The incident.
    pub incident: Incident,
    /// The step's id.
    pub step: String,
    /// The step's parameters.
    pub params: toml::Table,
    /// Whether the step is dangerous and was approved (`--approve STEP`):
    /// an action that writes to a user's system runs only when this is true.
    pub approved: bool,
}

impl Context {
    /// `reports/STEP.md`: where the step's main report goes (linked from the tracker).
    pub fn report_path(&self) -> PathBuf {
        self.incident
            .dir
            .reports()
            .join(format!("{}.md", self.step))
    }

    /// Writes `reports/STEP.md` and returns its path.
    pub fn write_report(&self, markdown: &str) -> Result<PathBuf, String> {
        let path = self.report_path();
        crate::tools::write_file(&path, markdown)?;
        Ok(path)
    }

    /// `evidence/STEP.EXT`.
    pub fn evidence_path(&self, ext: &str) -> PathBuf {
        self.incident
            .dir
            .evidence()
            .join(format!("{}.{ext}", self.step))
    }

    /// `charts/STEP.EXT`.
    pub fn chart_path(&self, ext: &str) -> PathBuf {
        self.incident
            .dir
            .charts()
            .join(format!("{}.{ext}", self.step))
    }

    /// A string parameter.
    pub fn str_param(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(|v| v.as_str())
    }

    /// An integer parameter.
    pub fn int_param(&self, key: &str) -> Option<i64> {
        self.params.get(key).and_then(|v| v.as_integer())
    }
}

/// What a successful action produced.
#[derive(Debug, Clone, Default)]
pub struct Done {
    /// Every file written (absolute, or relative to the incident folder).
    pub outputs: Vec<PathBuf>,
    /// The main report, linked from the tracker task.
    pub report: Option<PathBuf>,
    /// Charts to embed under the tracker task.
    pub charts: Vec<PathBuf>,
    /// One-line result, nested under the tracker task.
    pub result: String,
}

/// How an action ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// It did its job.
    Succeeded(Done),
    /// There was nothing it could do here (no database configured, ...): the reason.
    Skipped(String),
}

impl Outcome {
    /// Success with a report (linked from the tracker), the evidence files
    /// written beside it and the one-line result.
    pub fn reported(report: PathBuf, outputs: Vec<PathBuf>, result: String) -> Outcome {
        Outcome::Succeeded(Done {
            outputs,
            report: Some(report),
            charts: Vec::new(),
            result,
        })
    }
}

/// What an action's `run` returns: how it ended, or why it failed (what went
/// wrong, where, and what to do: the journal and the person read it).
pub type StepResult = Result<Outcome, String>;

/// A registered action.
pub trait Action: Send + Sync {
    /// Name used in playbooks (`collect.logs`).
    fn name(&self) -> &'static str;
    /// One line saying what it does.
    fn summary(&self) -> &'static str;
    /// Parameters it accepts.
    fn params(&self) -> &'static [&'static str] {
        &[]
    }
    /// Parameters it requires.
    fn required(&self) -> &'static [&'static str] {
        &[]
    }
    /// Files it reads; their digests decide whether `--resume` re-runs it.
    fn inputs(&self, _ctx: &Context) -> Vec<PathBuf> {
        Vec::new()
    }
    /// Whether `--resume` must run it again even when its inputs are unchanged
    /// (a report over everything collected so far).
    fn always_run(&self) -> bool {
        false
    }
    /// The report it links from the tracker, when not `reports/STEP.md`
    /// (a file name inside `reports/`); the dry run shows this link.
    fn report_file(&self) -> Option<&'static str> {
        None
    }
    /// Does the work; `Err` is the step's failure.
    fn run(&self, ctx: &Context) -> StepResult;
}

/// Actions by name; the binary registers them in one place.
#[derive(Default, Clone)]
pub struct Registry {
    actions: BTreeMap<String, Arc<dyn Action>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers an action under its name.
    pub fn register(&mut self, action: impl Action + 'static) {
        self.actions
            .insert(action.name().to_string(), Arc::new(action));
    }

    /// The action called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Action>> {
        self.actions.get(name).cloned()
    }

    /// Every action, by name.
    pub fn actions(&self) -> impl Iterator<Item = &Arc<dyn Action>> {
        self.actions.values()
    }

    /// What validation needs: names and parameters.
    pub fn specs(&self) -> ActionSpecs {
        self.actions
            .iter()
            .map(|(k, a)| (k.clone(), (a.params().to_vec(), a.required().to_vec())))
            .collect()
    }
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Reuse what the latest run of this playbook did, re-running what failed or whose inputs changed.
    pub resume: bool,
    /// Run only these steps.
    pub only: Vec<String>,
    /// Show what would run and which tracker lines would change; write nothing.
    pub dry_run: bool,
    /// Dangerous steps approved to run.
    pub approve: Vec<String>,
    /// Date written into the tracker (done dates, notes, Last Updated).
    pub date: NaiveDate,
    /// How links and embeds are written.
    pub link_style: LinkStyle,
    /// Add Obsidian Tasks done dates when ticking.
    pub done_date: bool,
    /// Leave the tracker alone.
    pub no_tracker: bool,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The journal (not written on a dry run).
    pub journal: Journal,
    /// Where it was written.
    pub journal_path: Option<PathBuf>,
    /// A dry run's plan, one line per item.
    pub plan: Vec<String>,
    /// The run summary line added to the tracker.
    pub summary: String,
}

/// Runs playbooks for one incident.
pub struct Runner<'a> {
    registry: &'a Registry,
    incident: &'a Incident,
}

fn hash_inputs(paths: &[PathBuf], incident: &Incident) -> BTreeMap<String, String> {
    paths
        .iter()
        .map(|p| {
            let abs = incident.dir.resolve(p);
            let key = incident.dir.relative(&abs);
            let digest = if abs.is_dir() {
                dir_digest(&abs)
            } else {
                sha256_file(&abs)
                    .map(|(d, _)| d)
                    .unwrap_or_else(|_| "missing".to_string())
            };
            (key, digest)
        })
        .collect()
}

/// A digest over a folder's file names and their digests.
fn dir_digest(dir: &Path) -> String {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    let mut all = String::new();
    for f in files {
        let d = sha256_file(&f).map(|(d, _)| d).unwrap_or_default();
        all.push_str(&format!(
            "{}={d};",
            f.strip_prefix(dir).unwrap_or(&f).display()
        ));
    }
    use sha2::Digest;
    sha2::Sha256::digest(all.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn run_attempt(action: Arc<dyn Action>, ctx: Context, timeout: Option<Duration>) -> StepResult {
    let panic_msg = |e: Box<dyn std::any::Any + Send>| {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("internal error in step {}: {msg}", ctx.step))
    };
    match timeout {
        None => std::panic::catch_unwind(AssertUnwindSafe(|| action.run(&ctx)))
            .unwrap_or_else(panic_msg),
        Some(limit) => {
            let (tx, rx) = mpsc::channel();
            let c = ctx.clone();
            std::thread::spawn(move || {
                let r = std::panic::catch_unwind(AssertUnwindSafe(|| action.run(&c)));
                let _ = tx.send(r);
            });
            match rx.recv_timeout(limit) {
                Ok(Ok(o)) => o,
                Ok(Err(e)) => panic_msg(e),
                Err(_) => Err(format!("timed out after {}", human(limit))),
            }
        }
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{} ms", d.as_millis())
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else {
        format!("{:.1} min", s / 60.0)
    }
}

impl<'a> Runner<'a> {
    /// A runner over `registry` for `incident`.
    pub fn new(registry: &'a Registry, incident: &'a Incident) -> Self {
        Runner { registry, incident }
    }

    /// Checks that every task the playbook names exists exactly once in the tracker.
    pub fn check_tasks(&self, pb: &Playbook) -> Result<(), EngineError> {
        let Some(path) = &self.incident.tracker else {
            return Ok(());
        };
        let file = TrackerFile::open(path)?;
        let mut problems = Vec::new();
        for s in &pb.steps {
            if let Some(task) = &s.task {
                if let Err(e) = file.doc().find_task(s.section.as_deref(), task) {
                    problems.push(crate::Problem::new(
                        &pb.path,
                        Some(s.line),
                        format!("step `{}`: {e}", s.id),
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(EngineError::TasksMissing {
                problems: crate::Problems(problems),
                playbook: pb.path.display().to_string(),
                tracker: path.clone(),
            })
        }
    }

    /// Runs `pb`. `on_step` sees every step's final record as it happens.
    pub fn run(
        &self,
        pb: &Playbook,
        opts: &RunOptions,
        on_step: &mut dyn FnMut(&StepRecord),
    ) -> Result<RunResult, EngineError> {
        for id in &opts.only {
            if pb.step(id).is_none() {
                return Err(EngineError::UnknownStep {
                    step: id.clone(),
                    playbook: pb.header.id.clone(),
                    known: pb.steps.iter().map(|s| s.id.clone()).collect(),
                });
            }
        }
        if !opts.no_tracker {
            self.check_tasks(pb)?;
        }
        if !opts.dry_run {
            // What a killed run left half-written is never evidence.
            self.incident.dir.remove_stray_temps();
            if let Some(dir) = self.incident.tracker.as_deref().and_then(Path::parent) {
                sidik_core::folder::remove_stray_temps(dir);
            }
        }
        let runs = self.incident.dir.runs();
        let previous = if opts.resume || !opts.only.is_empty() {
            Journal::latest(&runs, &pb.header.id).map_err(EngineError::Journal)?
        } else {
            None
        };
        // Resuming a playbook that never ran is a fresh run; resuming one whose
        // steps changed is refused.
        if let (true, Some((path, j))) = (opts.resume, &previous) {
            if j.playbook.digest != pb.digest {
                return Err(EngineError::StepListChanged {
                    playbook: pb.header.id.clone(),
                    journal: path.clone(),
                });
            }
        }
        let prev: BTreeMap<String, StepRecord> = previous
            .as_ref()
            .filter(|(_, j)| j.playbook.digest == pb.digest)
            .map(|(_, j)| j.steps.iter().map(|s| (s.id.clone(), s.clone())).collect())
            .unwrap_or_default();

        let now = Utc::now();
        let mut journal = Journal {
            version: 1,
            run_id: new_run_id(&runs, &pb.header.id, now),
            playbook: PlaybookRef {
                id: pb.header.id.clone(),
                title: pb.header.title.clone(),
                file: pb.path.display().to_string(),
                digest: pb.digest.clone(),
            },
            started_at: now,
            finished_at: None,
            resumed_from: previous
                .as_ref()
                .filter(|_| opts.resume)
                .map(|(_, j)| j.run_id.clone()),
            steps: pb
                .steps
                .iter()
                .map(|s| {
                    let action = match &s.kind {
                        Kind::Action { name, .. } => Some(name.as_str()),
                        Kind::Manual { .. } => None,
                    };
                    StepRecord::pending(&s.id, action, s.task.as_deref())
                })
                .collect(),
        };
        let mut plan = Vec::new();
        let abort_after = std::env::var(ABORT_AFTER_ENV).ok();

        for i in pb.order() {
            let step = &pb.steps[i];
            let mut rec = journal.steps[i].clone();
            let status_of =
                |id: &str, j: &Journal| j.steps.iter().find(|r| r.id == id).map(|r| r.status);

            if opts.dry_run {
                plan.extend(self.plan_step(step, opts));
                continue;
            }

            // Not selected: keep what the last run recorded.
            if !opts.only.is_empty() && !opts.only.contains(&step.id) {
                match prev.get(&step.id) {
                    Some(p) => {
                        rec = p.clone();
                        rec.reused = p.status == StepStatus::Succeeded;
                    }
                    None => {
                        rec.status = StepStatus::Skipped;
                        rec.reason = Some("not selected with --only".into());
                    }
                }
                journal.steps[i] = rec;
                continue;
            }

            let skip = |rec: &mut StepRecord, why: String| {
                rec.status = StepStatus::Skipped;
                rec.reason = Some(why);
            };
            if let Some(n) = step
                .needs
                .iter()
                .find(|n| status_of(n, &journal) != Some(StepStatus::Succeeded))
            {
                let what = match status_of(n, &journal) {
                    Some(StepStatus::Failed) => "failed",
                    Some(StepStatus::Skipped) => "was skipped",
                    Some(StepStatus::Manual) => "is manual",
                    _ => "did not run",
                };
                skip(&mut rec, format!("needs `{n}`, which {what}"));
            } else if let Some(c) = step.when.iter().find(|c| !self.holds(c, Some(&journal))) {
                skip(&mut rec, format!("condition `{c}` does not hold"));
            } else if let Kind::Manual { instructions } = &step.kind {
                rec.status = StepStatus::Manual;
                rec.reason = Some(instructions.clone());
            } else if step.dangerous && !opts.approve.contains(&step.id) {
                skip(
                    &mut rec,
                    format!("dangerous: it writes to a production system; run again with --approve {} to allow it", step.id),
                );
            } else if let Kind::Action { name, params } = &step.kind {
                let action = self
                    .registry
                    .get(name)
                    .ok_or_else(|| EngineError::UnknownAction(name.clone()))?;
                let ctx = Context {
                    incident: self.incident.clone(),
                    step: step.id.clone(),
                    params: params.clone(),
                    approved: step.dangerous && opts.approve.contains(&step.id),
                };
                let inputs = hash_inputs(&action.inputs(&ctx), self.incident);
                let reusable = opts.resume
                    && !action.always_run()
                    && prev.get(&step.id).is_some_and(|p| {
                        p.status == StepStatus::Succeeded
                            && p.inputs == inputs
                            && outputs_unchanged(p, self.incident)
                    });
                if reusable {
                    rec = prev[&step.id].clone();
                    rec.reused = true;
                } else {
                    rec.inputs = inputs;
                    self.execute(step, action, ctx, &mut rec);
                }
                if rec.status == StepStatus::Succeeded && !opts.no_tracker {
                    rec.tracker = Some(self.update_tracker(step, &rec, opts));
                }
            }
            journal.steps[i] = rec;
            journal.save(&runs).map_err(EngineError::Core)?;
            on_step(&journal.steps[i]);
            if abort_after.as_deref() == Some(step.id.as_str()) {
                // Simulates a crash: no summary, no finished_at.
                std::process::exit(137);
            }
        }

        let summary = summary_line(pb, &journal);
        if opts.dry_run {
            if let (Some(section), false) = (&pb.header.section, opts.no_tracker) {
                plan.push(format!(
                    "tracker: a run summary under \"{section}\" and the Last Updated dates"
                ));
            }
            return Ok(RunResult {
                journal,
                journal_path: None,
                plan,
                summary,
            });
        }
        journal.finished_at = Some(Utc::now());
        journal.save(&runs).map_err(EngineError::Core)?;
        if !opts.no_tracker {
            self.add_summary(pb, &summary, opts)?;
        }
        Ok(RunResult {
            journal_path: Some(journal.path_in(&runs)),
            journal,
            plan,
            summary,
        })
    }

    /// Whether a condition holds; step conditions need the journal so far.
    fn holds(&self, c: &Condition, journal: Option<&Journal>) -> bool {
        let status = |id: &str| {
            journal
                .and_then(|j| j.steps.iter().find(|r| r.id == id))
                .map(|r| r.status)
        };
        match c {
            Condition::Succeeded(s) => status(s) == Some(StepStatus::Succeeded),
            Condition::Failed(s) => status(s) == Some(StepStatus::Failed),
            Condition::Exists(p) => self.incident.dir.resolve(p).exists(),
            Condition::Missing(p) => !self.incident.dir.resolve(p).exists(),
            Condition::Env(v) => std::env::var_os(v).is_some_and(|x| !x.is_empty()),
        }
    }

    fn execute(&self, step: &Step, action: Arc<dyn Action>, ctx: Context, rec: &mut StepRecord) {
        let started = Instant::now();
        rec.started_at = Some(Utc::now());
        rec.status = StepStatus::Running;
        let mut outcome = Err("did not run".to_string());
        for attempt in 0..=step.retries {
            rec.attempts = attempt + 1;
            outcome = run_attempt(action.clone(), ctx.clone(), step.timeout);
            if outcome.is_ok() || attempt == step.retries {
                break;
            }
            std::thread::sleep(step.retry_delay);
        }
        rec.finished_at = Some(Utc::now());
        rec.duration_ms = Some(started.elapsed().as_millis() as u64);
        match outcome {
            Ok(Outcome::Succeeded(done)) => {
                rec.status = StepStatus::Succeeded;
                rec.result = Some(done.result.clone());
                let dir = &self.incident.dir;
                let mut manifest = Manifest::load(dir).ok();
                let mut all: Vec<PathBuf> = done.outputs.clone();
                all.extend(done.report.iter().cloned());
                all.extend(done.charts.iter().cloned());
                all.sort();
                all.dedup();
                for p in &all {
                    let abs = dir.resolve(p);
                    let sha = sha256_file(&abs)
                        .map(|(d, _)| d)
                        .unwrap_or_else(|_| "missing".into());
                    rec.outputs.push(Output {
                        path: dir.relative(&abs),
                        sha256: sha,
                    });
                    if let Some(m) = manifest.as_mut() {
                        let _ = m.record(dir, &abs, &step.id);
                    }
                }
                if let Some(m) = manifest {
                    let _ = m.save(dir);
                }
                rec.report = done.report.map(|r| dir.relative(&dir.resolve(r)));
            }
            Ok(Outcome::Skipped(why)) => {
                rec.status = StepStatus::Skipped;
                rec.reason = Some(why);
            }
            Err(why) => {
                rec.status = StepStatus::Failed;
                rec.reason = Some(sidik_core::redact(&why).into_owned());
            }
        }
    }

    /// Ticks the step's task, links its report, nests the result and charts.
    fn update_tracker(&self, step: &Step, rec: &StepRecord, opts: &RunOptions) -> String {
        let (Some(task), Some(path)) = (&step.task, &self.incident.tracker) else {
            return if step.task.is_some() {
                "no tracker configured".into()
            } else {
                "no task".into()
            };
        };
        let result = (|| -> Result<String, sidik_tracker::TrackerError> {
            let file = TrackerFile::open(path)?;
            let tracker_dir = path.parent().unwrap_or(Path::new("."));
            let link = rec.report.as_ref().map(|r| {
                sidik_core::folder::relative_path(&self.incident.dir.resolve(r), tracker_dir)
            });
            let mut edited = ops::tick(
                file.doc(),
                path,
                &Tick {
                    section: step.section.as_deref(),
                    task,
                    status: Status::Done,
                    link: link.as_deref(),
                    style: opts.link_style,
                    result: rec.result.as_deref().filter(|r| !r.is_empty()),
                    done_date: opts.done_date.then_some(opts.date),
                },
            )?;
            let line = edited.line;
            for chart in rec.outputs.iter().filter(|o| o.path.ends_with(".png")) {
                let target = sidik_core::folder::relative_path(
                    &self.incident.dir.resolve(&chart.path),
                    tracker_dir,
                );
                let i = edited.doc.find_task(step.section.as_deref(), task)?;
                let changes = edited
                    .doc
                    .plan_child_line(i, &opts.link_style.embed(&target));
                edited.doc = edited.doc.apply(&changes, path)?;
            }
            Ok(match file.save(&edited.doc, false)? {
                sidik_tracker::Saved::Unchanged => format!("line {line} already ticked"),
                sidik_tracker::Saved::Written { .. } => format!("ticked line {line}"),
            })
        })();
        result.unwrap_or_else(|e| format!("not updated: {e}"))
    }

    fn add_summary(
        &self,
        pb: &Playbook,
        summary: &str,
        opts: &RunOptions,
    ) -> Result<(), EngineError> {
        let (Some(section), Some(path)) = (&pb.header.section, &self.incident.tracker) else {
            return Ok(());
        };
        let file = TrackerFile::open(path)?;
        let report = self.incident.dir.reports().join("incident.md");
        let text = if report.exists() {
            let tracker_dir = path.parent().unwrap_or(Path::new("."));
            let link = sidik_core::folder::relative_path(&report, tracker_dir);
            format!("{summary} → {}", opts.link_style.link(&link))
        } else {
            summary.to_string()
        };
        let noted = ops::note(file.doc(), path, section, &text, opts.date)?;
        let touched = ops::touch(&noted.doc, path, opts.date)?;
        file.save(&touched.doc, false)?;
        Ok(())
    }

    /// What a dry run says about one step.
    fn plan_step(&self, step: &Step, opts: &RunOptions) -> Vec<String> {
        let mut out = Vec::new();
        let head = match &step.kind {
            Kind::Manual { instructions } => {
                let first = instructions.lines().next().unwrap_or("");
                return vec![format!("manual      {}: {first}", step.id)];
            }
            Kind::Action { name, .. } => format!("{}  ({name})", step.id),
        };
        if !opts.only.is_empty() && !opts.only.contains(&step.id) {
            return vec![format!("not run     {head}: not selected with --only")];
        }
        if step.dangerous && !opts.approve.contains(&step.id) {
            return vec![format!(
                "would skip  {head}: dangerous; needs --approve {}",
                step.id
            )];
        }
        let mut conds: Vec<String> = step
            .needs
            .iter()
            .map(|n| format!("`{n}` succeeds"))
            .collect();
        for c in &step.when {
            match c {
                Condition::Succeeded(_) | Condition::Failed(_) => {
                    conds.push(format!("`{c}` holds"))
                }
                _ if !self.holds(c, None) => {
                    return vec![format!("would skip  {head}: condition `{c}` does not hold")];
                }
                _ => {}
            }
        }
        let when = if conds.is_empty() {
            String::new()
        } else {
            format!(" if {}", conds.join(" and "))
        };
        out.push(format!("would run   {head}{when}"));
        if let (Some(task), Some(path), false) =
            (&step.task, &self.incident.tracker, opts.no_tracker)
        {
            let line = (|| -> Result<String, sidik_tracker::TrackerError> {
                let file = TrackerFile::open(path)?;
                let tracker_dir = path.parent().unwrap_or(Path::new("."));
                let action = match &step.kind {
                    Kind::Action { name, .. } => Some(name.as_str()),
                    Kind::Manual { .. } => None,
                };
                let name = action
                    .and_then(|a| self.registry.get(a))
                    .and_then(|a| a.report_file().map(str::to_string))
                    .unwrap_or_else(|| format!("{}.md", step.id));
                let report = self.incident.dir.reports().join(name);
                let link = sidik_core::folder::relative_path(&report, tracker_dir);
                let edited = ops::tick(
                    file.doc(),
                    path,
                    &Tick {
                        section: step.section.as_deref(),
                        task,
                        status: Status::Done,
                        link: Some(&link),
                        style: opts.link_style,
                        result: None,
                        done_date: opts.done_date.then_some(opts.date),
                    },
                )?;
                let before = file.doc().line_text(edited.line).trim().to_string();
                let after = edited.doc.line_text(edited.line).trim().to_string();
                Ok(if before == after {
                    format!("            tracker line {}: already {before}", edited.line)
                } else {
                    format!("            tracker line {}: {before}\n                       ->  {after}  (+ its result line)", edited.line)
                })
            })();
            out.push(line.unwrap_or_else(|e| format!("            tracker: {e}")));
        }
        out
    }
}

fn outputs_unchanged(p: &StepRecord, incident: &Incident) -> bool {
    p.outputs
        .iter()
        .all(|o| sha256_file(&incident.dir.resolve(&o.path)).is_ok_and(|(d, _)| d == o.sha256))
}

/// `sidik run phase-1-data-collection: 4 succeeded, 1 failed, 2 skipped, 3 manual`.
pub fn summary_line(pb: &Playbook, journal: &Journal) -> String {
    let count = |s: StepStatus| journal.steps.iter().filter(|r| r.status == s).count();
    let mut parts = vec![format!("{} succeeded", count(StepStatus::Succeeded))];
    for (n, label) in [
        (count(StepStatus::Failed), "failed"),
        (count(StepStatus::Skipped), "skipped"),
        (count(StepStatus::Manual), "manual"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {label}"));
        }
    }
    format!("sidik run {}: {}", pb.header.id, parts.join(", "))
}
