-- Paths per minute by verdict between two times: a dashboard panel (stacked delivered / dropped /
-- lost / incomplete), with the dropped-yet-answered conflicts that point at stale snapshots.
-- Parameters: t1 String, t2 String (ISO 8601 times)
-- Run: hoptrace query --file dashboards/queries/path-verdicts.sql \
--        --param t1=2026-11-25T08:00:00Z --param t2=2026-11-25T09:00:00Z
SELECT
  toStartOfMinute(first_seen) AS minute,
  countIf(verdict = 'delivered') AS delivered,
  countIf(verdict = 'dropped') AS dropped,
  countIf(verdict = 'lost') AS lost,
  countIf(verdict = 'incomplete') AS incomplete,
  countIf(conflict) AS conflicts,
  countIf(answered = false) AS unanswered
FROM paths FINAL
WHERE first_seen BETWEEN parseDateTime64BestEffort({t1:String}, 3, 'UTC') AND parseDateTime64BestEffort({t2:String}, 3, 'UTC')
GROUP BY minute
ORDER BY minute
