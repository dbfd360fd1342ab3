-- One page of a channel read: the index members in [ARGV[1], ARGV[2]] (lex), at most ARGV[3],
-- and the stream entry of each. KEYS: chx, log.
-- Returns {members scanned, seq of the last member ('' when none), then id, event JSON per
-- member whose entry is still in the stream}.
local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {#members, ''}
for _, m in ipairs(members) do
  local digits = string.match(m, ':0*(%d+)$')
  if digits then
    out[2] = digits
    local id = digits .. '-0'
    local e = redis.call('XRANGE', KEYS[2], id, id)[1]
    if e then
      local flat = e[2]
      for i = 1, #flat, 2 do
        if flat[i] == 'ev' then
          out[#out + 1] = e[1]
          out[#out + 1] = flat[i + 1]
        end
      end
    end
  end
end
return out
