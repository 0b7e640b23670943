-- A draining worker gives back a running job (SIGTERM, the end of its --lifetime): the
-- run holding the lease lets it go, and the attempt it used does not count (the job did
-- not fail). The record stays `running` with no lease, so the next delivery takes it over
-- at once (start.lua), and should the message never be requeued (the worker killed before
-- it rejects it), the sweep for lost runs finds it as it finds any lost run. A `requeued`
-- event on the job's stream says why.
-- KEYS: job hash, job events, lease
-- ARGV: lease token, stream maxlen, event JSON
-- Returns 1 (given back) or 0 (not this run's job).
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[3])
local attempt = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '1')
redis.call('HSET', KEYS[1], 'attempt', math.max(attempt - 1, 0))
redis.call('HINCRBY', KEYS[1], 'drained', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'type', 'requeued', 'data', ARGV[3])
return 1
