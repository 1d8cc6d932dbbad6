-- name: slow_queries
-- description: The 20 statements with the most total execution time (pg_stat_statements 1.8+)
-- min_server_version: 13
SELECT queryid, calls,
       round(total_exec_time::numeric, 1) AS total_exec_ms,
       round(mean_exec_time::numeric, 1) AS mean_exec_ms,
       rows,
       left(query, 200) AS query
FROM pg_stat_statements
ORDER BY total_exec_time DESC
LIMIT 20;
