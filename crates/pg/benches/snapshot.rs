//! One snapshot with 200 client connections open:
//! `cargo bench -p sidik-pg --bench snapshot`. Target: ≤ 100 ms.

use std::time::Instant;

use sidik_pg::snapshot::snapshot;
use sidik_pg::{Session, SessionOptions};
use sidik_testpg::Cluster;

fn main() {
    let pg = Cluster::builder()
        .max_connections(230)
        .start()
        .expect("test cluster");
    let url = pg.url("postgres");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut clients = Vec::new();
        for i in 0..200 {
            let (c, conn) = tokio_postgres::connect(
                &format!("{url}?application_name=svc-{}", i % 5),
                tokio_postgres::NoTls,
            )
            .await
            .unwrap();
            tokio::spawn(conn);
            clients.push(c);
        }
        // A few of them in open transactions, as during an incident.
        for c in clients.iter().take(20) {
            c.batch_execute("BEGIN; SELECT 1").await.unwrap();
        }
        let s = Session::connect(&url, &SessionOptions::default())
            .await
            .unwrap();
        let mut times = Vec::new();
        for _ in 0..21 {
            let t = Instant::now();
            let snap = snapshot(&s).await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(snap.backends.len(), 200);
        }
        times.sort_by(f64::total_cmp);
        println!("snapshot/200-connections");
        println!("  median  {:.1} ms", times[times.len() / 2]);
        println!("  max     {:.1} ms", times[times.len() - 1]);
        println!(
            "  cores   {}",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    });
}
