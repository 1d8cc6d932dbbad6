-- name: connection_pool_status
-- description: Sessions by state against the slots ordinary roles can use
-- min_server_version: 10
SELECT coalesce(state, '(background)') AS state,
       count(*) AS sessions,
       current_setting('max_connections')::int AS max_connections,
       current_setting('max_connections')::int
         - current_setting('superuser_reserved_connections')::int AS usable_slots
FROM pg_stat_activity
GROUP BY 1
ORDER BY 2 DESC;
