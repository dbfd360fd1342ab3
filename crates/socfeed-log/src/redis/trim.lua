-- Shared by append.lua and purge.lua (prepended to each).
--
-- trim(keys, cutoff, budget): removes from the front of the stream the entries ingested before
-- `cutoff` (unix ms), at most `budget` of them, together with their channel index members and
-- their publisher ids (an id is forgotten only while it still points at the removed seq).
-- Returns the number removed and 1 when the budget ran out first (more may be due), else 0.
local function pad(seq)
  return string.format('%020d', seq)
end

local function seq_of(entry_id)
  return tonumber(string.match(entry_id, '^(%d+)-'))
end

local function fields_of(entry)
  local flat, rec = entry[2], {}
  for i = 1, #flat, 2 do
    rec[flat[i]] = flat[i + 1]
  end
  return rec
end

local function trim(log, chx, ids, cutoff, budget)
  local entries = redis.call('XRANGE', log, '-', '+', 'COUNT', budget)
  local removed, last = 0, nil
  for _, entry in ipairs(entries) do
    local rec = fields_of(entry)
    if (tonumber(rec.ms) or 0) >= cutoff then
      break
    end
    local seq = string.match(entry[1], '^(%d+)-')
    if rec.id and redis.call('HGET', ids, rec.id) == seq then
      redis.call('HDEL', ids, rec.id)
    end
    if rec.ch then
      redis.call('ZREM', chx, rec.ch .. ':' .. pad(tonumber(seq)))
    end
    removed = removed + 1
    last = seq
  end
  if last then
    -- Every entry up to <last>-0 goes; ids are <seq>-0, so <last>-1 is the first kept.
    redis.call('XTRIM', log, 'MINID', last .. '-1')
  end
  local more = 0
  if removed == budget and removed == #entries then
    more = 1
  end
  return removed, more
end
