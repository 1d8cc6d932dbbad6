//! The playbook actions of the root-cause analysis: `rca.score` (phase 2)
//! and `rca.validate`, `rca.document`, `rca.contributing` (phase 3). Each
//! re-runs the analysis on the evidence as it is now and ticks its own task.

use std::path::PathBuf;

use sidik_playbook::{Action, Context, OrFail, Outcome, Registry, StepResult};

/// Registers the actions of this crate.
pub fn register(r: &mut Registry) {
    r.register(Rca(RcaPart::Score));
    r.register(Rca(RcaPart::Validate));
    r.register(Rca(RcaPart::Document));
    r.register(Rca(RcaPart::Contributing));
}

/// Which tracker task of the root-cause work a step completes.
#[derive(Clone, Copy)]
enum RcaPart {
    /// Phase 2: score the hypotheses (runs the analysis).
    Score,
    /// Phase 3: the leading hypothesis checked against every piece of evidence.
    Validate,
    /// Phase 3: the primary root cause, written into the incident report.
    Document,
    /// Phase 3: the contributing factors.
    Contributing,
}

/// Root-cause scoring (sidik-rca): each part re-runs the analysis on the
/// evidence as it is now, so a resumed run never reports stale verdicts.
struct Rca(RcaPart);

impl Action for Rca {
    fn name(&self) -> &'static str {
        match self.0 {
            RcaPart::Score => "rca.score",
            RcaPart::Validate => "rca.validate",
            RcaPart::Document => "rca.document",
            RcaPart::Contributing => "rca.contributing",
        }
    }
    fn summary(&self) -> &'static str {
        match self.0 {
            RcaPart::Score => "Score the hypotheses against the evidence and detect the phases: reports/rca.md, evidence/rca.json",
            RcaPart::Validate => "Check the leading hypothesis against every piece of evidence; fails when none is supported",
            RcaPart::Document => "State the primary root cause with its evidence (reports/rca.md, and the incident report)",
            RcaPart::Contributing => "List the contributing factors in the order they first occurred",
        }
    }
    fn report_file(&self) -> Option<&'static str> {
        Some("rca.md")
    }
    fn always_run(&self) -> bool {
        // It reads whatever evidence exists now (live samples included) and takes well under a second.
        true
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        let f = sidik_evidence::Files::of(&ctx.incident.dir);
        let mut v = vec![
            f.timeline(),
            f.patterns(),
            f.journeys(),
            f.metrics(),
            f.runtime(),
            f.recon(),
            ctx.incident.dir.root().join("hypotheses.toml"),
            ctx.incident.dir.config_path(),
        ];
        v.retain(|p| p.exists());
        v
    }
    fn run(&self, ctx: &Context) -> StepResult {
        let (a, md, json) = crate::run(&ctx.incident, &[]).or_fail()?;
        let title = |id: &str| {
            a.hypotheses
                .iter()
                .find(|h| h.id == id)
                .map(|h| (h.number, h.title.clone(), h.score, h.checks.clone()))
        };
        let primary = a.primary.as_deref().and_then(title);
        let result = match (self.0, &primary) {
            (RcaPart::Score, Some((n, t, score, _))) => {
                let found = [
                    &a.phases.spike_start,
                    &a.phases.error_onset,
                    &a.phases.degradation_start,
                ]
                .iter()
                .filter(|p| p.is_some())
                .count();
                let others = a
                    .hypotheses
                    .iter()
                    .filter(|h| Some(&h.id) != a.primary.as_ref())
                    .map(|h| format!("{} {:?}", h.number, h.verdict).to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("hypothesis {n} supported ({t}, score {score:.0}); others: {others}; {found} of 3 phases found")
            }
            (RcaPart::Validate, Some((n, _, _, checks))) => {
                let held = checks
                    .iter()
                    .filter(|c| c.outcome == crate::score::Outcome::Pass)
                    .count();
                let missing = checks
                    .iter()
                    .filter(|c| c.outcome == crate::score::Outcome::Missing)
                    .count();
                format!(
                    "hypothesis {n}: {held} of {} checks hold, {missing} without evidence",
                    checks.len()
                )
            }
            (RcaPart::Document, Some((n, t, _, _))) => format!(
                "primary root cause: hypothesis {n}, {t} ({})",
                a.primary_why.clone().unwrap_or_default()
            ),
            (RcaPart::Contributing, Some(_)) => {
                let mut seen: Vec<String> = Vec::new();
                for f in &a.contributing {
                    if !seen.contains(&f.says) {
                        seen.push(f.says.clone());
                    }
                }
                format!(
                    "{} contributing factors: {}",
                    a.contributing.len(),
                    seen.iter().take(4).cloned().collect::<Vec<_>>().join("; ")
                )
            }
            (_, None) => {
                return Err(format!(
                    "no hypothesis is supported by the evidence; see {} for what is missing",
                    ctx.incident.dir.relative(&md)
                ))
            }
        };
        Ok(Outcome::reported(md, vec![json], result))
    }
}
