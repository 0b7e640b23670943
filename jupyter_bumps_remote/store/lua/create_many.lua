-- Create several queued jobs of one owner (a sweep: POST jobs/batch), all or none: the
-- owner's limits (store/quotas.py) are checked for them together, then each is written as
-- create.lua writes one. One script, so no other submission can take a slot in between.
-- KEYS: owner events, owner index, active, submitted, bytes, usage, the idempotency key
--       (the usage key again when there is none: ARGV[11] says), then for each job its
--       hash, payload and events
-- ARGV: number of jobs, now, stream maxlen, payload ttl (0: none), max active jobs, max
--       submissions a minute, max stored bytes (each 0: no limit), owner namespace,
--       seconds between recounts, idempotency ttl, '1' with an idempotency key; then for
--       each job: its id, its creation time (the index's order: the request's), its queued
--       event JSON, its payload, its queue and Celery message ('' and '': none), the number
--       n of its record's field/value strings, those n strings
-- Each message goes onto its queue with its record, in the request's order (the first
-- member runs first); the queue is an ARGV, as in create.lua, which says why.
-- Returns {'created'}, {'exists', id, ...} (the jobs made earlier with this idempotency
-- key), or the limit that refuses them: {'rate', count, seconds until enough slots free,
-- or -1 if never}, {'active', count}, {'bytes', stored}.
--#include usage
local n, now, namespace = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[8]
local with_key = ARGV[11] == '1'
if with_key then
  local earlier = redis.call('GET', KEYS[7])
  if earlier then
    local ids = cjson.decode(earlier)
    if redis.call('EXISTS', namespace .. 'job:' .. ids[1]) == 1 then
      return {'exists', unpack(ids)}
    end
  end
end

local jobs, at, size = {}, 12, 0
for i = 1, n do
  local count = tonumber(ARGV[at + 6])
  jobs[i] = {id = ARGV[at], created = ARGV[at + 1], event = ARGV[at + 2],
             payload = ARGV[at + 3], queue = ARGV[at + 4], message = ARGV[at + 5],
             first = at + 7, last = at + 6 + count}
  size = size + string.len(jobs[i].payload)
  at = at + 7 + count
end

redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 60)
local max_rate = tonumber(ARGV[6])
if max_rate > 0 then
  local count = redis.call('ZCARD', KEYS[4])
  if count + n > max_rate then
    if n > max_rate then return {'rate', count, '-1'} end
    -- the jobs must wait until the (count + n - max_rate) oldest submissions leave the window
    local frees = redis.call('ZRANGE', KEYS[4], count + n - max_rate - 1,
                             count + n - max_rate - 1, 'WITHSCORES')
    return {'rate', count, tostring(tonumber(frees[2]) + 60 - now)}
  end
end

local max_active = tonumber(ARGV[5])
if max_active > 0 then
  local count = redis.call('SCARD', KEYS[3])
  if count + n > max_active then return {'active', count} end
end

local max_bytes = tonumber(ARGV[7])
redis.call('HSET', KEYS[6], 'limit', max_bytes)
if max_bytes > 0 then
  local stored = stored_for(size, max_bytes, namespace, KEYS[5], KEYS[6], now, tonumber(ARGV[9]))
  if stored + size > max_bytes then return {'bytes', stored} end
end

-- every push first, then the writes: should one fail (a queue its user may not push onto),
-- no job of the request is stored (Redis keeps what a script wrote before an error)
for _, job in ipairs(jobs) do
  if job.queue ~= '' then redis.call('LPUSH', job.queue, job.message) end
end
local payload_ttl = tonumber(ARGV[4])
local ids = {}
for i, job in ipairs(jobs) do
  local k = 8 + 3 * (i - 1)
  redis.call('HSET', KEYS[k], unpack(ARGV, job.first, job.last))
  if payload_ttl > 0 then
    redis.call('SET', KEYS[k + 1], job.payload, 'EX', payload_ttl)
  else
    redis.call('SET', KEYS[k + 1], job.payload)
  end
  redis.call('ZADD', KEYS[2], job.created, job.id)  -- strings: Lua numbers lose digits
  redis.call('XADD', KEYS[k + 2], 'MAXLEN', '~', ARGV[3], '*', 'type', 'status', 'data', job.event)
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'type', 'status', 'data', job.event)
  redis.call('SADD', KEYS[3], job.id)
  redis.call('ZADD', KEYS[4], job.created, job.id)
  add_bytes(KEYS[5], KEYS[6], job.id, string.len(job.payload))
  ids[i] = job.id
end
redis.call('EXPIRE', KEYS[4], 61)
if with_key then redis.call('SET', KEYS[7], cjson.encode(ids), 'EX', ARGV[10]) end
return {'created'}
