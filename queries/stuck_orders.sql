-- name: stuck_orders
-- description: Orders left in ACTIVE ("order gantung"), oldest first
-- min_server_version: 10
SELECT order_id, service_line, status, created_at, trip_end_at, payment_method, amount_total
FROM orders
WHERE status = 'ACTIVE'
ORDER BY created_at, order_id;
