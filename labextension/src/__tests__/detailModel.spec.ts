import { Backoff } from '../backoff';
import { JobDetailModel } from '../detailModel';
import { IJob } from '../tokens';
import { event, FakeService, job, settle } from './fakes';

function setup(j: IJob) {
  const service = new FakeService();
  service.add(j);
  const model = new JobDetailModel({
    service,
    job: j,
    socketFactory: service.socket,
    backoff: new Backoff({ base: 100, max: 1000, jitter: 0 })
  });
  return { service, model };
}

function progress(id: string, step: number) {
  return event('progress', {
    job: id,
    step,
    chisq: 10 / step,
    rows: [[10 / step]]
  });
}

describe('JobDetailModel', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('replays the job from its first event', async () => {
    const j = job({ status: 'running' });
    const { service, model } = setup(j);
    await model.start();
    expect(service.last.url).toBe(`ws://test/jobs/${j.id}/events?since=0`);
    service.last.open();
    service.last.send(progress(j.id, 1));
    service.last.send(progress(j.id, 2));
    expect(model.convergence.best).toEqual([10, 5]);
    expect(model.job.progress?.step).toBe(2);
  });

  it('reconnects with backoff after the server goes away, resuming after the last event', async () => {
    const j = job({ status: 'running' });
    const { service, model } = setup(j);
    await model.start();
    service.last.open();
    service.last.send(progress(j.id, 1));
    const seen = progress(j.id, 2);
    service.last.send(seen);

    service.last.drop(); // the server restarts
    expect(model.connection).toBe('disconnected');
    jest.advanceTimersByTime(100);
    await settle();
    expect(service.sockets.length).toBe(2);
    service.last.drop(); // still down: the handshake fails
    jest.advanceTimersByTime(150); // the second retry waits twice as long
    await settle();
    expect(service.sockets.length).toBe(2);
    jest.advanceTimersByTime(50);
    await settle();
    expect(service.sockets.length).toBe(3);
    expect(service.last.url).toBe(
      `ws://test/jobs/${j.id}/events?since=${seen.id}`
    );
    service.last.open();
    expect(model.connection).toBe('connected');

    // the server replays what came after `since`: the plot goes on, no row twice
    let changes = 0;
    model.changed.connect(() => (changes += 1));
    service.last.send(progress(j.id, 3));
    expect(model.convergence.best).toEqual([10, 5, 10 / 3]);
    expect(changes).toBe(1);
    service.last.send(
      event('status', { job: j.id, status: 'cancelled', reason: 'by user' })
    );
    expect(model.job.status).toBe('cancelled');
  });

  it('resumes after the last event on each reconnection, not the first', async () => {
    const j = job({ status: 'running' });
    const { service, model } = setup(j);
    await model.start();
    for (let step = 1; step <= 3; step++) {
      service.last.open();
      const e = progress(j.id, step);
      service.last.send(e);
      service.last.drop();
      jest.advanceTimersByTime(100);
      await settle();
      expect(service.last.url).toBe(
        `ws://test/jobs/${j.id}/events?since=${e.id}`
      );
    }
    expect(model.convergence.best).toEqual([10, 5, 10 / 3]);
  });

  it('stops listening once disposed', async () => {
    const j = job({ status: 'running' });
    const { service, model } = setup(j);
    await model.start();
    const socket = service.last;
    socket.open();
    model.dispose();
    expect(socket.closed).toBe(true);
    jest.advanceTimersByTime(10000);
    await settle();
    expect(service.sockets.length).toBe(1);
  });

  it('opens no socket when disposed before its record arrived', async () => {
    const j = job({ status: 'running' });
    const { service, model } = setup(j);
    const started = model.start();
    model.dispose();
    await started;
    expect(service.sockets.length).toBe(0);
  });
});
