//! The `sidik` command line. It only parses arguments, calls the library
//! crates and prints; every capability lives in `crates/`.

/// Prints a line to stdout; a closed pipe (`sidik demo | head`) ends the
/// program quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(2);
        }
    }};
}

// glibc's allocator spends a third of a log ingest in malloc/free; mimalloc does not.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod actions;
mod capacity_cmd;
mod chart_cmd;
mod logs_cmd;
mod metrics_cmd;
mod pg_cmd;
mod rca_cmd;
mod recon_cmd;
mod recover_cmd;

mod run;
mod tracker;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use sidik_core::config::{template, CONFIG_FILE};
use sidik_core::{Incident, IncidentDir};
use sidik_sample::{GenerateOptions, Scenario, Summary};

/// sidik investigates production incidents in an order/payment stack: it
/// collects and analyses the evidence, and ticks the investigation tracker.
#[derive(Debug, Parser)]
#[command(name = "sidik", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate the built-in sample incident and show where everything is.
    Demo(DemoArgs),
    /// Create an incident folder with a commented incident.toml.
    Init(InitArgs),
    /// Validate an incident folder's incident.toml and list its sources.
    Check(IncidentArg),
    /// Generated incidents with known ground truth.
    #[command(subcommand)]
    Sample(SampleCommand),
    /// Run playbooks (default: the five phase playbooks) on an incident folder.
    Run(run::RunArgs),
    /// List or validate playbooks.
    #[command(subcommand)]
    Playbook(run::PlaybookCommand),
    /// Read-only PostgreSQL diagnostics.
    #[command(subcommand)]
    Pg(pg_cmd::PgCommand),
    /// Ingest and analyse the services' logs.
    #[command(subcommand)]
    Logs(logs_cmd::LogsCommand),
    /// Reconcile UPG payments, HO postings and orders: breaks, stuck orders, money at stake.
    Recon(recon_cmd::ReconArgs),
    /// Phase 4: plan, apply (guarded, resumable, audited, undoable), verify; HO's re-push batch.
    #[command(subcommand)]
    Recover(recover_cmd::RecoverCommand),
    /// The customer list: who was charged without a completed order, charged twice or is
    /// owed a refund, with messages in Bahasa Indonesia and English; nothing is sent.
    Notify(recover_cmd::NotifyArgs),
    /// Metrics from a Prometheus-compatible server or exports, and the Go runtime findings.
    #[command(subcommand)]
    Metrics(metrics_cmd::MetricsCommand),
    /// Score the five hypotheses against the evidence and find the incident's phases.
    Rca(rca_cmd::RcaArgs),
    /// Phase 5's capacity plan: peak rates scaled to the target users, Little's law, Erlang C
    /// pools against PostgreSQL's usable slots, PgBouncer, headroom (reports/capacity.md).
    Capacity(capacity_cmd::CapacityArgs),
    /// Review incident.toml's [topology] against the incident: pools, timeouts, retries,
    /// breakers, autoscaling, each with a verdict, the evidence and a recommended value.
    Review(capacity_cmd::ReviewArgs),
    /// Prometheus alert rules for this incident's failure modes, tested with promtool on the
    /// incident's own series (evidence/prevention/alerts.yml).
    Alerts(capacity_cmd::AlertsArgs),
    /// Draw the incident timeline and the reconciliation chart (PNG and SVG in charts/).
    #[command(subcommand)]
    Chart(chart_cmd::ChartCommand),
    /// Read and update the markdown investigation tracker, byte-exactly.
    #[command(subcommand)]
    Tracker(tracker::TrackerCommand),
}

#[derive(Debug, Args)]
pub(crate) struct IncidentArg {
    /// The incident folder (default: $SIDIK_INCIDENT, else the current folder).
    #[arg(
        long = "incident",
        value_name = "DIR",
        default_value = ".",
        env = "SIDIK_INCIDENT",
        global = true
    )]
    pub(crate) dir: PathBuf,
}

impl std::ops::Deref for IncidentArg {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.dir
    }
}

impl AsRef<Path> for IncidentArg {
    fn as_ref(&self) -> &Path {
        &self.dir
    }
}

#[derive(Debug, Args)]
struct InitArgs {
    /// Folder to create (existing files other than incident.toml are kept).
    dir: PathBuf,
    /// The markdown tracker this incident updates.
    #[arg(long, value_name = "PATH")]
    tracker: Option<PathBuf>,
    /// Incident id; default: the folder's name.
    #[arg(long)]
    id: Option<String>,
    /// Overwrite an existing incident.toml.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Where to write the sample incident.
    #[arg(long, value_name = "DIR", default_value = "sidik-demo")]
    out: PathBuf,
    /// The injected root cause.
    #[arg(long, default_value = "pool-exhaustion", value_parser = parse_scenario)]
    scenario: Scenario,
    /// Number of orders.
    #[arg(long, default_value_t = 20_000)]
    orders: u64,
    /// Random seed.
    #[arg(long, default_value_t = 12)]
    seed: u64,
    /// Load the sample into this PostgreSQL database (schema sidik_sample) so the database steps run too.
    #[arg(long, value_name = "URL", conflicts_with = "with_postgres")]
    pg: Option<String>,
    /// Start a throwaway PostgreSQL cluster for the database steps, and stop it afterwards.
    #[arg(long)]
    with_postgres: bool,
    /// Date written into the tracker (YYYY-MM-DD); default: today in the incident timezone.
    #[arg(long, value_name = "DATE", value_parser = tracker::parse_date)]
    date: Option<chrono::NaiveDate>,
}

#[derive(Debug, Subcommand)]
enum SampleCommand {
    /// Write a generated incident folder: logs, exports, metrics, tracker, ground truth.
    Generate(GenerateArgs),
    /// Load a generated incident's orders, payments and HO postings into PostgreSQL with COPY.
    Load(LoadArgs),
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// Folder to write.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The injected root cause: pool-exhaustion, callback-failure, circuit-breaker,
    /// timeout-mismatch or race-condition.
    #[arg(long, value_parser = parse_scenario)]
    scenario: Scenario,
    /// Number of orders (1,000 to 10,000,000).
    #[arg(long, default_value_t = 100_000)]
    orders: u64,
    /// Random seed; the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write into a folder that already has files.
    #[arg(long)]
    force: bool,
    /// Draw each service's logger, the error wordings, the PostgreSQL prefix, the
    /// spike's shape and the exports' column names and signs from the seed
    /// (docs/sample.md lists the catalogue), instead of the default sample's formats.
    #[arg(long)]
    vary: bool,
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// Connection string (postgres:// URL or libpq key=value); default: $DATABASE_URL.
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    pg: String,
    #[command(flatten)]
    incident: crate::IncidentArg,
    /// Schema to create the tables in.
    #[arg(long, default_value = "sidik_sample")]
    schema: String,
    /// Drop and reload tables that already exist in the schema.
    #[arg(long)]
    replace: bool,
}

/// The one async runtime builder (sidik-core's), for the commands.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(sidik_core::process::runtime()?)
}

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    s.parse()
}

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3 headers).
const MI_OPTION_PURGE_DELAY: i32 = 15;

fn main() -> ExitCode {
    // Keep freed memory instead of returning it to the OS after 10 ms: an
    // ingest frees and reallocates its Parquet chunk buffers all the time,
    // and the page faults of fetching them back cost a tenth of its time.
    // SAFETY: mi_option_set only stores an integer option; it is called
    // before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => demo(a),
        Command::Init(a) => init(a),
        Command::Check(a) => check(&a.dir),
        Command::Sample(SampleCommand::Generate(a)) => generate(a),
        Command::Sample(SampleCommand::Load(a)) => load(a),
        Command::Tracker(c) => tracker::run(c),
        Command::Playbook(c) => run::playbook(c),
        Command::Logs(c) => logs_cmd::run(c),
        Command::Chart(c) => chart_cmd::run(c),
        Command::Metrics(c) => metrics_cmd::run(c),
        Command::Pg(c) => pg_cmd::run(c),
        Command::Rca(a) => rca_cmd::run(a),
        Command::Capacity(a) => capacity_cmd::capacity(a),
        Command::Review(a) => capacity_cmd::review(a),
        Command::Alerts(a) => capacity_cmd::alerts(a),
        Command::Notify(a) => match recover_cmd::notify(a) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Command::Recover(c) => match recover_cmd::run(c) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Command::Recon(a) => match recon_cmd::run(a) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Command::Run(a) => match run::run(a) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("error: {e}");
            for cause in e.chain().skip(1) {
                msg.push_str(&format!("\n  caused by: {cause}"));
            }
            eprintln!("{}", sidik_core::redact(&msg));
            ExitCode::from(2)
        }
    }
}

fn init(a: InitArgs) -> Result<()> {
    let dir = IncidentDir::create(&a.dir)?;
    let config = dir.config_path();
    if config.exists() && !a.force {
        bail!(
            "{} already exists; edit it, or pass --force to replace it with a fresh template",
            config.display()
        );
    }
    let id = a.id.unwrap_or_else(|| {
        std::fs::canonicalize(&a.dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "incident".to_string())
    });
    let tracker = match &a.tracker {
        Some(t) => {
            if !t.is_file() {
                bail!(
                    "tracker {} does not exist; give the path of your markdown tracker",
                    t.display()
                );
            }
            Some(sidik_core::folder::relative_path(t, &a.dir))
        }
        None => None,
    };
    sidik_core::folder::write_atomic(&config, template(&id, tracker.as_deref()).as_bytes())?;
    // Prove the template is valid before telling the user it is.
    Incident::load(&a.dir)?;
    out!("created incident folder {}", a.dir.display());
    out!("  {CONFIG_FILE:<14} edit the window and uncomment the sources you have");
    for sub in sidik_core::folder::SUBFOLDERS {
        out!("  {:<14} {}", format!("{sub}/"), subfolder_purpose(sub));
    }
    if let Some(t) = tracker {
        out!("  tracker        {t}");
    }
    out!("next: sidik check --incident {}", a.dir.display());
    Ok(())
}

fn subfolder_purpose(sub: &str) -> &'static str {
    match sub {
        "evidence" => "data written by steps, and manifest.json",
        "reports" => "markdown, CSV and JSON reports",
        "charts" => "PNG and SVG charts",
        _ => "one journal per playbook run",
    }
}

fn check(dir: &Path) -> Result<()> {
    let inc = Incident::load(dir)?;
    let f = &inc.file;
    out!("{}: ok", inc.dir.config_path().display());
    out!("  id        {}", f.incident.id);
    out!("  timezone  {}", inc.tz);
    if let Some(w) = inc.window {
        out!("  window    {}", w.display_in(inc.tz));
    }
    match &inc.tracker {
        Some(t) if t.is_file() => out!("  tracker   {}", t.display()),
        Some(t) => out!("  tracker   {} (missing!)", t.display()),
        None => out!("  tracker   (none)"),
    }
    let (lines, mut problems) = sidik_logs::check::sources(&inc);
    for l in lines {
        out!("{l}");
    }
    for db in &f.sources.databases {
        let var = db.url_env.as_deref().unwrap_or("DATABASE_URL");
        let set = std::env::var_os(var).is_some();
        out!(
            "  database  {:<20} ${var} {}",
            db.name,
            if set { "is set" } else { "is not set" }
        );
    }
    if let Some(m) = &f.sources.metrics {
        for p in m.csv.iter().chain(&m.openmetrics) {
            let n = sidik_playbook::tools::matching(&inc, p).len();
            if n == 0 {
                problems += 1;
            }
            out!(
                "  metrics   {p}{}",
                if n == 0 { "  <- missing" } else { "" }
            );
        }
    }
    if let Some(r) = &f.sources.recon {
        let (lines, n) = sidik_recon::inspect::check_exports(&inc, r);
        for l in lines {
            out!("{l}");
        }
        problems += n;
    }
    for l in sidik_capacity::topology_lines(&f.topology) {
        out!("{l}");
    }
    if problems > 0 {
        bail!(
            "{problems} problem(s) with the sources of {}; see the lines marked <- above",
            inc.dir.config_path().display()
        );
    }
    Ok(())
}

fn generate(a: GenerateArgs) -> Result<()> {
    let summary = sidik_sample::generate(&GenerateOptions {
        out: a.out,
        scenario: a.scenario,
        orders: a.orders,
        seed: a.seed,
        force: a.force,
        vary: a.vary,
    })?;
    print_summary(&summary);
    Ok(())
}

fn print_summary(s: &Summary) {
    let t = &s.truth;
    let c = |k: &str| t.counts.get(k).copied().unwrap_or(0);
    let idr = |k: &str| sidik_core::fmt::count(t.amounts_idr.get(k).copied().unwrap_or(0));
    out!(
        "generated {} ({} orders, scenario {}, seed {}) in {:.1} s",
        s.out.display(),
        sidik_core::fmt::count(c("orders") as i64),
        t.root_cause.scenario,
        t.generator["seed"],
        s.elapsed.as_secs_f64()
    );
    out!(
        "  root cause       hypothesis {}: {}",
        t.root_cause.hypothesis_number,
        t.root_cause.hypothesis
    );
    out!("  spike start      {}", t.times.spike_start);
    out!("  error onset      {}", t.times.error_onset);
    out!("  degradation      {}", t.times.degradation_start);
    out!("  recovery         {}", t.times.recovery);
    out!(
        "  stuck orders     {}",
        sidik_core::fmt::count(c("stuck_orders") as i64)
    );
    out!(
        "  missing in HO    {} payments, IDR {}",
        sidik_core::fmt::count(c("missing_in_ho_payments") as i64),
        idr("MISSING_IN_HO")
    );
    for (cat, key) in [
        ("DUPLICATE_CHARGE", "breaks_duplicate_charge"),
        ("DUPLICATE_POSTING", "breaks_duplicate_posting"),
        ("AMOUNT_MISMATCH", "breaks_amount_mismatch"),
    ] {
        if c(key) > 0 {
            out!(
                "  {:<16} {}, IDR {}",
                cat.to_ascii_lowercase().replace('_', " "),
                sidik_core::fmt::count(c(key) as i64),
                idr(cat)
            );
        }
    }
    out!("files:");
    for (path, bytes) in &s.files {
        out!("  {path:<44} {:>12}", sidik_core::fmt::bytes(*bytes));
    }
}

fn load(a: LoadArgs) -> Result<()> {
    let rt = runtime()?;
    let summary = rt.block_on(sidik_sample::load::load(&sidik_sample::load::LoadOptions {
        dir: a.incident.dir,
        url: a.pg.clone(),
        schema: a.schema,
        replace: a.replace,
    }))?;
    out!(
        "loaded into {} (schema {}):",
        sidik_core::redact(&a.pg),
        summary.schema
    );
    for (table, rows) in &summary.tables {
        out!(
            "  {}.{table:<12} {:>12} rows",
            summary.schema,
            sidik_core::fmt::count(*rows as i64)
        );
    }
    out!(
        "query them with: SET search_path = {}; SELECT count(*), payment_status FROM payments GROUP BY 2;",
        summary.schema
    );
    Ok(())
}

fn demo(a: DemoArgs) -> Result<()> {
    // Re-running the demo replaces an earlier demo, never someone's folder.
    let force = a.out.join("ground_truth.json").is_file();
    if force {
        for sub in ["evidence", "reports", "charts", "runs"] {
            let p = a.out.join(sub);
            if p.is_dir() {
                std::fs::remove_dir_all(&p)
                    .with_context(|| format!("cannot clear {}", p.display()))?;
            }
        }
    }
    let summary = sidik_sample::generate(&GenerateOptions {
        out: a.out.clone(),
        scenario: a.scenario,
        orders: a.orders,
        seed: a.seed,
        force,
        vary: false,
    })?;
    print_summary(&summary);
    out!();

    // A database for the Postgres steps: given, started here, or none.
    let cluster = if a.with_postgres {
        out!("starting a throwaway PostgreSQL cluster for the database steps…");
        let c = sidik_testpg::Cluster::start().map_err(|e| anyhow::anyhow!("{e}"))?;
        c.psql(
            "postgres",
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        Some(c)
    } else {
        None
    };
    let url =
        a.pg.clone()
            .or_else(|| cluster.as_ref().map(|c| c.url("postgres")));
    if let Some(url) = &url {
        let rt = runtime()?;
        let loaded = rt.block_on(sidik_sample::load::load(&sidik_sample::load::LoadOptions {
            dir: a.out.clone(),
            url: url.clone(),
            schema: "sidik_sample".into(),
            replace: true,
        }))?;
        let rows: Vec<String> = loaded
            .tables
            .iter()
            .map(|(t, n)| format!("{t} {}", sidik_core::fmt::count(*n as i64)))
            .collect();
        out!(
            "loaded into {}: {}",
            sidik_core::redact(url),
            rows.join(", ")
        );
        // The sample's incident.toml reads the URL from this variable.
        std::env::set_var("SIDIK_SAMPLE_DATABASE_URL", url);
    } else {
        std::env::remove_var("SIDIK_SAMPLE_DATABASE_URL");
        out!("no database: the Postgres steps will be skipped (run `sidik demo --with-postgres` to include them)");
    }
    out!();

    let inc = Incident::load(&a.out)?;
    let registry = actions::registry();
    let playbooks =
        sidik_playbook::builtin::load(&[], &registry).map_err(|e| anyhow::anyhow!(e))?;
    let mut opts = run::default_options(&inc, a.date);
    if cluster.is_some() {
        // Phase 4's apply writes to a database; the demo approves it only on
        // the throwaway cluster it started itself.
        out!("the demo approves its own dangerous step `recover-orders`: it writes only to the throwaway database started above");
        out!();
        opts.approve.push("recover-orders".into());
    } else if url.is_some() {
        out!("phase 4's `recover-orders` writes to the database and is not approved on a database you gave; run `sidik run phase-4-remediation --approve recover-orders --incident {}` to apply it", a.out.display());
        out!();
    }
    run::run_playbooks(&inc, &playbooks, &registry, &opts)?;
    drop(cluster);

    let out = a.out.display();
    out!();
    out!("where everything is:");
    out!("  {out}/tracker.md              the tracker, ticked by the run (compare with the seed)");
    out!("  {out}/reports/incident.md     the incident report: impact, timeline, evidence, action items");
    out!("  {out}/reports/                one report per step");
    out!("  {out}/evidence/               data behind the reports, and manifest.json");
    out!("  {out}/runs/                   one journal per playbook run");
    out!("  {out}/charts/                 the incident timeline and the reconciliation chart (PNG + SVG)");
    out!("  {out}/ground_truth.json       what the sample planted, to check every finding against");
    out!();
    out!("next: sidik run --incident {out} --resume   (after editing anything)");
    Ok(())
}
