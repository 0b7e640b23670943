import { Backoff } from '../backoff';
import { JobsModel } from '../model';
import { IJob } from '../tokens';
import { event, FakeService, job, settle } from './fakes';

function setup(...jobs: IJob[]) {
  const service = new FakeService();
  service.add(...jobs);
  const model = new JobsModel({
    service,
    socketFactory: service.socket,
    backoff: new Backoff({ base: 100, max: 1000, jitter: 0 })
  });
  return { service, model };
}

describe('JobsModel', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('loads the first page newest first, then listens after it', async () => {
    const old = job({
      name: 'old',
      created: 100,
      status: 'succeeded',
      finished: 120
    });
    const fresh = job({ name: 'fresh', created: 200 });
    const { service, model } = setup(old, fresh);
    await model.start();
    expect(model.jobs.map(j => j.name)).toEqual(['fresh', 'old']);
    expect(service.last.url).toBe('ws://test/events?since=198000-0');
    expect(model.connection).toBe('connecting');
    service.last.open();
    expect(model.connection).toBe('connected');
  });

  it('merges live events into the rows and signals each change', async () => {
    const j = job({ name: 'a' });
    const { service, model } = setup(j);
    await model.start();
    service.last.open();
    let changes = 0;
    model.changed.connect(() => (changes += 1));
    service.last.send(
      event('status', { job: j.id, status: 'running', worker: 'w', time: 1 })
    );
    service.last.send(
      event('progress', { job: j.id, step: 5, max_steps: 10, chisq: 2 })
    );
    expect(model.get(j.id)).toMatchObject({ status: 'running', worker: 'w' });
    expect(model.get(j.id)?.progress).toMatchObject({ step: 5, chisq: 2 });
    expect(changes).toBe(2);
  });

  it('fetches a job it has not seen once, applies what came meanwhile, drops deleted ones', async () => {
    const { service, model } = setup();
    await model.start();
    const other = job({ name: 'from another tab' });
    service.add(other);
    service.last.send(event('status', { job: other.id, status: 'queued' }));
    service.last.send(
      event('status', { job: other.id, status: 'running', time: 2 })
    );
    const gone = job();
    service.last.send(event('status', { job: gone.id, status: 'succeeded' }));
    service.last.send(event('progress', { job: gone.id, step: 3 }));
    await settle();
    expect(model.get(other.id)?.status).toBe('running');
    expect(model.get(gone.id)).toBeUndefined();
    expect(service.getCalls).toEqual([other.id, gone.id]);
  });

  it('reconnects with backoff after the server goes away, resuming after the last event', async () => {
    const j = job({ status: 'running' });
    const { service, model } = setup(j);
    await model.start();
    service.last.open();
    const seen = event('progress', { job: j.id, step: 1 });
    service.last.send(seen);

    service.down = true;
    service.last.drop();
    expect(model.connection).toBe('disconnected');
    jest.advanceTimersByTime(100); // first retry: REST refused
    await settle();
    expect(service.listCalls).toBe(2);
    expect(model.connection).toBe('disconnected');
    jest.advanceTimersByTime(150); // the second waits twice as long
    await settle();
    expect(service.listCalls).toBe(2);
    service.down = false;
    // meanwhile the job finished: the refreshed snapshot says so
    service.add({ ...j, status: 'succeeded', finished: j.created + 9 });
    jest.advanceTimersByTime(50);
    await settle();
    expect(service.listCalls).toBe(3);
    expect(service.last.url).toBe(`ws://test/events?since=${seen.id}`);
    service.last.open();
    expect(model.connection).toBe('connected');
    expect(model.get(j.id)?.status).toBe('succeeded');
  });

  it('resets the backoff once connected', async () => {
    const { service, model } = setup();
    await model.start();
    for (let i = 0; i < 3; i++) {
      service.last.drop();
      jest.advanceTimersByTime(1000);
      await settle();
    }
    service.last.open();
    const count = service.sockets.length;
    service.last.drop();
    jest.advanceTimersByTime(100);
    await settle();
    expect(service.sockets.length).toBe(count + 1);
  });

  it('announces a finish once, and not for jobs already finished at load', async () => {
    const running = job({ status: 'running' });
    const finished = job({ status: 'succeeded' });
    const { service, model } = setup(running, finished);
    const announced: string[] = [];
    model.finished.connect((_, j) => announced.push(`${j.id}:${j.status}`));
    await model.start();
    service.last.open();
    const done = event('status', {
      job: running.id,
      status: 'failed',
      error: { type: 'X', message: 'boom' }
    });
    service.last.send(done);
    service.last.send(done);
    expect(announced).toEqual([`${running.id}:failed`]);
    expect(model.get(running.id)?.error?.message).toBe('boom');
  });

  it('filters by status and tag, and deletes for good', async () => {
    const a = job({ status: 'succeeded', tags: ['sweep'] });
    const b = job({ status: 'running' });
    const { service, model } = setup(a, b);
    await model.start();
    model.filter = { status: 'succeeded', tag: '' };
    expect(model.jobs.map(j => j.id)).toEqual([a.id]);
    model.filter = { status: '', tag: 'sweep' };
    expect(model.jobs.map(j => j.id)).toEqual([a.id]);
    expect(model.tags).toEqual(['sweep']);
    model.filter = { status: '', tag: '' };
    await model.remove(a.id);
    service.last.send(event('status', { job: a.id, status: 'succeeded' }));
    await settle();
    expect(model.get(a.id)).toBeUndefined();
    expect(model.jobs.map(j => j.id)).toEqual([b.id]);
  });

  it('stops reconnecting once disposed', async () => {
    const { service, model } = setup();
    await model.start();
    model.dispose();
    jest.advanceTimersByTime(10000);
    await settle();
    expect(service.sockets.length).toBe(1);
  });
});
