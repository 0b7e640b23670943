-- Cancel: a queued job ends at once (it will never start); a running job is flagged so
-- that its fit stops itself and keeps its best point; a finished job is refused.
-- KEYS: job hash, job events, owner events, payload, result, session, bytes, usage, active,
--       checkpoint
-- ARGV: stream maxlen, cancelled event JSON, cancel-requested event JSON, reason, now, ttl
--#include usage
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {0, 'missing'} end
if current == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished', ARGV[5], 'reason', ARGV[4],
             'cancel_requested', '1')
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'type', 'status', 'data', ARGV[2])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'type', 'status', 'data', ARGV[2])
  job_ended(KEYS[1], KEYS[2], KEYS[7], KEYS[8], KEYS[9])
  local ttl = tonumber(ARGV[6])
  if ttl > 0 then
    for _, i in ipairs({1, 2, 4, 5, 6, 10}) do redis.call('EXPIRE', KEYS[i], ttl) end
  end
  return {1, 'cancelled'}
elseif current == 'running' then
  redis.call('HSET', KEYS[1], 'cancel_requested', '1', 'reason', ARGV[4])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'type', 'cancel', 'data', ARGV[3])
  return {1, 'running'}
end
return {0, current}
