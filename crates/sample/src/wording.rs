//! The error strings the services log, as the Go libraries and PostgreSQL
//! word them. The default sample keeps one wording per failure; a varied
//! incident draws one per failure from the libraries below, so a detector
//! that knows only one wording shows it.
//!
//! Sources (the string each library builds):
//! - lib/pq `error.go`: `pq: ` + the server's message (`pq: sorry, too many
//!   clients already`, `pq: deadlock detected`, `pq: canceling statement due
//!   to statement timeout`).
//! - jackc/pgx v5 `pgconn`: `failed to connect to `…`: server error (FATAL: …
//!   (SQLSTATE 53300))`; `PgError.Error()` is `SEVERITY: message (SQLSTATE
//!   code)`; `errTimeout` prefixes `timeout: `.
//! - PostgreSQL 15 `postmaster.c`/`proc.c`: `sorry, too many clients already`,
//!   `remaining connection slots are reserved for non-replication superuser
//!   connections` (both SQLSTATE 53300), `deadlock detected` (40P01).
//! - Go net/http `client.go`: `context deadline exceeded (Client.Timeout
//!   exceeded while awaiting headers)`; Go 1.22 and older: `net/http: request
//!   canceled (Client.Timeout exceeded while awaiting headers)`; `net`:
//!   `dial tcp …: connect: connection refused`, `read: connection reset by peer`.
//! - Go `context`: `context deadline exceeded`, `context canceled`.
//! - google.golang.org/grpc `status`: `rpc error: code = DeadlineExceeded desc = …`,
//!   `rpc error: code = Unavailable desc = connection error: desc = "transport: …"`.
//! - afex/hystrix-go `CircuitError`: `hystrix: circuit open`.
//! - sony/gobreaker: `ErrOpenState` `circuit breaker is open`.

use rand::Rng;
use rand_pcg::Pcg64Mcg;

/// The wordings of one incident.
#[derive(Debug, Clone)]
pub struct Words {
    /// A database connection refused for want of slots.
    pub too_many_clients: &'static str,
    /// PostgreSQL's own FATAL line for it (without the severity).
    pub pg_too_many: &'static str,
    /// An HTTP client that gave up before the answer (after the URL).
    pub client_timeout: &'static str,
    /// Whether the client is gRPC (no `Post "url": ` before the error).
    pub grpc: bool,
    /// A status update that hit its deadline.
    pub status_timeout: &'static str,
    /// An open breaker.
    pub breaker: &'static str,
    /// A callback that could not reach the orchestrator (two alternatives).
    pub callback_errors: [&'static str; 2],
    /// The callback failure's message.
    pub callback_msg: &'static str,
    /// A deadlock as the driver reports it.
    pub deadlock: &'static str,
    /// The warning of a callback handled twice.
    pub twice: &'static str,
}

impl Words {
    /// The default sample's wordings.
    pub fn classic() -> Words {
        Words {
            too_many_clients: "pq: sorry, too many clients already",
            pg_too_many: "sorry, too many clients already",
            client_timeout:
                "context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            grpc: false,
            status_timeout: "context deadline exceeded",
            breaker: "circuit breaker is open",
            callback_errors: [
                "unexpected status 502 Bad Gateway",
                "Post \"http://order-orchestrator.svc.cluster.local:8080/v1/payments/callback\": dial tcp 10.12.4.7:8080: connect: connection refused",
            ],
            callback_msg: "payment callback failed",
            deadlock: "pq: deadlock detected",
            twice: "payment callback processed twice",
        }
    }

    /// Draws the wordings of a varied incident.
    pub fn draw(r: &mut Pcg64Mcg) -> Words {
        let mut pick = |v: &[&'static str]| v[r.random_range(0..v.len())];
        let pgx = pick(&["pq", "pgx"]) == "pgx";
        let pg_too_many = pick(&[
            "sorry, too many clients already",
            "remaining connection slots are reserved for non-replication superuser connections",
        ]);
        let too_many_clients = match (pgx, pg_too_many.starts_with("sorry")) {
            (false, true) => "pq: sorry, too many clients already",
            (false, false) => "pq: remaining connection slots are reserved for non-replication superuser connections",
            (true, true) => "failed to connect to `host=pg-orders.db.svc user=orchestrator database=orders`: server error (FATAL: sorry, too many clients already (SQLSTATE 53300))",
            (true, false) => "failed to connect to `host=pg-orders.db.svc user=orchestrator database=orders`: server error (FATAL: remaining connection slots are reserved for non-replication superuser connections (SQLSTATE 53300))",
        };
        let client_timeout = pick(&[
            "context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            "net/http: request canceled (Client.Timeout exceeded while awaiting headers)",
            "rpc error: code = DeadlineExceeded desc = context deadline exceeded",
        ]);
        Words {
            too_many_clients,
            pg_too_many,
            client_timeout,
            grpc: client_timeout.starts_with("rpc error"),
            status_timeout: if pgx {
                "timeout: context deadline exceeded"
            } else {
                "context deadline exceeded"
            },
            breaker: pick(&["circuit breaker is open", "hystrix: circuit open"]),
            callback_errors: [
                pick(&[
                    "unexpected status 502 Bad Gateway",
                    "read tcp 10.12.5.9:51234->10.12.4.7:8080: read: connection reset by peer",
                ]),
                pick(&[
                    "Post \"http://order-orchestrator.svc.cluster.local:8080/v1/payments/callback\": dial tcp 10.12.4.7:8080: connect: connection refused",
                    "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 10.12.4.7:8080: connect: connection refused\"",
                ]),
            ],
            callback_msg: pick(&[
                "payment callback failed",
                "failed to deliver payment callback",
                "callback delivery failed",
            ]),
            deadlock: if pgx {
                "ERROR: deadlock detected (SQLSTATE 40P01)"
            } else {
                "pq: deadlock detected"
            },
            twice: pick(&[
                "payment callback processed twice",
                "duplicate charge request",
                "order already being processed",
                "idempotency key reused with a concurrent request",
            ]),
        }
    }
}
