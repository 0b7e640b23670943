/** Reconnect delays: quick at first, then capped, with jitter so tabs do not stampede. */
export class Backoff {
  constructor(options: Backoff.IOptions = {}) {
    this._base = options.base ?? 500;
    this._max = options.max ?? 10000;
    this._jitter = options.jitter ?? 0.2;
  }

  /** The delay before the next attempt (ms); each call doubles the next one. */
  next(): number {
    const delay = Math.min(this._max, this._base * 2 ** this._attempt);
    this._attempt += 1;
    return Math.round(delay * (1 + this._jitter * (Math.random() * 2 - 1)));
  }

  reset(): void {
    this._attempt = 0;
  }

  get attempt(): number {
    return this._attempt;
  }

  private _attempt = 0;
  private _base: number;
  private _max: number;
  private _jitter: number;
}

export namespace Backoff {
  export interface IOptions {
    base?: number;
    max?: number;
    jitter?: number;
  }
}
