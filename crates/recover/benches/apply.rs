//! Plan and apply for 100,000 stuck orders on a local PostgreSQL:
//! `cargo bench -p sidik-recover --bench apply`.
//!
//! Each order is ACTIVE past its trip's end with a settled charge and no HO
//! line, so the plan has a `complete` and a `repost` step for each (200,000
//! steps, 100,000 order rows updated and 100,000+ journal lines inserted).
//! It prints the plan's time, apply's throughput with the default batches
//! of 100, and then the throttle's effect: the same apply while the server
//! is saturated for its first seconds, with the time it waited.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use sidik_core::Incident;
use sidik_testpg::Cluster;

const ORDERS: usize = 100_000;
/// Orders that reconcile, so every export has rows.
const MATCHED: usize = 5_000;

fn write_exports(dir: &Path) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut orders = String::from("order_id,service_line,status,created_at,trip_start_at,trip_end_at,payment_method,corporate_id,amount_base,amount_overtime,amount_extra,amount_tip,amount_total,is_push_ho\n");
    let mut payments = String::from(
        "payment_id,order_id,payment_type,payment_status,amount,payment_method,created_at,failure_reason\n",
    );
    let mut postings =
        String::from("posting_id,order_id,payment_id,journal_type,amount,posted_at,period\n");
    for i in 0..ORDERS + MATCHED {
        let (base, over, extra, tip) = (
            100_000 + (i % 50) as i64 * 1_000,
            (i % 3) as i64 * 15_000,
            (i % 5 == 0) as i64 * 7_500,
            (i % 4 == 0) as i64 * 5_000,
        );
        let total = base + over + extra + tip;
        let stuck = i < ORDERS;
        let minute = i % 60;
        let _ = writeln!(
            orders,
            "ORD-{i:07},BB,{},2025-01-12 19:{minute:02}:00,2025-01-12 19:{minute:02}:30,2025-01-12 20:{minute:02}:00,CC,,{base},{over},{extra},{tip},{total},true",
            if stuck { "ACTIVE" } else { "COMPLETE" }
        );
        let _ = writeln!(
            payments,
            "PAY-{i:07},ORD-{i:07},CHARGE,SUCCESS,{total},CC,2025-01-12 19:{minute:02}:10,"
        );
        if !stuck {
            let _ = writeln!(
                postings,
                "HO-{i:07},ORD-{i:07},PAY-{i:07},BASE,{total},2025-01-12T21:00:00+07:00,2025-01"
            );
        }
    }
    std::fs::write(data.join("orders.csv"), orders).unwrap();
    std::fs::write(data.join("payments.csv"), payments).unwrap();
    std::fs::write(data.join("ho_postings.csv"), postings).unwrap();
    std::fs::write(
        dir.join("incident.toml"),
        "[incident]\nid = \"BENCH\"\ntimezone = \"Asia/Jakarta\"\n\n[incident.window]\nstart = \"2025-01-12 00:00\"\nend = \"2025-01-13 00:00\"\n\n\
         [[sources.databases]]\nname = \"orders\"\nurl_env = \"SIDIK_BENCH_URL\"\nrole = \"test\"\nsearch_path = \"sidik_sample\"\n\n\
         [sources.recon]\norders = \"data/orders.csv\"\npayments = \"data/payments.csv\"\npostings = \"data/ho_postings.csv\"\n\n\
         [recon]\nas_of = \"2025-02-15 00:00\"\n\n[recover]\nmax_wait = \"5m\"\n",
    )
    .unwrap();
}

fn load(pg: &Cluster, db: &str, dir: &Path) {
    let data = dir.join("data");
    pg.psql(
        db,
        &format!(
            "CREATE SCHEMA sidik_sample; SET search_path = sidik_sample; \
             CREATE TABLE orders (order_id text PRIMARY KEY, service_line text NOT NULL, status text NOT NULL, \
               created_at timestamp NOT NULL, trip_start_at timestamp, trip_end_at timestamp, payment_method text, \
               corporate_id text, amount_base bigint NOT NULL, amount_overtime bigint NOT NULL, amount_extra bigint NOT NULL, \
               amount_tip bigint NOT NULL, amount_total bigint NOT NULL, is_push_ho boolean NOT NULL); \
             CREATE TABLE payments (payment_id text PRIMARY KEY, order_id text NOT NULL, payment_type text NOT NULL, \
               payment_status text NOT NULL, amount bigint NOT NULL, payment_method text, created_at timestamp NOT NULL, failure_reason text); \
             CREATE INDEX ON payments (order_id); \
             CREATE TABLE ho_postings (posting_id text PRIMARY KEY, order_id text NOT NULL, payment_id text, \
               journal_type text NOT NULL, amount bigint NOT NULL, posted_at timestamptz NOT NULL, period text NOT NULL); \
             CREATE INDEX ON ho_postings (order_id); CREATE INDEX ON ho_postings (payment_id); \
             COPY orders FROM '{o}' CSV HEADER; COPY payments FROM '{p}' CSV HEADER; COPY ho_postings FROM '{h}' CSV HEADER; \
             ANALYZE;",
            o = data.join("orders.csv").display(),
            p = data.join("payments.csv").display(),
            h = data.join("ho_postings.csv").display(),
        ),
    )
    .unwrap();
}

fn apply(inc: &Incident) -> (sidik_recover::sql::Summary, f64) {
    let stop = AtomicBool::new(false);
    let t = Instant::now();
    let (s, _) = sidik_recover::apply::run(
        inc,
        &sidik_recover::apply::Options::default(),
        sidik_recover::apply::Via::Sql,
        &stop,
        &mut |_| {},
    )
    .unwrap();
    (s, t.elapsed().as_secs_f64())
}

fn main() {
    let pg = Cluster::builder()
        .max_connections(20)
        .start()
        .expect("test cluster");
    let tmp = tempfile::tempdir().unwrap();
    // The server runs as another user when this runs as root: let it read the exports.
    let mut perms = std::fs::metadata(tmp.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(tmp.path(), perms).unwrap();
    let dir = tmp.path().join("inc");
    write_exports(&dir);
    for db in ["plain", "throttled", "big_batches"] {
        pg.psql("postgres", &format!("CREATE DATABASE {db}"))
            .unwrap();
        load(&pg, db, &dir);
    }

    std::env::set_var("SIDIK_BENCH_URL", pg.url("plain"));
    let inc = Incident::load(&dir).unwrap();
    let t = Instant::now();
    let (p, _) = sidik_recover::plan::run(&inc).unwrap();
    let plan_s = t.elapsed().as_secs_f64();
    let (s, apply_s) = apply(&inc);
    let rows: u64 = s.changed.values().sum();
    assert_eq!(
        s.changed[&sidik_recover::plan::Decision::Complete],
        ORDERS as u64
    );

    // The throttle: 15 of 17 usable slots busy for the first 5 seconds.
    std::env::set_var("SIDIK_BENCH_URL", pg.url("throttled"));
    let _ = std::fs::remove_dir_all(dir.join("evidence/recovery"));
    sidik_recover::plan::run(&inc).unwrap();
    let url = pg.url("throttled");
    let hogs = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut held = Vec::new();
            for _ in 0..14 {
                let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                held.push(c);
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
    });
    std::thread::sleep(Duration::from_millis(500));
    let (t2, throttled_s) = apply(&inc);
    hogs.join().unwrap();

    // Batches of 1,000 instead of 100: fewer commits and cursor writes.
    std::env::set_var("SIDIK_BENCH_URL", pg.url("big_batches"));
    let _ = std::fs::remove_dir_all(dir.join("evidence/recovery"));
    sidik_recover::plan::run(&inc).unwrap();
    let mut big = inc.clone();
    big.file.recover.batch = Some(1000);
    let (b, big_s) = apply(&big);

    println!("recover/100k-stuck-orders ({} plan steps)", p.steps.len());
    println!("  plan                {plan_s:>8.2} s");
    println!(
        "  apply               {apply_s:>8.2} s  {} batches, {} rows changed, {:.0} steps/s, {:.0} rows/s",
        s.batches,
        rows,
        p.steps.len() as f64 / apply_s,
        rows as f64 / apply_s
    );
    println!(
        "  apply, saturated    {throttled_s:>8.2} s  waited {} times, {:.2} s in all, {:.0} steps/s",
        t2.throttled,
        t2.waited.as_secs_f64(),
        p.steps.len() as f64 / throttled_s
    );
    println!(
        "  apply, batch 1000   {big_s:>8.2} s  {} batches, {:.0} steps/s",
        b.batches,
        p.steps.len() as f64 / big_s
    );
    println!(
        "  cores               {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}
