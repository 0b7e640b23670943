/** `IJobsService` over HTTP: one method per route of openapi.yaml the sidebar uses. */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { API_PATH, requestAPI } from './request';
import {
  IFilter,
  IInfo,
  IJob,
  IJobList,
  IJobsService,
  IResult
} from './tokens';

export class JobsService implements IJobsService {
  constructor(options: JobsService.IOptions = {}) {
    this._settings = options.settings ?? ServerConnection.makeSettings();
  }

  listJobs(filter: Partial<IFilter> = {}): Promise<IJobList> {
    const query: Record<string, string> = { limit: '50' };
    if (filter.status) {
      query.status = filter.status;
    }
    if (filter.tag) {
      query.tag = filter.tag;
    }
    return this._call<IJobList>('jobs' + URLExt.objectToQueryString(query));
  }

  async getJob(id: string): Promise<IJob> {
    return this._call<IJob>(jobPath(id));
  }

  async cancel(id: string): Promise<IJob> {
    return this._call<IJob>(`${jobPath(id)}/cancel`, { method: 'POST' });
  }

  async retry(id: string): Promise<IJob> {
    return this._call<IJob>(`${jobPath(id)}/retry`, {
      method: 'POST',
      body: '{}'
    });
  }

  async remove(id: string): Promise<void> {
    return this._call<void>(jobPath(id), { method: 'DELETE' });
  }

  async result(id: string): Promise<IResult> {
    return this._call<IResult>(`${jobPath(id)}/result`);
  }

  info(): Promise<IInfo> {
    return this._call<IInfo>('info');
  }

  async sessionFile(id: string): Promise<Blob> {
    return requestAPI<Blob>(
      `${jobPath(id)}/session.h5`,
      {},
      this._settings,
      'blob'
    );
  }

  /**
   * The token goes into the URL only when JupyterLab's `appendToken` says so, as for its own
   * sockets: in the browser the page's cookie authenticates a same-origin socket, and a URL
   * with a token in it can end up in a proxy's logs.
   */
  eventsUrl(since: string, jobId?: string): string {
    const path = jobId ? `${jobPath(jobId)}/events` : 'events';
    const query: Record<string, string> = { since };
    const { appendToken, token } = this._settings;
    if (appendToken && token) {
      query.token = token;
    }
    return (
      URLExt.join(this._settings.wsUrl, API_PATH, path) +
      URLExt.objectToQueryString(query)
    );
  }

  private _call<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
    return requestAPI<T>(endPoint, init, this._settings);
  }

  private _settings: ServerConnection.ISettings;
}

const JOB_ID = /^[0-9a-f]{32}$/;

/** `jobs/<id>`, for an id shaped as the server makes them: a record's id never becomes
 * another path (`../..`) of the server. */
export function jobPath(id: string): string {
  if (!JOB_ID.test(id)) {
    throw new Error(`not a job id: ${JSON.stringify(id)}`);
  }
  return `jobs/${id}`;
}

export namespace JobsService {
  export interface IOptions {
    settings?: ServerConnection.ISettings;
  }
}
