-- Schema 1 to 2: attempts whose outside effect is under way have a table
-- of their own, finished attempts keep their idempotency key, and a run
-- that waits until woken has no wake time instead of the year 9999.
-- (performing.sql follows.)
ALTER TABLE step_attempts ADD COLUMN idempotency_key TEXT;
UPDATE runs SET wake_at = NULL WHERE wake_at >= '9999';
