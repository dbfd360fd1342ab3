-- One purge step for one tenant (trim.lua is prepended): removes up to a budget of its
-- oldest events ingested before the cutoff. The head is not touched.
--
-- KEYS: head, log, chx, ids of the tenant. ARGV: [1] cutoff (unix ms), [2] budget.
-- Returns {removed, more (0/1)}.
local removed, more = trim(KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[1]), tonumber(ARGV[2]))
return {removed, more}
