-- name: recover_complete
-- decision: complete
-- description: Set a stuck ACTIVE order whose charge settled to COMPLETE
-- table: orders
-- key: order_id
-- row: order_id
-- param: order_id
-- guard: the order is still ACTIVE and still has a settled charge, as when the plan was made
UPDATE orders
SET status = 'COMPLETE'
WHERE order_id = $1::text
  AND status = 'ACTIVE'
  AND EXISTS (
      SELECT 1 FROM payments p
      WHERE p.order_id = $1::text AND p.payment_type = 'CHARGE' AND p.payment_status = 'SUCCESS'
  )
RETURNING order_id;
