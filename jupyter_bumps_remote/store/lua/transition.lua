-- Move a job to a new state if its current state allows it; terminal states are final.
-- KEYS: job hash, job events, owner events, payload, result, session, bytes, usage, active,
--       checkpoint
-- ARGV: new status, allowed current states (comma separated), stream maxlen, event JSON,
--       retention ttl in seconds (0 = keep), the writing run's token ('' for none: a server's
--       or a sweep's change), then field/value pairs to set on the record
--#include usage
--#include fence
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {0, 'missing'} end
if superseded(KEYS[1], ARGV[6]) then return {0, 'superseded'} end
if not string.find(',' .. ARGV[2] .. ',', ',' .. current .. ',', 1, true) then
  return {0, current}
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], unpack(ARGV, 7))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'type', 'status', 'data', ARGV[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'type', 'status', 'data', ARGV[4])
if TERMINAL[ARGV[1]] and not TERMINAL[current] then
  job_ended(KEYS[1], KEYS[2], KEYS[7], KEYS[8], KEYS[9])
end
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  for _, i in ipairs({1, 2, 4, 5, 6, 10}) do redis.call('EXPIRE', KEYS[i], ttl) end
end
return {1, ARGV[1]}
