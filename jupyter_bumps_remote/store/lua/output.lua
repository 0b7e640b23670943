-- A running job's output events (its fit's stdout and stderr), on its own stream only;
-- dropped once the job is not running, so that none follows the terminal event.
-- KEYS: job hash, job events
-- ARGV: stream maxlen, then one JSON per event
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
for i = 2, #ARGV do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'type', 'output', 'data', ARGV[i])
end
return #ARGV - 1
