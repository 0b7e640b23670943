-- Create a queued job unless one of its owner's limits refuses it (store/quotas.py). The
-- checks and the writes are one step, so two concurrent submissions can never both take
-- the last slot.
-- KEYS: job hash, payload, job events, owner events, owner index, active, submitted,
--       bytes, usage, [idempotency key]
-- ARGV: job id, now, stream maxlen, queued event JSON, payload, payload ttl (0: none),
--       max active jobs, max submissions a minute, max stored bytes (each 0: no limit),
--       owner namespace, seconds between recounts, idempotency ttl, the job's queue and
--       its Celery message ('' and '': none), then field/value pairs of the record
-- The message goes onto its queue here, in the step that stores the record: no job is
-- stored without its message, nor a message sent for a job refused. The queue is an ARGV,
-- not a KEYS: a hub user's server may only LPUSH there (hub/redis_users.py), and Redis
-- refuses a script whose KEYS its user may not run the script on; each command the script
-- runs is checked against the user's rights, this LPUSH too.
-- Returns {'created'}, {'exists', id} (the job made earlier with this idempotency key), or
-- the limit that refuses it: {'rate', count, seconds until a slot frees}, {'active', count},
-- {'bytes', stored}.
--#include usage
local id, now, namespace = ARGV[1], tonumber(ARGV[2]), ARGV[10]
if KEYS[10] then
  local earlier = redis.call('GET', KEYS[10])
  if earlier and redis.call('EXISTS', namespace .. 'job:' .. earlier) == 1 then
    return {'exists', earlier}
  end
end

-- submissions in the last 60 s (a sliding window, so no burst at a minute's edge)
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - 60)
local max_rate = tonumber(ARGV[8])
if max_rate > 0 then
  local count = redis.call('ZCARD', KEYS[7])
  if count >= max_rate then
    local frees = redis.call('ZRANGE', KEYS[7], count - max_rate, count - max_rate, 'WITHSCORES')
    return {'rate', count, tostring(tonumber(frees[2]) + 60 - now)}
  end
end

local max_active = tonumber(ARGV[7])
if max_active > 0 then
  local count = redis.call('SCARD', KEYS[6])
  if count >= max_active then return {'active', count} end
end

local size = string.len(ARGV[5])
local max_bytes = tonumber(ARGV[9])
-- the limit the owner's server applies, for the session files that workers write later
redis.call('HSET', KEYS[9], 'limit', max_bytes)
if max_bytes > 0 then
  local stored = stored_for(size, max_bytes, namespace, KEYS[8], KEYS[9], now, tonumber(ARGV[11]))
  if stored + size > max_bytes then return {'bytes', stored} end
end

-- the push first, then the writes: should it fail (a queue its user may not push onto),
-- nothing of the job is stored (Redis keeps what a script wrote before an error)
if ARGV[13] ~= '' then redis.call('LPUSH', ARGV[13], ARGV[14]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 15))
local payload_ttl = tonumber(ARGV[6])
if payload_ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[5], 'EX', payload_ttl)
else
  redis.call('SET', KEYS[2], ARGV[5])
end
redis.call('ZADD', KEYS[5], ARGV[2], id)  -- the string: a Lua number would lose digits
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'type', 'status', 'data', ARGV[4])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'type', 'status', 'data', ARGV[4])
redis.call('SADD', KEYS[6], id)
redis.call('ZADD', KEYS[7], ARGV[2], id)
redis.call('EXPIRE', KEYS[7], 61)
add_bytes(KEYS[8], KEYS[9], id, size)
if KEYS[10] then redis.call('SET', KEYS[10], id, 'EX', ARGV[12]) end
return {'created'}
