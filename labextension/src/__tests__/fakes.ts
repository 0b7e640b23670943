/** A fake server for the model tests: jobs in memory, sockets the test drives by hand. */
import {
  IEvent,
  IFilter,
  IJob,
  IJobList,
  IJobsService,
  IResult,
  ISocket
} from '../tokens';

let clock = 1_700_000_000;

export function job(fields: Partial<IJob> = {}): IJob {
  clock += 1;
  const id = fields.id ?? (clock.toString(16) + '0'.repeat(32)).slice(0, 32);
  return {
    id,
    owner: 'me',
    name: `fit-${id.slice(0, 4)}`,
    tags: [],
    fitter: 'lm',
    options: {},
    seed: 1,
    status: 'queued',
    attempt: 0,
    created: clock,
    ...fields
  };
}

let eventSeq = 0;

export function event(type: IEvent['type'], data: Record<string, any>): IEvent {
  eventSeq += 1;
  return { id: `${1_700_000_000_000 + eventSeq}-0`, type, data };
}

export class FakeSocket implements ISocket {
  constructor(public url: string) {}
  onopen: ((ev: any) => void) | null = null;
  onclose: ((ev: any) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  onmessage: ((ev: { data: any }) => void) | null = null;
  closed = false;

  open(): void {
    this.onopen?.({});
  }

  send(e: IEvent): void {
    this.onmessage?.({ data: JSON.stringify(e) });
  }

  /** The server went away. */
  drop(): void {
    this.closed = true;
    this.onclose?.({});
  }

  close(): void {
    if (!this.closed) {
      this.drop();
    }
  }
}

export class FakeService implements IJobsService {
  jobs = new Map<string, IJob>();
  down = false;
  sockets: FakeSocket[] = [];
  listCalls = 0;
  getCalls: string[] = [];

  add(...jobs: IJob[]): void {
    jobs.forEach(j => this.jobs.set(j.id, j));
  }

  async listJobs(filter: Partial<IFilter> = {}): Promise<IJobList> {
    this.listCalls += 1;
    if (this.down) {
      throw new Error('server down');
    }
    const jobs = [...this.jobs.values()]
      .filter(j => !filter.status || j.status === filter.status)
      .sort((a, b) => b.created - a.created);
    return { jobs, next_offset: null, total: jobs.length };
  }

  async getJob(id: string): Promise<IJob> {
    this.getCalls.push(id);
    const found = this.jobs.get(id);
    if (!found) {
      throw new Error('no such job');
    }
    return found;
  }

  async cancel(id: string): Promise<IJob> {
    const j = { ...(await this.getJob(id)), status: 'cancelled' as const };
    this.jobs.set(id, j);
    return j;
  }

  async retry(id: string): Promise<IJob> {
    const j = job({ name: (await this.getJob(id)).name, retry_of: id });
    this.jobs.set(j.id, j);
    return j;
  }

  async remove(id: string): Promise<void> {
    this.jobs.delete(id);
  }

  async result(id: string): Promise<IResult> {
    throw new Error('not used');
  }

  async info() {
    return { version: '0.1.0', mode: 'embedded' as const, workers: [] };
  }

  async sessionFile(id: string): Promise<Blob> {
    throw new Error('not used');
  }

  eventsUrl(since: string, jobId?: string): string {
    return `ws://test/${jobId ? `jobs/${jobId}/events` : 'events'}?since=${since}`;
  }

  socket = (url: string): FakeSocket => {
    const s = new FakeSocket(url);
    this.sockets.push(s);
    return s;
  };

  get last(): FakeSocket {
    return this.sockets[this.sockets.length - 1];
  }
}

/** Let pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
  }
}
