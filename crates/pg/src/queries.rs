//! The named queries shipped in the repository's `queries/` folder, compiled
//! into the binary so a playbook step or `sidik pg query NAME` runs them
//! without the source tree.

/// The named queries shipped in `queries/`.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "stuck_orders",
        include_str!("../../../queries/stuck_orders.sql"),
    ),
    (
        "missing_in_ho",
        include_str!("../../../queries/missing_in_ho.sql"),
    ),
    (
        "financial_impact",
        include_str!("../../../queries/financial_impact.sql"),
    ),
    (
        "payment_status_by_day",
        include_str!("../../../queries/payment_status_by_day.sql"),
    ),
    (
        "connection_count",
        include_str!("../../../queries/connection_count.sql"),
    ),
    (
        "connection_pool_status",
        include_str!("../../../queries/connection_pool_status.sql"),
    ),
    (
        "lock_waits",
        include_str!("../../../queries/lock_waits.sql"),
    ),
    (
        "slow_queries",
        include_str!("../../../queries/slow_queries.sql"),
    ),
];
