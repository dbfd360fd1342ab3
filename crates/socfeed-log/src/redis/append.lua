-- The append of one tenant's drafts, in one atomic step (trim.lua is prepended).
--
-- KEYS: head, log, chx, ids of the tenant (all under its hash tag).
-- ARGV: [1] candidate epoch (used only when the head has none), [2] retention ms (0: none),
--       [3] trim budget, [4] live pub/sub channel, [5] number of drafts n, then 5 per draft:
--       supplied ('1'/'0'), id, channel ('' when none), event JSON before its seq, after it.
--
-- Steps: ingest time from TIME, monotonic per tenant; epoch get-or-create (a head without an
-- epoch means a lost history: its leftovers are dropped); trim by age; per draft: dedup of
-- supplied ids (stored, or earlier in this batch), next seq, XADD <seq>-0, channel index,
-- id, PUBLISH; then the head and the keys' expiry. What can refuse is checked before the first
-- write (a head behind its stream), or is a draft's first write (its XADD), so a failure leaves
-- no draft half stored (a trim done before it stands: it is due anyway).
--
-- Every live message carries the Redis TIME of the run in unix microseconds (`us`), for the
-- followers' latency figures; readers take it as optional.
--
-- Returns {epoch, created (0/1), trimmed, more to trim (0/1), us (the run's TIME in unix µs),
-- then seq, duplicate (0/1) per draft}.
local head, log, chx, ids = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local candidate, retention, budget, live = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local n = tonumber(ARGV[5])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local us = time[1] .. string.format('%06d', tonumber(time[2]))
local state = redis.call('HMGET', head, 'seq', 'epoch', 'ms')
local seq = tonumber(state[1]) or 0
local epoch = state[2]
local ms = math.max(now, tonumber(state[3]) or 0)

local created = 0
if not epoch then
  created = 1
else
  local last = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)[1]
  if last and seq_of(last[1]) > seq then
    return redis.error_reply('SOCFEED_CORRUPT the stream ' .. log .. ' is ahead of its head')
  end
end

-- First write.
if created == 1 then
  redis.call('DEL', log, chx, ids)
  epoch = candidate
end
local trimmed, more = 0, 0
if retention > 0 and created == 0 then
  trimmed, more = trim(log, chx, ids, ms - retention, budget)
end

local out = {epoch, created, trimmed, more, us}
local batch = {}
local fresh = 0
local ms_text = string.format('%d', ms)
for i = 0, n - 1 do
  local at = 6 + i * 5
  local supplied, id, ch = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local known = nil
  if supplied == '1' then
    known = batch[id] or redis.call('HGET', ids, id)
  end
  if known then
    out[#out + 1] = tonumber(known)
    out[#out + 1] = 1
  else
    seq = seq + 1
    fresh = fresh + 1
    local s = string.format('%d', seq)
    local ev = ARGV[at + 3] .. s .. ARGV[at + 4]
    local entry = {'ms', ms_text, 'sup', supplied, 'ev', ev}
    if supplied == '1' then
      entry[#entry + 1] = 'id'
      entry[#entry + 1] = id
    end
    if ch ~= '' then
      entry[#entry + 1] = 'ch'
      entry[#entry + 1] = ch
    end
    -- The stream write goes first: it is the one that could refuse (an id not above the
    -- stream's last), and then nothing of this draft is written.
    redis.call('XADD', log, s .. '-0', unpack(entry))
    if supplied == '1' then
      redis.call('HSET', ids, id, s)
      batch[id] = s
    end
    if ch ~= '' then
      redis.call('ZADD', chx, 0, ch .. ':' .. pad(seq))
    end
    redis.call('PUBLISH', live,
      '{"epoch":"' .. epoch .. '","seq":' .. s .. ',"us":' .. us .. ',"event":' .. ev .. '}')
    out[#out + 1] = seq
    out[#out + 1] = 0
  end
end

if fresh > 0 then
  redis.call('HSET', head, 'seq', string.format('%d', seq), 'epoch', epoch, 'ms', ms_text)
  if retention > 0 then
    redis.call('PEXPIRE', log, retention)
    redis.call('PEXPIRE', chx, retention)
    redis.call('PEXPIRE', ids, retention)
  end
end
return out
