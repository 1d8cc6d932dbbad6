-- name: sample_cancel_refund
-- decision: cancel_refund
-- description: The sample's stand-in for UPG's refund API: records the settled refund of the charge a cancelled order kept. In production a refund goes through UPG's API ([[recover.http.endpoint]] decision = "cancel_refund").
-- table: payments
-- key: payment_id
-- param: order_id
-- param: payment_id
-- param: amount
-- guard: the order is still CANCELLED, the charge still settled at the planned amount, and not refunded yet
INSERT INTO payments (payment_id, order_id, payment_type, payment_status, amount, payment_method, created_at, failure_reason)
SELECT 'RCV-' || p.payment_id || '-REFUND', p.order_id, 'REFUND', 'SUCCESS', p.amount, p.payment_method,
       now() AT TIME ZONE 'Asia/Jakarta', NULL
FROM payments p
JOIN orders o ON o.order_id = p.order_id AND o.status = 'CANCELLED'
WHERE p.payment_id = $2::text AND p.order_id = $1::text AND p.payment_type = 'CHARGE'
  AND p.payment_status = 'SUCCESS' AND p.amount = $3::bigint
  AND NOT EXISTS (SELECT 1 FROM payments r WHERE r.order_id = $1::text AND r.payment_type = 'REFUND' AND r.payment_status = 'SUCCESS')
RETURNING payment_id;
