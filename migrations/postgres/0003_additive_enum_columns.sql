-- Enum columns stay additive: drop the CHECK lists on
-- call_records.status, call_records.direction and memberships.role, so a
-- new value (a call status, a role) needs no schema change. The values
-- are validated in Rust instead: the store binds only the domain enums
-- (admin/src/domain/enums.rs) and re-parses every stored value on the way
-- out, so an unknown value read back is a decode error, never a value.
-- Keep in step with migrations/sqlite/0003_additive_enum_columns.sql.
--
-- The names are PostgreSQL's defaults for the unnamed column CHECKs of
-- 0001 (<table>_<column>_check). memberships_role_scope_check stays: it
-- names one role, it does not list them.

ALTER TABLE call_records DROP CONSTRAINT call_records_status_check;
ALTER TABLE call_records DROP CONSTRAINT call_records_direction_check;
ALTER TABLE memberships DROP CONSTRAINT memberships_role_check;
