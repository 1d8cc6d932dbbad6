-- name: connection_count
-- description: The tracker's connection count: every session on the server, as pg_stat_activity sees it
-- min_server_version: 10
SELECT count(*) AS sessions,
       count(*) FILTER (WHERE backend_type = 'client backend') AS client_backends
FROM pg_stat_activity;
