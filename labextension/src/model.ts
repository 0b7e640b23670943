/**
 * The live job list: a REST snapshot, then the owner events WebSocket (an `EventStream`, which
 * reconnects by itself with backoff; each attempt refreshes the snapshot first, and resumes
 * after the last event seen).
 */
import { ISignal, Signal } from '@lumino/signaling';

import { Backoff } from './backoff';
import { EventStream } from './eventStream';
import {
  applyEvent,
  isTerminal,
  mergeRecord,
  newestFirst,
  sinceSnapshot
} from './merge';
import {
  ConnectionState,
  IEvent,
  IFilter,
  IJob,
  IJobsModel,
  IJobsService,
  SocketFactory
} from './tokens';

export class JobsModel implements IJobsModel {
  constructor(options: JobsModel.IOptions) {
    this._service = options.service;
    this._stream = new EventStream({
      url: since => this._service.eventsUrl(since),
      onEvent: event => this._onEvent(event),
      prepare: () => this._refresh(),
      socketFactory: options.socketFactory,
      backoff: options.backoff
    });
    this._stream.connectionChanged.connect((_, state) => {
      this._connectionChanged.emit(state);
      this._changed.emit();
    });
  }

  /** The jobs that pass the filter, newest first. */
  get jobs(): IJob[] {
    const { status, tag } = this._filter;
    return [...this._jobs.values()]
      .filter(
        j => (!status || j.status === status) && (!tag || j.tags.includes(tag))
      )
      .sort(newestFirst);
  }

  /** Every tag seen, for the filter's choices. */
  get tags(): string[] {
    const tags = new Set<string>();
    this._jobs.forEach(j => j.tags.forEach(t => tags.add(t)));
    return [...tags].sort();
  }

  get filter(): IFilter {
    return this._filter;
  }

  set filter(filter: IFilter) {
    this._filter = { ...filter };
    this._changed.emit();
    // jobs beyond the first page that match: fetch them too
    this._service
      .listJobs(filter)
      .then(list => this._mergeAll(list.jobs))
      .catch(() => undefined);
  }

  get connection(): ConnectionState {
    return this._stream.connection;
  }

  /** The last error that kept us from the server (for the "disconnected" line). */
  get lastError(): string {
    return this._stream.lastError;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** A job seen active went to a final state (once per job). */
  get finished(): ISignal<this, IJob> {
    return this._finished;
  }

  get connectionChanged(): ISignal<this, ConnectionState> {
    return this._connectionChanged;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  get(id: string): IJob | undefined {
    return this._jobs.get(id);
  }

  /** Load the first page and listen; returns once the first attempt is done. */
  async start(): Promise<void> {
    await this._stream.start();
  }

  async cancel(id: string): Promise<void> {
    this._merge(await this._service.cancel(id));
  }

  async retry(id: string): Promise<IJob> {
    const job = await this._service.retry(id);
    this._merge(job);
    return job;
  }

  async remove(id: string): Promise<void> {
    await this._service.remove(id);
    this._gone.add(id);
    if (this._jobs.delete(id)) {
      this._changed.emit();
    }
  }

  /** Close the socket now and reconnect (as after a lost connection). */
  reconnect(): void {
    this._stream.reconnect();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._stream.dispose();
    Signal.clearData(this);
  }

  /** Before each connection: the first page again (what changed while we were away), and
   * where the events begin if none has been seen yet. */
  private async _refresh(): Promise<string> {
    const list = await this._service.listJobs(this._filter);
    this._mergeAll(list.jobs);
    return sinceSnapshot(list.jobs);
  }

  private _onEvent(event: IEvent): void {
    const id = event.data?.job as string | undefined;
    if (!id || this._gone.has(id)) {
      return;
    }
    const job = this._jobs.get(id);
    if (!job) {
      this._fetchUnknown(id, event);
      return;
    }
    const next = applyEvent(job, event);
    if (next !== job) {
      this._jobs.set(id, next);
      this._noticeFinish(job, next);
      this._changed.emit();
    }
  }

  /** An event for a job we have no record of (older than the first page, or new from
   * another tab): fetch it once, then apply what arrived meanwhile; 404 means deleted. */
  private _fetchUnknown(id: string, event: IEvent): void {
    const waiting = this._pending.get(id);
    if (waiting) {
      waiting.push(event);
      return;
    }
    this._pending.set(id, [event]);
    this._service
      .getJob(id)
      .then(record => {
        const events = this._pending.get(id) ?? [];
        this._pending.delete(id);
        if (this._gone.has(id) || this._disposed) {
          return;
        }
        let job = mergeRecord(this._jobs.get(id), record);
        for (const e of events) {
          job = applyEvent(job, e);
        }
        this._jobs.set(id, job);
        this._changed.emit();
      })
      .catch(() => {
        this._pending.delete(id);
        this._gone.add(id);
      });
  }

  private _mergeAll(records: IJob[]): void {
    for (const record of records) {
      this._merge(record, false);
    }
    this._changed.emit();
  }

  private _merge(record: IJob, emit = true): void {
    if (this._gone.has(record.id)) {
      return;
    }
    const old = this._jobs.get(record.id);
    const next = mergeRecord(old, record);
    this._jobs.set(record.id, next);
    if (old) {
      this._noticeFinish(old, next);
    }
    if (emit) {
      this._changed.emit();
    }
  }

  private _noticeFinish(before: IJob, after: IJob): void {
    if (!isTerminal(before.status) && isTerminal(after.status)) {
      if (!this._notified.has(after.id)) {
        this._notified.add(after.id);
        this._finished.emit(after);
      }
    }
  }

  private _service: IJobsService;
  private _stream: EventStream;
  private _jobs = new Map<string, IJob>();
  private _gone = new Set<string>();
  private _notified = new Set<string>();
  private _pending = new Map<string, IEvent[]>();
  private _filter: IFilter = { status: '', tag: '' };
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
  private _finished = new Signal<this, IJob>(this);
  private _connectionChanged = new Signal<this, ConnectionState>(this);
}

export namespace JobsModel {
  export interface IOptions {
    service: IJobsService;
    /** How to open a WebSocket (tests pass a fake). */
    socketFactory?: SocketFactory;
    backoff?: Backoff;
  }
}
