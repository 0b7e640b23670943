-- Whether a write by run `token` comes from a run that no longer holds the job: another
-- run took it over since (start.lua recorded that run's token as the record's 'run').
-- A write without a token (the server's, a sweep's) and a record without one pass.
local function superseded(job, token)
  if token == nil or token == '' then return false end
  local run = redis.call('HGET', job, 'run')
  return run ~= false and run ~= token
end
