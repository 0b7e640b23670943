-- A worker received the job: count the delivery, refuse it past the attempt cap, and take
-- the job's lease, which the execution keeps alive while its fit runs.
-- A running job whose lease is alive is being run right now: this delivery is a copy
-- (kombu's visibility sweep restored the message) and must not start a second fit.
-- A running job whose lease expired lost its execution; if a cancel was asked meanwhile,
-- it ends `cancelled` here and never runs again.
-- KEYS: job hash, job events, owner events, payload, result, session, lease
-- ARGV: worker, now, max attempts, stream maxlen, running event JSON, failed event JSON,
--       error JSON for the attempt cap, retention ttl, lease token, lease ms (0: no lease),
--       cancelled event JSON
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {'missing', 0} end
if current ~= 'queued' and current ~= 'running' then return {'terminal', 0} end
local attempt = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '0')
local ttl = tonumber(ARGV[8])
if current == 'running' then
  if redis.call('EXISTS', KEYS[7]) == 1 then return {'leased', attempt} end
  if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then
    redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished', ARGV[2])
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'type', 'status', 'data', ARGV[11])
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'type', 'status', 'data', ARGV[11])
    if ttl > 0 then
      for _, i in ipairs({1, 2, 4, 5, 6}) do redis.call('EXPIRE', KEYS[i], ttl) end
    end
    return {'cancelled', attempt}
  end
end
-- the record counts attempts that ran: a refused delivery leaves it at the cap
attempt = attempt + 1
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
  if tonumber(ARGV[10]) > 0 then
    redis.call('SET', KEYS[7], ARGV[9], 'PX', ARGV[10])
  end
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'type', 'status', 'data', event)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'type', 'status', 'data', event)
if outcome == 'exhausted' and ttl > 0 then
  for _, i in ipairs({1, 2, 4, 5, 6}) do redis.call('EXPIRE', KEYS[i], ttl) end
end
return {outcome, attempt}
