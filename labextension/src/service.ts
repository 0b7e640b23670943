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

  getJob(id: string): Promise<IJob> {
    return this._call<IJob>(`jobs/${id}`);
  }

  cancel(id: string): Promise<IJob> {
    return this._call<IJob>(`jobs/${id}/cancel`, { method: 'POST' });
  }

  retry(id: string): Promise<IJob> {
    return this._call<IJob>(`jobs/${id}/retry`, {
      method: 'POST',
      body: '{}'
    });
  }

  remove(id: string): Promise<void> {
    return this._call<void>(`jobs/${id}`, { method: 'DELETE' });
  }

  result(id: string): Promise<IResult> {
    return this._call<IResult>(`jobs/${id}/result`);
  }

  info(): Promise<IInfo> {
    return this._call<IInfo>('info');
  }

  sessionFile(id: string): Promise<Blob> {
    return requestAPI<Blob>(
      `jobs/${id}/session.h5`,
      {},
      this._settings,
      'blob'
    );
  }

  eventsUrl(since: string, jobId?: string): string {
    const path = jobId ? `jobs/${jobId}/events` : 'events';
    const query: Record<string, string> = { since };
    if (this._settings.token) {
      query.token = this._settings.token;
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

export namespace JobsService {
  export interface IOptions {
    settings?: ServerConnection.ISettings;
  }
}
