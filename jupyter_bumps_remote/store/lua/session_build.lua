-- A request for the session file of a job whose file is built on demand ('deferred'): move
-- it to 'building' under a new build token, once, however many requests come at once. A
-- build that has not ended `stale` seconds after it started (its worker died, its message
-- was lost) is taken over by the next request: a new token, so the old build, should it
-- still come back, stores nothing (session.lua).
-- With 'release' the caller gives back the build it claimed and could not send (broker
-- away): `deferred` again, for the next request, rather than `building` until it is stale.
-- KEYS: job hash
-- ARGV: now, stale seconds, the new build's token, 'release' or ''
-- Returns {'build', token} (the caller sends the build), or {state} for a job whose file is
-- being written or built already, is ready, or failed ({'missing'}: no such job).
local state = redis.call('HGET', KEYS[1], 'session')
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
if ARGV[4] == 'release' then
  if state == 'building' and redis.call('HGET', KEYS[1], 'build_token') == ARGV[3] then
    redis.call('HSET', KEYS[1], 'session', 'deferred')
    redis.call('HDEL', KEYS[1], 'build_token')
    return {'deferred'}
  end
  return {state or 'none'}
end
if not state then return {'none'} end
local now = tonumber(ARGV[1])
if state == 'building' then
  local since = tonumber(redis.call('HGET', KEYS[1], 'build_started') or '0')
  if now - since < tonumber(ARGV[2]) then return {state} end
elseif state ~= 'deferred' then
  return {state}
end
redis.call('HSET', KEYS[1], 'session', 'building', 'build_token', ARGV[3], 'build_started', now)
redis.call('HINCRBY', KEYS[1], 'session_builds', 1)
return {'build', ARGV[3]}
