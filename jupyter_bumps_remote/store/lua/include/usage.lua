-- What an owner stores and runs, for the per-owner limits (store/quotas.py); included by
-- the scripts that change it. `bytes` (hash) holds what each job stores: its payload,
-- result and session file, and its event stream once it ended. `usage` (hash) holds their
-- sum, `stored`, so that a check costs O(1). `active` (set) holds the queued and running
-- jobs. Expiry removes a job's keys without telling anyone: only a recount sees it.

local TERMINAL = {succeeded = true, failed = true, cancelled = true}

local function add_bytes(bytes_key, usage_key, id, delta)
  if delta == 0 then return end
  redis.call('HINCRBY', bytes_key, id, delta)
  redis.call('HINCRBY', usage_key, 'stored', delta)
end

-- A job was deleted: what it stored leaves the owner's total.
local function forget_bytes(bytes_key, usage_key, id)
  local counted = tonumber(redis.call('HGET', bytes_key, id) or '0')
  redis.call('HDEL', bytes_key, id)
  if counted ~= 0 then redis.call('HINCRBY', usage_key, 'stored', -counted) end
end

-- A job reached a terminal state: it is no longer active, and its event stream is whole
-- (counted as Redis' MEMORY USAGE reports it; nothing is added to it afterwards).
local function job_ended(job_key, events_key, bytes_key, usage_key, active_key)
  local id = redis.call('HGET', job_key, 'id')
  if not id then return end
  redis.call('SREM', active_key, id)
  add_bytes(bytes_key, usage_key, id, redis.call('MEMORY', 'USAGE', events_key) or 0)
end

-- The total after dropping the jobs whose record expired (namespace: the owner's key
-- prefix; a record is namespace .. 'job:' .. id, as store/keys.py names it).
local function recount(namespace, bytes_key, usage_key, now)
  local total = 0
  local counted = redis.call('HGETALL', bytes_key)
  for i = 1, #counted, 2 do
    if redis.call('EXISTS', namespace .. 'job:' .. counted[i]) == 1 then
      total = total + tonumber(counted[i + 1])
    else
      redis.call('HDEL', bytes_key, counted[i])
    end
  end
  redis.call('HSET', usage_key, 'stored', total, 'recounted', now)
  return total
end

-- The owner's stored bytes, as they bear on writing `size` more under `limit`: the
-- running total, or when that says no, the total recounted. A recount reads every job the
-- owner has, so it runs at most once every `every` seconds.
local function stored_for(size, limit, namespace, bytes_key, usage_key, now, every)
  local stored = tonumber(redis.call('HGET', usage_key, 'stored') or '0')
  if stored + size <= limit then return stored end
  local last = tonumber(redis.call('HGET', usage_key, 'recounted') or '0')
  if now - last < every then return stored end
  return recount(namespace, bytes_key, usage_key, now)
end
