/**
 * Public interfaces of the sidebar, named like the server's models (openapi.yaml), and the
 * token other extensions can require to read the live job list.
 */
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

export type Status =
  'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const STATUSES: Status[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled'
];

export const TERMINAL: ReadonlySet<Status> = new Set<Status>([
  'succeeded',
  'failed',
  'cancelled'
]);

/** How the problem travelled (docs/transport.md). */
export type Encoding =
  'bumps-serialize+zlib+base64' | 'cloudpickle+zlib+base64';

/** The session file: a DREAM fit's process writes it just after the terminal status;
 * any other fit's is built by a worker when GET session.h5 first asks for it. */
export type SessionState =
  'writing' | 'ready' | 'failed' | 'deferred' | 'building';

export interface IEnvironment {
  python: string;
  bumps: string;
  numpy?: string;
  /** Model library (refl1d, sasmodels) to its version. */
  libraries?: Record<string, string>;
}

export interface IParameter {
  name: string;
  value: number | null;
  bounds: [number | null, number | null];
}

export interface IProgress {
  job?: string;
  step?: number;
  max_steps?: number;
  chisq?: number | null;
  elapsed?: number;
  final?: boolean;
  resumed_from?: number | null;
}

export interface IJobError {
  type: string;
  message: string;
  traceback?: string;
}

export interface IJob {
  id: string;
  owner: string;
  name: string;
  tags: string[];
  fitter: string;
  options: Record<string, unknown>;
  seed: number;
  status: Status;
  attempt: number;
  max_attempts?: number;
  created: number;
  started?: number;
  finished?: number;
  worker?: string;
  queue?: string;
  environment?: IEnvironment;
  parameters?: IParameter[];
  payload_size?: number;
  encoding?: Encoding;
  progress?: IProgress;
  error?: IJobError;
  reason?: string;
  waiting_reason?: string;
  cancel_requested?: boolean;
  has_result?: boolean;
  partial?: boolean;
  session?: SessionState;
  session_error?: string;
  build_started?: number;
  session_builds?: number;
  retry_of?: string;
  resume_of?: string;
  checkpointed?: number;
  drained?: number;
}

export interface IJobList {
  jobs: IJob[];
  next_offset: number | null;
  total: number;
}

export interface IResult {
  x: (number | null)[];
  dx: (number | null)[] | null;
  chisq: number | null;
  labels: string[];
  stderr?: (number | null)[] | null;
  convergence: (number | null)[][];
  nit: number;
  method: string;
  options: Record<string, unknown>;
  seed: number;
  partial: boolean;
  elapsed?: number;
}

export interface IInfo {
  version: string;
  mode: 'embedded' | 'shared';
  environment?: IEnvironment;
  workers: unknown[];
}

/**
 * One WebSocket message: `id` is the Redis stream id. An `output` event (job streams only)
 * carries `{stream: 'stdout' | 'stderr', text, seq}`; the last one of a job whose output
 * reached the worker's cap carries `{stream: 'stderr', text: '', truncated: true}`.
 */
export interface IEvent {
  id: string;
  type: 'status' | 'progress' | 'cancel' | 'output';
  data: Record<string, any>;
}

export type OutputStream = 'stdout' | 'stderr';

/** A run of one stream's text, in the order the fit wrote it. */
export interface IOutputChunk {
  stream: OutputStream;
  text: string;
}

/** What a fit printed so far: its chunks, and whether the worker cut the rest off. */
export interface IOutput {
  chunks: IOutputChunk[];
  truncated: boolean;
}

export interface IFilter {
  status: Status | '';
  tag: string;
}

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

/** What the model needs from the server; `JobsService` talks HTTP, the tests fake it. */
export interface IJobsService {
  listJobs(filter?: Partial<IFilter>): Promise<IJobList>;
  getJob(id: string): Promise<IJob>;
  cancel(id: string): Promise<IJob>;
  retry(id: string): Promise<IJob>;
  remove(id: string): Promise<void>;
  result(id: string): Promise<IResult>;
  info(): Promise<IInfo>;
  sessionFile(id: string): Promise<Blob>;
  /** WebSocket URL of the user's events (`jobId` undefined) or of one job's events. */
  eventsUrl(since: string, jobId?: string): string;
}

/** The part of a WebSocket the models use, so that tests can hand in a fake. */
export interface ISocket {
  onopen: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  close(): void;
}

export type SocketFactory = (url: string) => ISocket;

/** The live job list (see model.ts). */
export interface IJobsModel {
  readonly jobs: IJob[];
  readonly filter: IFilter;
  readonly connection: ConnectionState;
  readonly changed: ISignal<IJobsModel, void>;
  readonly finished: ISignal<IJobsModel, IJob>;
  get(id: string): IJob | undefined;
}

export const IJobsModel = new Token<IJobsModel>(
  'jupyter-bumps-remote:IJobsModel',
  "The user's remote bumps jobs, kept live from the server's events."
);
