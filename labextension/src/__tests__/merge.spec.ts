import { applyEvent, mergeRecord, newestFirst, sinceSnapshot } from '../merge';
import { event, job } from './fakes';

describe('merge rules', () => {
  it('moves a status forward and records who runs it and when', () => {
    const j = job();
    const running = applyEvent(
      j,
      event('status', { job: j.id, status: 'running', time: 5, worker: 'w1' })
    );
    expect(running.status).toBe('running');
    expect(running.started).toBe(5);
    expect(running.worker).toBe('w1');
    const done = applyEvent(
      running,
      event('status', { job: j.id, status: 'succeeded', time: 9, chisq: 1.5 })
    );
    expect(done.status).toBe('succeeded');
    expect(done.finished).toBe(9);
    expect(done.progress?.chisq).toBe(1.5);
  });

  it('never moves a status back, nor changes a finished job', () => {
    const done = job({ status: 'cancelled' });
    expect(
      applyEvent(done, event('status', { job: done.id, status: 'running' }))
    ).toBe(done);
    expect(
      applyEvent(done, event('status', { job: done.id, status: 'succeeded' }))
    ).toBe(done);
    const running = job({ status: 'running' });
    expect(
      applyEvent(
        running,
        event('status', { job: running.id, status: 'queued' })
      )
    ).toBe(running);
  });

  it('keeps the later progress, whatever order it arrives in', () => {
    const j = job({ status: 'running' });
    const at10 = applyEvent(
      j,
      event('progress', { job: j.id, step: 10, max_steps: 100, chisq: 3 })
    );
    const stale = applyEvent(
      at10,
      event('progress', { job: j.id, step: 4, max_steps: 100, chisq: 9 })
    );
    expect(stale).toBe(at10);
    expect(stale.progress?.step).toBe(10);
  });

  it('takes a progress event as proof that a queued job runs', () => {
    const j = job();
    expect(
      applyEvent(j, event('progress', { job: j.id, step: 1 })).status
    ).toBe('running');
  });

  it('marks a cancel request on an active job only', () => {
    const j = job({ status: 'running' });
    expect(applyEvent(j, event('cancel', { job: j.id })).cancel_requested).toBe(
      true
    );
    const done = job({ status: 'failed' });
    expect(applyEvent(done, event('cancel', { job: done.id }))).toBe(done);
  });

  it('does not let a stale REST record undo a newer event', () => {
    const j = job({ status: 'running', started: 3 });
    const done = applyEvent(
      j,
      event('status', { job: j.id, status: 'succeeded', time: 8 })
    );
    const merged = mergeRecord(done, { ...j, progress: { step: 50 } });
    expect(merged.status).toBe('succeeded');
    expect(merged.finished).toBe(8);
    expect(merged.progress?.step).toBe(50);
  });

  it('orders newest first and resumes just before the snapshot', () => {
    const a = job({ created: 100 });
    const b = job({ created: 200, finished: 250 });
    expect([a, b].sort(newestFirst).map(j => j.created)).toEqual([200, 100]);
    expect(sinceSnapshot([a, b])).toBe('248000-0');
    expect(sinceSnapshot([])).toBe('0');
  });
});
