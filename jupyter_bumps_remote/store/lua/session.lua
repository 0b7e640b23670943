-- Store a finished job's session file, or what a worker needs to build it later, or why
-- there is none: written after its terminal status (the summary is the result; the HDF5 file
-- follows). Nothing is stored for a job deleted meanwhile, and the file expires with the
-- record. A file that would put the owner over their stored-bytes limit (`limit` in their
-- usage hash, set by their server at each submission) is not stored: the caller records why
-- (quotas.py).
-- 'deferred' stores the fit's recipe (JSON: the point, convergence, method, options) in the
-- session key itself, counted like the file it stands for; a build replaces it with the file
-- ('ready') or says why it could not ('failed'). A build's write (`build` token given) is
-- taken only while that build holds the job's session (session_build.lua): one that a later
-- request superseded, or a message forged with another token, stores nothing.
-- KEYS: job hash, session, bytes, usage
-- ARGV: state ('ready', 'deferred' or 'failed'), session bytes or recipe (ready, deferred)
--       or the reason (failed), job id, owner namespace, now, seconds between recounts, the
--       writing run's token ('' for none), the writing build's token ('' for none)
-- Returns 1 (done), 0 (no such job, or a write refused) or {stored, limit} (over the limit:
-- nothing written).
--#include usage
--#include fence
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if superseded(KEYS[1], ARGV[7]) then return 0 end
local build = ARGV[8] or ''
if build ~= '' then
  local state, holder = unpack(redis.call('HMGET', KEYS[1], 'session', 'build_token'))
  if state ~= 'building' or holder ~= build then return 0 end
end
if ARGV[1] == 'ready' or ARGV[1] == 'deferred' then
  local size = string.len(ARGV[2]) - redis.call('STRLEN', KEYS[2])
  local limit = tonumber(redis.call('HGET', KEYS[4], 'limit') or '0')
  if limit > 0 and size > 0 then
    local stored = stored_for(size, limit, ARGV[4], KEYS[3], KEYS[4], tonumber(ARGV[5]),
                              tonumber(ARGV[6]))
    if stored + size > limit then return {stored, limit} end
  end
  redis.call('SET', KEYS[2], ARGV[2])
  local ttl = redis.call('TTL', KEYS[1])
  if ttl > 0 then redis.call('EXPIRE', KEYS[2], ttl) end
  redis.call('HSET', KEYS[1], 'session', ARGV[1])
  add_bytes(KEYS[3], KEYS[4], ARGV[3], size)
else
  -- the recipe, if any, goes: nothing can be built from it any more
  add_bytes(KEYS[3], KEYS[4], ARGV[3], -redis.call('STRLEN', KEYS[2]))
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'session', 'failed', 'session_error', ARGV[2])
end
if build ~= '' then redis.call('HDEL', KEYS[1], 'build_token') end
return 1
