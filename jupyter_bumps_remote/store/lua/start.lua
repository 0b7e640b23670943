-- A worker received the job: count the delivery, refuse it past the attempt cap, and take
-- the job's lease, which the execution keeps alive while its fit runs.
-- A running job whose lease is alive is being run right now: this delivery is a copy
-- (kombu's visibility sweep restored the message) and must not start a second fit.
-- A running job whose lease expired lost its execution; if a cancel was asked meanwhile,
-- it ends `cancelled` here and never runs again.
-- A queued job whose payload expired (payload ttl) ends `failed`, saying so. A job that
-- starts keeps its payload from then on: a redelivery after a lost worker needs it.
-- A message whose dispatch token is not the record's was not sent by the job's server (a
-- user who may push onto the queues forged it for another's job): refused, the record
-- untouched. A record without a token (made before tokens existed) takes any message.
-- KEYS: job hash, job events, owner events, payload, result, session, bytes, usage, active,
--       checkpoint, lease
-- ARGV: worker, now, max attempts, stream maxlen, running event JSON, failed event JSON,
--       error JSON for the attempt cap, retention ttl, lease token, lease ms (0: no lease),
--       cancelled event JSON, error JSON for an expired payload, its failed event JSON,
--       the message's dispatch token ('' if it has none), '1' to have the payload back
-- Returns {outcome, attempt, the record's fields after the change (HGETALL), the payload if
-- asked and the job started}: the worker needs nothing more read to run it (one round trip).
-- The events hold marks "@@record.name@@", "@@record.fitter@@" and "@@record.reason@@"
-- (store/transitions.py NAMED) where they name the job: replaced here by those fields of
-- the record, as JSON (null if absent; a cancel's reason 'cancelled' if it has none).
--#include usage
local function named(event)
  return (string.gsub(event, '"@@record%.(%a+)@@"', function(field)
    local value = redis.call('HGET', KEYS[1], field)
    if field == 'reason' and (not value or value == '') then value = 'cancelled' end
    if not value then return 'null' end
    return cjson.encode(value)
  end))
end

local function run()
  local current = redis.call('HGET', KEYS[1], 'status')
  if not current then return {'missing', 0} end
  local dispatch = redis.call('HGET', KEYS[1], 'dispatch')
  if dispatch and dispatch ~= ARGV[14] then return {'forged', 0} end
  if current ~= 'queued' and current ~= 'running' then return {'terminal', 0} end
  local attempt = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '0')
  local ttl = tonumber(ARGV[8])
  
  local function ended(status, event, ...)
    redis.call('HSET', KEYS[1], 'status', status, 'finished', ARGV[2], ...)
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'type', 'status', 'data', event)
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'type', 'status', 'data', event)
    job_ended(KEYS[1], KEYS[2], KEYS[7], KEYS[8], KEYS[9])
    if ttl > 0 then
      for _, i in ipairs({1, 2, 4, 5, 6, 10}) do redis.call('EXPIRE', KEYS[i], ttl) end
    end
  end
  
  if current == 'running' then
    if redis.call('EXISTS', KEYS[11]) == 1 then return {'leased', attempt} end
    if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then
      ended('cancelled', named(ARGV[11]))
      return {'cancelled', attempt}
    end
  elseif redis.call('EXISTS', KEYS[4]) == 0 then
    ended('failed', named(ARGV[13]), 'error', ARGV[12])
    return {'expired', attempt}
  end
  -- the record counts attempts that ran: a refused delivery leaves it at the cap
  attempt = attempt + 1
  if attempt > tonumber(ARGV[3]) then
    ended('failed', named(ARGV[6]), 'error', ARGV[7])
    return {'exhausted', attempt}
  end
  -- 'run': the token of the run that now holds the job; the run's writes carry it, and a run
  -- that was taken over (its worker cut off, then back) can no longer write (fence.lua)
  redis.call('HSET', KEYS[1], 'status', 'running', 'started', ARGV[2], 'worker', ARGV[1],
             'attempt', attempt, 'run', ARGV[9])
  redis.call('HDEL', KEYS[1], 'reason')
  redis.call('PERSIST', KEYS[4])
  if tonumber(ARGV[10]) > 0 then
    redis.call('SET', KEYS[11], ARGV[9], 'PX', ARGV[10])
  end
  local running = named(ARGV[5])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'type', 'status', 'data', running)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'type', 'status', 'data', running)
  return {'started', attempt}
end

-- A message a pool process takes off its queue itself (worker/pool/backlog.py), rather than
-- one Celery delivered: it must still be the one its queue gives next ('gone' if another
-- consumer took it), and it moves into kombu's unacked hash and index as a delivery's does,
-- so that all that finds a delivered message there finds this one (the sweep for lost runs,
-- kombu's own restore). The start below then runs as for any delivery.
-- KEYS (taken): queue, unacked hash, unacked index; ARGV: the message, its delivery tag,
-- its unacked entry (kombu's [message, exchange, routing key]), the time
if ARGV[16] then
  if redis.call('LINDEX', KEYS[12], -1) ~= ARGV[16] then return {'gone', 0} end
  redis.call('RPOP', KEYS[12])
  redis.call('HSET', KEYS[13], ARGV[17], ARGV[18])
  redis.call('ZADD', KEYS[14], ARGV[19], ARGV[17])
end

local reply = run()
if reply[1] ~= 'missing' then reply[3] = redis.call('HGETALL', KEYS[1]) end
if reply[1] == 'started' and ARGV[15] == '1' then reply[4] = redis.call('GET', KEYS[4]) end
return reply
