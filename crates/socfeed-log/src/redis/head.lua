-- A tenant's head, read atomically with the first retained entry.
-- KEYS: head, log. Returns {seq or '', epoch or '', id of the first entry or ''}.
local state = redis.call('HMGET', KEYS[1], 'seq', 'epoch')
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
return {state[1] or '', state[2] or '', first and first[1] or ''}
