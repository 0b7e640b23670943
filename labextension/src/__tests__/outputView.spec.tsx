import * as React from 'react';

import { Backoff } from '../backoff';
import { JobDetail } from '../detail';
import { JobDetailModel } from '../detailModel';
import { TRUNCATED_NOTE } from '../outputView';
import { IJob } from '../tokens';
import { event, FakeService, job, settle } from './fakes';
import { render } from './render';

async function detailOf(j: IJob) {
  const service = new FakeService();
  service.add(j);
  const model = new JobDetailModel({
    service,
    job: j,
    socketFactory: service.socket,
    backoff: new Backoff({ base: 100, max: 1000, jitter: 0 })
  });
  await model.start();
  service.last.open();
  const view = () =>
    render(<JobDetail model={model} onBack={() => undefined} />);
  return { service, model, view };
}

describe('the output in the detail view', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('shows what the fit printed as it comes, stderr marked apart', async () => {
    const j = job({ status: 'running' });
    const { service, model, view } = await detailOf(j);
    let changes = 0;
    model.changed.connect(() => (changes += 1));
    service.last.send(
      event('output', { stream: 'stdout', text: 'iteration 1\n', seq: 0 })
    );
    expect(changes).toBe(1);
    expect(
      view().querySelector('.jp-BumpsRemote-output pre')?.textContent
    ).toBe('iteration 1\n');

    service.last.send(
      event('output', { stream: 'stderr', text: 'RuntimeWarning\n', seq: 1 })
    );
    service.last.send(
      event('output', { stream: 'stdout', text: 'iteration 2\n', seq: 2 })
    );
    const shown = view();
    const pre = shown.querySelector('.jp-BumpsRemote-output pre');
    expect(pre?.textContent).toBe('iteration 1\nRuntimeWarning\niteration 2\n');
    const stderr = shown.querySelectorAll('.jp-BumpsRemote-stderr');
    expect(stderr.length).toBe(1);
    expect(stderr[0].textContent).toBe('RuntimeWarning\n');
    expect(stderr[0].getAttribute('data-stream')).toBe('stderr');
    expect(shown.textContent).not.toContain(TRUNCATED_NOTE);
    model.dispose();
  });

  it('shows no output box for a job that printed nothing', async () => {
    const j = job({ status: 'running' });
    const { service, model, view } = await detailOf(j);
    service.last.send(
      event('progress', { job: j.id, step: 1, chisq: 2, rows: [[2]] })
    );
    service.last.send(event('status', { job: j.id, status: 'succeeded' }));
    const shown = view();
    expect(shown.querySelector('.jp-BumpsRemote-output')).toBeNull();
    expect(
      [...shown.querySelectorAll('h4')].map(h => h.textContent)
    ).not.toContain('Output');
    model.dispose();
  });

  it('says where the worker cut the output off', async () => {
    const j = job({ status: 'running' });
    const { service, model, view } = await detailOf(j);
    service.last.send(
      event('output', { stream: 'stdout', text: 'x'.repeat(8192), seq: 0 })
    );
    service.last.send(
      event('output', { stream: 'stderr', text: '', truncated: true })
    );
    const shown = view();
    expect(shown.querySelector('.jp-BumpsRemote-output pre')?.textContent).toBe(
      'x'.repeat(8192)
    );
    expect(
      shown.querySelector('.jp-BumpsRemote-output .jp-BumpsRemote-warning')
        ?.textContent
    ).toBe(TRUNCATED_NOTE);
    model.dispose();
  });

  it('gets the whole output again after a reconnection, without a chunk twice', async () => {
    const j = job({ status: 'running' });
    const { service, model } = await detailOf(j);
    const first = event('output', { stream: 'stdout', text: 'a\n', seq: 0 });
    service.last.send(first);
    service.last.drop();
    jest.advanceTimersByTime(100);
    await settle();
    expect(service.last.url).toBe(
      `ws://test/jobs/${j.id}/events?since=${first.id}`
    );
    service.last.open();
    service.last.send(
      event('output', { stream: 'stdout', text: 'b\n', seq: 1 })
    );
    expect(model.output.chunks).toEqual([{ stream: 'stdout', text: 'a\nb\n' }]);
    model.dispose();
  });
});
