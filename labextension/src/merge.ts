/**
 * Pure rules for folding job records and events into the list. Status only moves forward
 * (queued < running < finished; a finished job never changes), and progress only moves to a
 * later step, so a stale REST snapshot or a replayed event can never undo a newer state.
 */
import { IEvent, IJob, IProgress, Status, TERMINAL } from './tokens';

const RANK: Record<Status, number> = {
  queued: 0,
  running: 1,
  succeeded: 2,
  failed: 2,
  cancelled: 2
};

export function isTerminal(status: Status): boolean {
  return TERMINAL.has(status);
}

/** The later of two progress summaries (more steps, or the final one). */
export function laterProgress(
  a: IProgress | undefined,
  b: IProgress | undefined
): IProgress | undefined {
  if (!a || !b) {
    return a ?? b;
  }
  if (a.final && !b.final) {
    return a;
  }
  if (b.final && !a.final) {
    return b;
  }
  return (b.step ?? 0) >= (a.step ?? 0) ? b : a;
}

/** A record from REST merged over what we know: never back to an earlier status. */
export function mergeRecord(old: IJob | undefined, record: IJob): IJob {
  if (!old) {
    return record;
  }
  const progress = laterProgress(old.progress, record.progress);
  if (RANK[old.status] > RANK[record.status]) {
    return {
      ...record,
      status: old.status,
      started: old.started ?? record.started,
      finished: old.finished,
      worker: old.worker ?? record.worker,
      error: old.error,
      reason: old.reason,
      has_result: old.has_result,
      progress
    };
  }
  return { ...record, progress };
}

/** The job after one event of the owner or job stream (the same object if nothing changed). */
export function applyEvent(job: IJob, event: IEvent): IJob {
  const data = event.data;
  switch (event.type) {
    case 'status': {
      const status = data.status as Status;
      // own keys only: a status such as 'constructor' is no status
      if (
        !Object.prototype.hasOwnProperty.call(RANK, status) ||
        RANK[status] <= RANK[job.status]
      ) {
        return job;
      }
      const next: IJob = { ...job, status };
      if (status === 'running') {
        next.started = data.time ?? job.started;
        next.worker = data.worker ?? job.worker;
      } else if (isTerminal(status)) {
        next.finished = data.time ?? job.finished;
        next.error = data.error ?? job.error;
        next.reason = data.reason ?? job.reason;
        if (typeof data.chisq === 'number') {
          next.progress = { ...job.progress, chisq: data.chisq };
        }
      }
      return next;
    }
    case 'progress': {
      const progress = laterProgress(job.progress, data as IProgress);
      if (progress === job.progress) {
        return job;
      }
      // a progress event means the fit runs, even if we missed its status event
      const status = job.status === 'queued' ? 'running' : job.status;
      return { ...job, status, progress };
    }
    case 'cancel':
      return job.cancel_requested || isTerminal(job.status)
        ? job
        : { ...job, cancel_requested: true };
    default:
      return job;
  }
}

/** Newest first (creation time, then id for a stable order). */
export function newestFirst(a: IJob, b: IJob): number {
  return b.created - a.created || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** The stream id to resume from after a snapshot: just before the latest time it shows. */
export function sinceSnapshot(jobs: IJob[], marginSeconds = 2): string {
  let latest = 0;
  for (const job of jobs) {
    latest = Math.max(latest, job.created, job.started ?? 0, job.finished ?? 0);
  }
  if (latest === 0) {
    return '0';
  }
  return `${Math.max(0, Math.floor((latest - marginSeconds) * 1000))}-0`;
}
