-- name: recover_post_refund
-- decision: post_refund
-- description: Post a settled UPG refund that HO never booked, as a REFUND line
-- table: ho_postings
-- key: posting_id
-- param: order_id
-- param: payment_id
-- param: amount
-- guard: the refund is still settled at the planned amount and HO still holds no line for it
INSERT INTO ho_postings (posting_id, order_id, payment_id, journal_type, amount, posted_at, period)
SELECT 'RCV-' || p.payment_id || '-REFUND', p.order_id, p.payment_id, 'REFUND', p.amount,
       now(), to_char(now() AT TIME ZONE 'Asia/Jakarta', 'YYYY-MM')
FROM payments p
WHERE p.payment_id = $2::text AND p.order_id = $1::text AND p.payment_type = 'REFUND'
  AND p.payment_status = 'SUCCESS' AND p.amount = $3::bigint
  AND NOT EXISTS (SELECT 1 FROM ho_postings h WHERE h.payment_id = $2::text)
RETURNING posting_id;
