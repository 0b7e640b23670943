-- Delete an ended job and everything stored with it; what it stored leaves its owner's
-- stored bytes. An active job is refused (its fit would write into nothing).
-- KEYS: job hash, payload, job events, result, session, owner index, bytes, usage, checkpoint
-- ARGV: job id
-- Returns {'deleted'}, {'missing'} or {'active', status}.
--#include usage
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if not TERMINAL[status] then return {'active', status} end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[9])
redis.call('ZREM', KEYS[6], ARGV[1])
forget_bytes(KEYS[7], KEYS[8], ARGV[1])
return {'deleted'}
