-- name: financial_impact
-- description: Orders stuck, orders and rupiah charged but not posted to HO
-- min_server_version: 10
WITH kept AS (
    SELECT order_id,
           sum(CASE WHEN payment_type = 'CHARGE' THEN amount ELSE -amount END) AS amount
    FROM payments
    WHERE payment_status = 'SUCCESS'
    GROUP BY order_id
), unposted AS (
    SELECT k.order_id, k.amount
    FROM kept k
    JOIN orders o USING (order_id)
    WHERE k.amount > 0
      AND o.status <> 'SCHEDULED'
      AND NOT EXISTS (SELECT 1 FROM ho_postings h WHERE h.order_id = k.order_id)
)
SELECT (SELECT count(*) FROM orders WHERE status = 'ACTIVE') AS stuck_orders,
       (SELECT count(*) FROM unposted) AS orders_not_posted,
       (SELECT coalesce(sum(amount), 0) FROM unposted) AS amount_not_posted;
