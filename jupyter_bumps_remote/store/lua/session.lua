-- Store a finished job's session file, written after its terminal status (the summary is
-- the result; the HDF5 file follows). Nothing is stored for a job deleted meanwhile, and
-- the file expires with the record.
-- KEYS: job hash, session
-- ARGV: state ('ready' or 'failed'), session bytes (ready) or the reason (failed)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == 'ready' then
  redis.call('SET', KEYS[2], ARGV[2])
  local ttl = redis.call('TTL', KEYS[1])
  if ttl > 0 then redis.call('EXPIRE', KEYS[2], ttl) end
  redis.call('HSET', KEYS[1], 'session', 'ready')
else
  redis.call('HSET', KEYS[1], 'session', 'failed', 'session_error', ARGV[2])
end
return 1
