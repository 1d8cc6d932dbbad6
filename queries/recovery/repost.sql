-- name: recover_repost
-- decision: repost
-- description: Post a settled charge HO never booked, one line per journal type of the order's amounts (BASE, OVERTIME, EXTRA, TIP), or one BASE line when the amounts do not add up to the charge
-- table: ho_postings
-- key: posting_id
-- param: order_id
-- param: payment_id
-- param: amount
-- guard: HO still holds no line for the order, and the payment is still a settled charge of the planned amount
WITH o AS (
    SELECT o.*, o.amount_base + o.amount_overtime + o.amount_extra + o.amount_tip AS parts
    FROM orders o
    WHERE o.order_id = $1::text
),
lines (journal_type, amount) AS (
    SELECT j.journal_type, j.amount
    FROM o CROSS JOIN LATERAL (VALUES
        ('BASE', o.amount_base), ('OVERTIME', o.amount_overtime),
        ('EXTRA', o.amount_extra), ('TIP', o.amount_tip)) AS j (journal_type, amount)
    WHERE o.parts = $3::bigint AND j.amount > 0
    UNION ALL
    SELECT 'BASE', $3::bigint FROM o WHERE o.parts <> $3::bigint
)
INSERT INTO ho_postings (posting_id, order_id, payment_id, journal_type, amount, posted_at, period)
SELECT 'RCV-' || $2::text || '-' || l.journal_type, $1::text, $2::text, l.journal_type, l.amount,
       now(), to_char(now() AT TIME ZONE 'Asia/Jakarta', 'YYYY-MM')
FROM lines l
WHERE EXISTS (
        SELECT 1 FROM payments p
        WHERE p.payment_id = $2::text AND p.order_id = $1::text AND p.payment_type = 'CHARGE'
          AND p.payment_status = 'SUCCESS' AND p.amount = $3::bigint)
  AND NOT EXISTS (SELECT 1 FROM ho_postings h WHERE h.order_id = $1::text)
RETURNING posting_id;
