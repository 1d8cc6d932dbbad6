-- name: sample_refund_duplicate
-- decision: refund_duplicate
-- description: The sample's stand-in for UPG's refund API: records the settled refund of a duplicate charge in UPG's payments table. In production a refund goes through UPG's API ([[recover.http.endpoint]] decision = "refund_duplicate"), never an INSERT into the gateway's table.
-- table: payments
-- key: payment_id
-- param: order_id
-- param: payment_id
-- param: amount
-- guard: the duplicate is still a settled charge of the planned amount and has no refund yet
INSERT INTO payments (payment_id, order_id, payment_type, payment_status, amount, payment_method, created_at, failure_reason)
SELECT 'RCV-' || p.payment_id || '-REFUND', p.order_id, 'REFUND', 'SUCCESS', p.amount, p.payment_method,
       now() AT TIME ZONE 'Asia/Jakarta', NULL
FROM payments p
WHERE p.payment_id = $2::text AND p.order_id = $1::text AND p.payment_type = 'CHARGE'
  AND p.payment_status = 'SUCCESS' AND p.amount = $3::bigint
  AND NOT EXISTS (SELECT 1 FROM payments r WHERE r.payment_id = 'RCV-' || $2::text || '-REFUND')
RETURNING payment_id;
