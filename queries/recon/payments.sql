-- name: recon_payments
-- description: UPG payments to reconcile (charges, refunds, voids with their status)
-- min_server_version: 10
SELECT payment_id, order_id, payment_type, payment_status, amount, created_at
FROM payments;
