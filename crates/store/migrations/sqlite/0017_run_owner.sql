-- Who executes a run still `running` (issue 19): the process, named so that another process can
-- tell whether it is still alive (see store::interrupted). A run whose owner is gone is marked
-- `interrupted` at the next start; rows from before this column have no owner and count as gone.
ALTER TABLE assessment_runs ADD COLUMN owner TEXT;
