-- The highest seq ingested before ARGV[1] (unix ms), by binary search over the stream
-- (ingest times are monotonic per tenant, so they are sorted by seq): O(log n) XRANGE calls.
-- When every retained event is newer, the seq just before the oldest retained one; with
-- nothing retained, the head's seq. KEYS: head, log.
local head_seq = tonumber(redis.call('HGET', KEYS[1], 'seq')) or 0
local log, t = KEYS[2], tonumber(ARGV[1])

local function ms_of(entry)
  local flat = entry[2]
  for i = 1, #flat, 2 do
    if flat[i] == 'ms' then
      return tonumber(flat[i + 1]) or 0
    end
  end
  return 0
end

local function seq_of(entry)
  return tonumber(string.match(entry[1], '^(%d+)-'))
end

local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
if not first then
  return head_seq
end
local lo = seq_of(first)
if ms_of(first) >= t then
  return lo - 1
end
-- Invariant: `lo` is a stored seq ingested before t; the answer is in lo..hi.
local hi = math.max(head_seq, lo)
while lo < hi do
  local mid = lo + math.ceil((hi - lo) / 2)
  local e = redis.call('XRANGE', log, string.format('%d-0', mid), string.format('%d-0', hi), 'COUNT', 1)[1]
  if e and ms_of(e) < t then
    lo = seq_of(e)
  else
    hi = mid - 1
  end
end
return lo
