/**
 * A record is data from Redis, which a tampered job could have written: every field the
 * sidebar shows (list, detail, output) reaches the page as text, never as markup.
 */
import * as React from 'react';

import { IJobActions } from '../actions';
import { JobDetail } from '../detail';
import { JobDetailModel } from '../detailModel';
import { snippet } from '../format';
import { JobRow } from '../jobRow';
import { JobsModel } from '../model';
import { JobsPanel } from '../panel';
import { IJob, Status } from '../tokens';
import { event, FakeService, job, settle } from './fakes';
import { render } from './render';

const HOSTILE = '<img src=x onerror=alert(1)>';

function hostileJob(): IJob {
  return job({
    name: HOSTILE,
    owner: HOSTILE,
    status: HOSTILE as Status,
    fitter: HOSTILE,
    worker: HOSTILE,
    queue: HOSTILE,
    tags: [HOSTILE],
    options: { [HOSTILE]: HOSTILE },
    reason: HOSTILE,
    waiting_reason: HOSTILE,
    environment: { python: HOSTILE, bumps: HOSTILE, numpy: HOSTILE },
    parameters: [{ name: HOSTILE, value: 1, bounds: [0, 2] }],
    error: { type: HOSTILE, message: HOSTILE, traceback: HOSTILE },
    has_result: true,
    progress: { step: 1, max_steps: 10, chisq: 2 }
  });
}

const actions: IJobActions = {
  copySnippet: () => undefined,
  insertSnippet: () => undefined,
  download: async () => undefined,
  report: () => undefined
};

/** No element but what React wrote, no handler attribute, and the text shown as text. */
function expectNoMarkupFrom(container: HTMLElement): void {
  expect(container.querySelector('img, script, iframe, object')).toBeNull();
  for (const element of container.querySelectorAll('*')) {
    for (const attribute of element.getAttributeNames()) {
      expect(attribute.startsWith('on')).toBe(false);
    }
  }
  expect(container.textContent).toContain(HOSTILE);
}

describe('record fields in the sidebar', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('reach a list row as text', () => {
    const row = render(
      <JobRow
        job={hostileJob()}
        now={Date.now() / 1000}
        actions={actions}
        onOpen={() => undefined}
        onCancel={() => undefined}
        onRetry={() => undefined}
        onDelete={() => undefined}
      />
    );
    expectNoMarkupFrom(row);
    // an unknown status is no class name of its own
    expect(row.querySelector('.jp-BumpsRemote-status')?.className).toBe(
      'jp-BumpsRemote-status jp-BumpsRemote-status-unknown'
    );
  });

  it('reach the detail view as text, the output included', async () => {
    const j = hostileJob();
    const service = new FakeService();
    service.add(j);
    const model = new JobDetailModel({
      service,
      job: j,
      socketFactory: service.socket
    });
    await model.start();
    service.last.open();
    service.last.send(
      event('output', { stream: 'stdout', text: HOSTILE, seq: 0 })
    );
    service.last.send(
      event('output', { stream: HOSTILE, text: HOSTILE, seq: 1 })
    );
    const detail = render(<JobDetail model={model} onBack={() => undefined} />);
    expectNoMarkupFrom(detail);
    expect(
      detail.querySelector('.jp-BumpsRemote-output pre')?.textContent
    ).toBe(HOSTILE + HOSTILE);
    model.dispose();
  });

  it('reach the panel as text', async () => {
    const service = new FakeService();
    service.add(hostileJob());
    const model = new JobsModel({ service, socketFactory: service.socket });
    await model.start();
    await settle();
    const panel = new JobsPanel({ model, service, actions });
    const shown = render(panel.render());
    expect(shown.querySelectorAll('.jp-BumpsRemote-row').length).toBe(1);
    expectNoMarkupFrom(shown);
    panel.dispose();
    model.dispose();
  });

  it('make a snippet whose id is one string literal, never code', () => {
    const j = job({ id: 'a"); import os; os.system("x' });
    expect(snippet(j)).toBe('get_job("a\\"); import os; os.system(\\"x")');
  });
});
