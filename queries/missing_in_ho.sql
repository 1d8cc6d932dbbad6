-- name: missing_in_ho
-- description: Successful charges whose order HO never booked (money kept, trip already due)
-- min_server_version: 10
WITH kept AS (
    SELECT order_id,
           sum(CASE WHEN payment_type = 'CHARGE' THEN amount ELSE -amount END) AS amount
    FROM payments
    WHERE payment_status = 'SUCCESS'
    GROUP BY order_id
)
SELECT p.payment_id, p.order_id, o.status AS order_status, p.amount, p.created_at
FROM payments p
JOIN kept k USING (order_id)
JOIN orders o USING (order_id)
WHERE p.payment_type = 'CHARGE'
  AND p.payment_status = 'SUCCESS'
  AND k.amount > 0
  AND o.status <> 'SCHEDULED'
  AND NOT EXISTS (SELECT 1 FROM ho_postings h WHERE h.order_id = p.order_id)
ORDER BY p.created_at, p.payment_id;
