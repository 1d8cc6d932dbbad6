-- name: recon_postings
-- description: HO journal lines to reconcile
-- min_server_version: 10
SELECT posting_id, order_id, payment_id, journal_type, amount, posted_at, period
FROM ho_postings;
