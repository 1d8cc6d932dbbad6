//! The one registry of playbook actions: each capability crate implements
//! its own steps and registers them here.

use sidik_playbook::Registry;

/// Every action sidik has.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    sidik_logs::actions::register(&mut r);
    sidik_metrics::actions::register(&mut r);
    sidik_recon::actions::register(&mut r);
    sidik_pg::actions::register(&mut r);
    sidik_chart::actions::register(&mut r);
    sidik_rca::actions::register(&mut r);
    sidik_recover::actions::register(&mut r);
    sidik_capacity::actions::register(&mut r);
    sidik_report::register(&mut r);
    r
}
