-- A worker received the job: count the delivery, refuse it past the attempt cap.
-- KEYS: job hash, job events, owner events, payload, result, session
-- ARGV: worker, now, max attempts, stream maxlen, running event JSON, failed event JSON,
--       error JSON for the attempt cap, retention ttl
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {'missing', 0} end
if current ~= 'queued' and current ~= 'running' then return {'terminal', 0} end
-- the record counts attempts that ran: a refused delivery leaves it at the cap
local attempt = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '0') + 1
local event = ARGV[5]
local outcome = 'started'
if attempt > tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'status', 'failed', 'finished', ARGV[2], 'error', ARGV[7])
  event = ARGV[6]
  outcome = 'exhausted'
else
  redis.call('HSET', KEYS[1], 'status', 'running', 'started', ARGV[2], 'worker', ARGV[1],
             'attempt', attempt)
  redis.call('HDEL', KEYS[1], 'reason')
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'type', 'status', 'data', event)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'type', 'status', 'data', event)
if outcome == 'exhausted' and tonumber(ARGV[8]) > 0 then
  for _, i in ipairs({1, 2, 4, 5, 6}) do redis.call('EXPIRE', KEYS[i], ARGV[8]) end
end
return {outcome, attempt}
