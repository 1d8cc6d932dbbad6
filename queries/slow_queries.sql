-- name: slow_queries
-- description: The 20 statements with the most total time, sidik's own and bulk loads (COPY … FROM STDIN) left out (the tracker's slow query log, on every pg_stat_statements version)
-- min_server_version: 10
-- when: pg_stat_statements >= 1.8
SELECT queryid, calls,
       round((total_exec_time + total_plan_time)::numeric, 1) AS total_ms,
       round(mean_exec_time::numeric, 1) AS mean_exec_ms,
       rows,
       left(query, 200) AS query
FROM pg_stat_statements
WHERE query NOT LIKE '/* sidik */%'
  AND query !~* '^\s*COPY\s.*\sFROM\s+STDIN'
ORDER BY total_exec_time + total_plan_time DESC
LIMIT 20;
-- when: pg_stat_statements < 1.8
SELECT queryid, calls,
       round(total_time::numeric, 1) AS total_ms,
       round(mean_time::numeric, 1) AS mean_exec_ms,
       rows,
       left(query, 200) AS query
FROM pg_stat_statements
WHERE query NOT LIKE '/* sidik */%'
  AND query !~* '^\s*COPY\s.*\sFROM\s+STDIN'
ORDER BY total_time DESC
LIMIT 20;
