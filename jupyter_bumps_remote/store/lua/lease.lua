-- Keep a running job's lease: renew it if this execution holds it (or take it back if it
-- lapsed, e.g. Redis was away), refuse if another execution took it over meanwhile.
-- KEYS: lease; ARGV: token, lease ms, 'release' to give it up instead
local holder = redis.call('GET', KEYS[1])
if ARGV[3] == 'release' then
  if holder == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 1
end
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
