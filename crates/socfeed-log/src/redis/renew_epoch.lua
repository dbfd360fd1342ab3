-- Replaces the tenant's epoch with ARGV[2] when it is still ARGV[1]. KEYS: head.
-- Returns the epoch in force afterwards (nil when the tenant has no head).
local current = redis.call('HGET', KEYS[1], 'epoch')
if not current then
  return false
end
if current == ARGV[1] then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2])
  return ARGV[2]
end
return current
