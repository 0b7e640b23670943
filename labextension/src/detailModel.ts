/**
 * One job in detail: its record, its events (replayed from the start, for the convergence
 * plot and the fit's output) and, once it has one, its result. Listens until disposed through an `EventStream`,
 * which reconnects after a server restart and resumes after the last event seen, so the
 * plot neither misses nor repeats a row.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { Backoff } from './backoff';
import { addRows, emptyConvergence, IConvergence } from './convergence';
import { EventStream } from './eventStream';
import { applyEvent, isTerminal } from './merge';
import { addOutput, emptyOutput } from './output';
import {
  ConnectionState,
  IEvent,
  IJob,
  IJobsService,
  IOutput,
  IResult,
  SocketFactory
} from './tokens';

export class JobDetailModel {
  constructor(options: JobDetailModel.IOptions) {
    this._service = options.service;
    this._job = options.job;
    this._stream = new EventStream({
      url: since => this._service.eventsUrl(since, this._job.id),
      onEvent: event => this._onEvent(event),
      since: '0',
      socketFactory: options.socketFactory,
      backoff: options.backoff
    });
  }

  get job(): IJob {
    return this._job;
  }

  get convergence(): IConvergence {
    return this._convergence;
  }

  /** What the fit printed so far (stdout and stderr, in order). */
  get output(): IOutput {
    return this._output;
  }

  get result(): IResult | null {
    return this._result;
  }

  get error(): string {
    return this._error;
  }

  /** The state of this view's events connection. */
  get connection(): ConnectionState {
    return this._stream.connection;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  async start(): Promise<void> {
    try {
      this._job = await this._service.getJob(this._job.id);
    } catch (e) {
      this._error = String((e as Error).message ?? e);
    }
    this._changed.emit();
    await this._stream.start();
    if (isTerminal(this._job.status)) {
      void this._loadResult();
    }
  }

  dispose(): void {
    this._disposed = true;
    this._stream.dispose();
    Signal.clearData(this);
  }

  private _onEvent(event: IEvent): void {
    const before = this._job;
    this._convergence = addRows(this._convergence, event);
    this._output = addOutput(this._output, event);
    this._job = applyEvent(this._job, event);
    if (!isTerminal(before.status) && isTerminal(this._job.status)) {
      // the record now has finished time, error and has_result
      this._service
        .getJob(this._job.id)
        .then(job => {
          this._job = job;
          this._changed.emit();
          return this._loadResult();
        })
        .catch(() => undefined);
    }
    if (!this._disposed) {
      this._changed.emit();
    }
  }

  private async _loadResult(): Promise<void> {
    if (!this._job.has_result || this._result) {
      return;
    }
    try {
      this._result = await this._service.result(this._job.id);
    } catch (e) {
      this._error = String((e as Error).message ?? e);
    }
    if (!this._disposed) {
      this._changed.emit();
    }
  }

  private _service: IJobsService;
  private _stream: EventStream;
  private _job: IJob;
  private _convergence = emptyConvergence();
  private _output = emptyOutput();
  private _result: IResult | null = null;
  private _error = '';
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
}

export namespace JobDetailModel {
  export interface IOptions {
    service: IJobsService;
    job: IJob;
    /** How to open a WebSocket (tests pass a fake). */
    socketFactory?: SocketFactory;
    backoff?: Backoff;
  }
}
