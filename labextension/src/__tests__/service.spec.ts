import { ServerConnection } from '@jupyterlab/services';

import { JobsService } from '../service';

const ID = 'ab'.repeat(16);

function serviceWith(options: Partial<ServerConnection.ISettings>) {
  return new JobsService({
    settings: ServerConnection.makeSettings({
      baseUrl: 'http://lab.example/user/me/',
      wsUrl: 'ws://lab.example/user/me/',
      token: 'secret-token',
      ...options
    })
  });
}

describe('the events socket URL', () => {
  it('carries no token when JupyterLab does not append it (the browser, same origin)', () => {
    const service = serviceWith({ appendToken: false });
    expect(service.eventsUrl('0')).toBe(
      'ws://lab.example/user/me/bumps-remote/api/events?since=0'
    );
    expect(service.eventsUrl('5-0', ID)).toBe(
      `ws://lab.example/user/me/bumps-remote/api/jobs/${ID}/events?since=5-0`
    );
  });

  it('carries the token when JupyterLab appends it to its own sockets', () => {
    const service = serviceWith({ appendToken: true });
    expect(service.eventsUrl('0')).toBe(
      'ws://lab.example/user/me/bumps-remote/api/events?since=0&token=secret-token'
    );
    expect(service.eventsUrl('5-0', ID)).toBe(
      `ws://lab.example/user/me/bumps-remote/api/jobs/${ID}/events?since=5-0&token=secret-token`
    );
  });

  it('carries no empty token', () => {
    const service = serviceWith({ appendToken: true, token: '' });
    expect(service.eventsUrl('0')).not.toContain('token');
  });
});

describe('job paths', () => {
  it('refuse an id the server would not have made, before any request', async () => {
    const fetch = jest.fn();
    const service = serviceWith({ fetch });
    await expect(service.remove('../../api/contents/notes')).rejects.toThrow(
      'not a job id: "../../api/contents/notes"'
    );
    expect(() => service.eventsUrl('0', '../kernels')).toThrow('not a job id');
    expect(fetch).not.toHaveBeenCalled();
  });
});
