-- name: recon_orders
-- description: Orders to reconcile (sidik's sample schema; rename columns here or map them in [recon.columns.orders])
-- min_server_version: 10
SELECT order_id, service_line, status, created_at, trip_end_at,
       amount_total, amount_base, amount_overtime, amount_extra, amount_tip
FROM orders;
