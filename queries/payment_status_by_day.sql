-- name: payment_status_by_day
-- description: The tracker's payment reconciliation query: payments of 2025-01-12 by status
-- min_server_version: 10
SELECT COUNT(*), payment_status
FROM payments
WHERE DATE(created_at) = '2025-01-12'
GROUP BY payment_status
ORDER BY payment_status;
