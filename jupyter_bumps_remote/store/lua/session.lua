-- Store a finished job's session file, written after its terminal status (the summary is
-- the result; the HDF5 file follows). Nothing is stored for a job deleted meanwhile, and
-- the file expires with the record. A file that would put the owner over their stored-bytes
-- limit (`limit` in their usage hash, set by their server at each submission) is not
-- stored: the caller records why (quotas.py).
-- KEYS: job hash, session, bytes, usage
-- ARGV: state ('ready' or 'failed'), session bytes (ready) or the reason (failed), job id,
--       owner namespace, now, seconds between recounts, the writing run's token ('' for none)
-- Returns 1 (done), 0 (no such job) or {stored, limit} (over the limit: nothing written).
--#include usage
--#include fence
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if superseded(KEYS[1], ARGV[7]) then return 0 end
if ARGV[1] == 'ready' then
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
  redis.call('HSET', KEYS[1], 'session', 'ready')
  add_bytes(KEYS[3], KEYS[4], ARGV[3], size)
else
  redis.call('HSET', KEYS[1], 'session', 'failed', 'session_error', ARGV[2])
end
return 1
