/**
 * One events WebSocket that stays open: when it closes (server restart, network) it reconnects
 * by itself with backoff and resumes after the last event it delivered (`?since=<id>`), which
 * the server answers with exactly the events missed: no gap, no duplicate. Both sidebar
 * models (the job list and one job's detail) listen through it.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { Backoff } from './backoff';
import { ConnectionState, IEvent, ISocket, SocketFactory } from './tokens';

export class EventStream {
  constructor(options: EventStream.IOptions) {
    this._url = options.url;
    this._onEvent = options.onEvent;
    this._prepare = options.prepare;
    this._since = options.since ?? '';
    this._socketFactory =
      options.socketFactory ?? (url => new WebSocket(url) as ISocket);
    this._backoff = options.backoff ?? new Backoff();
  }

  /** 'connecting' until the first socket opens, then 'connected' or 'disconnected'. */
  get connection(): ConnectionState {
    return this._connection;
  }

  get connectionChanged(): ISignal<this, ConnectionState> {
    return this._connectionChanged;
  }

  /** Why the last attempt failed or the socket closed (for the "disconnected" line). */
  get lastError(): string {
    return this._lastError;
  }

  /** The id the next connection resumes after: the last event delivered. */
  get since(): string {
    return this._since;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Connect; resolves once the first attempt is done (failed attempts are retried). */
  start(): Promise<void> {
    return this._connect();
  }

  /** Close the socket now and reconnect, as after a lost connection. */
  reconnect(): void {
    this._socket?.close();
  }

  /** Close for good: no reconnection, no more events. */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    clearTimeout(this._timer);
    const socket = this._socket;
    this._socket = null;
    socket?.close();
    Signal.clearData(this);
  }

  private async _connect(): Promise<void> {
    if (this._disposed) {
      return;
    }
    this._setConnection(this._everConnected ? 'disconnected' : 'connecting');
    if (this._prepare) {
      try {
        const since = await this._prepare();
        // resume after the events seen; the owner's first snapshot says where to begin
        if (!this._since && since) {
          this._since = since;
        }
      } catch (error) {
        this._lastError = String((error as Error)?.message ?? error);
        this._setConnection('disconnected');
        this._scheduleReconnect();
        return;
      }
    }
    if (this._disposed) {
      return;
    }
    let socket: ISocket;
    try {
      socket = this._socketFactory(this._url(this._since || '0'));
    } catch (error) {
      // a URL the browser refuses: said on the "disconnected" line, tried again later
      this._lastError = String((error as Error)?.message ?? error);
      this._setConnection('disconnected');
      this._scheduleReconnect();
      return;
    }
    this._socket = socket;
    socket.onopen = () => {
      if (this._socket !== socket) {
        return;
      }
      this._everConnected = true;
      this._backoff.reset();
      this._setConnection('connected');
    };
    socket.onmessage = msg => {
      if (this._socket !== socket) {
        return; // a socket we have let go of (disposed) delivers nothing more
      }
      const event: IEvent = JSON.parse(String(msg.data));
      this._since = event.id;
      this._onEvent(event);
    };
    socket.onerror = () => undefined; // onclose follows and reconnects
    socket.onclose = () => {
      if (this._socket !== socket) {
        return;
      }
      this._socket = null;
      this._lastError = 'the events connection closed';
      this._setConnection('disconnected');
      this._scheduleReconnect();
    };
  }

  private _scheduleReconnect(): void {
    if (this._disposed) {
      return;
    }
    clearTimeout(this._timer);
    this._timer = setTimeout(() => void this._connect(), this._backoff.next());
  }

  private _setConnection(state: ConnectionState): void {
    if (state !== this._connection) {
      this._connection = state;
      this._connectionChanged.emit(state);
    }
  }

  private _url: (since: string) => string;
  private _onEvent: (event: IEvent) => void;
  private _prepare: (() => Promise<string | void>) | undefined;
  private _socketFactory: SocketFactory;
  private _backoff: Backoff;
  private _socket: ISocket | null = null;
  private _timer: any = undefined;
  private _since: string;
  private _connection: ConnectionState = 'connecting';
  private _everConnected = false;
  private _lastError = '';
  private _disposed = false;
  private _connectionChanged = new Signal<this, ConnectionState>(this);
}

export namespace EventStream {
  export interface IOptions {
    /** The WebSocket URL that replays the events after `since` ('0': from the start). */
    url(since: string): string;
    /** Each event, in stream order, once. */
    onEvent(event: IEvent): void;
    /**
     * Before each attempt (e.g. refresh a REST snapshot). A rejection counts as a failed
     * attempt, retried with backoff. A resolved id is where to begin while no event has
     * been seen.
     */
    prepare?(): Promise<string | void>;
    /** Where to begin: an event id, or '0' for the stream's start (the default). */
    since?: string;
    /** How to open a WebSocket (tests pass a fake). */
    socketFactory?: SocketFactory;
    backoff?: Backoff;
  }
}
