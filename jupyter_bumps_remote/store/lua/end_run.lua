-- A fit's end in one round trip: its result (as result.lua stores it), then its last
-- progress event (as progress.lua), then its terminal state (as transition.lua), in that
-- order, each under the same conditions as those scripts alone. The pool process sends
-- them together once the fit's outcome comes (worker/pool/recorder.py).
-- KEYS: job hash, job events, owner events, payload, result, session, bytes, usage, active,
--       checkpoint
-- ARGV: new status, allowed current states (comma separated), stream maxlen, event JSON,
--       retention ttl in seconds (0 = keep), the writing run's token ('' for none), job id,
--       result summary JSON ('' for none), full progress JSON ('' for none), its compact
--       summary JSON, then field/value pairs to set on the record
--#include usage
--#include fence
local run = ARGV[6]
if ARGV[8] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 and not superseded(KEYS[1], run) then
  local before = redis.call('STRLEN', KEYS[5])
  redis.call('SET', KEYS[5], ARGV[8])
  local ttl = redis.call('TTL', KEYS[1])
  if ttl > 0 then redis.call('EXPIRE', KEYS[5], ttl) end
  add_bytes(KEYS[7], KEYS[8], ARGV[7], string.len(ARGV[8]) - before)
end
if ARGV[9] ~= '' and redis.call('HGET', KEYS[1], 'status') == 'running'
    and not superseded(KEYS[1], run) then
  redis.call('HSET', KEYS[1], 'progress', ARGV[10])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'type', 'progress', 'data', ARGV[9])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'type', 'progress', 'data', ARGV[10])
end
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {0, 'missing'} end
if superseded(KEYS[1], run) then return {0, 'superseded'} end
if not string.find(',' .. ARGV[2] .. ',', ',' .. current .. ',', 1, true) then
  return {0, current}
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], unpack(ARGV, 11))
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
