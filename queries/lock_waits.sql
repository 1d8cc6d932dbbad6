-- name: lock_waits
-- description: Lock requests not granted, with the sessions blocking them
-- min_server_version: 10
SELECT l.pid, a.usename, a.application_name, l.locktype, l.mode,
       l.relation::regclass AS relation,
       pg_blocking_pids(l.pid) AS blocked_by,
       now() - a.query_start AS waiting_for,
       left(a.query, 200) AS query
FROM pg_locks l
JOIN pg_stat_activity a USING (pid)
WHERE NOT l.granted
ORDER BY waiting_for DESC NULLS LAST;
