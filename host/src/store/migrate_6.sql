-- Schema 5 to 6: a user's reports are read by manager (`directory.reports`
-- in expressions walks the org chart down).
CREATE INDEX users_manager ON users (manager_id) WHERE manager_id IS NOT NULL;
