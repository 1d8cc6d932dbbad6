-- name: payment_status_by_day
-- description: The tracker's payment reconciliation query: payments of one day by status
-- min_server_version: 10
-- param: date (default 2025-01-12): the day, YYYY-MM-DD, in the database's time zone
SELECT COUNT(*), payment_status
FROM payments
WHERE DATE(created_at) = $1::date
GROUP BY payment_status
ORDER BY payment_status;
