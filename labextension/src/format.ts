/** How numbers, times and snippets read in the panel. */
import { IJob } from './tokens';

export function formatChisq(value: number | null | undefined): string {
  if (typeof value !== 'number' || !isFinite(value)) {
    return '–';
  }
  return value >= 1e4 || value < 1e-3
    ? value.toExponential(2)
    : value.toPrecision(4);
}

export function formatNumber(value: number | null | undefined): string {
  if (typeof value !== 'number' || !isFinite(value)) {
    return '–';
  }
  return Math.abs(value) >= 1e4 || (value !== 0 && Math.abs(value) < 1e-3)
    ? value.toExponential(4)
    : value.toPrecision(6);
}

/** A bound as short as it reads ([0, 3], not [0.00000, 3.00000]): the parameter table
 * must fit the sidebar's width. */
export function formatBound(value: number): string {
  if (!isFinite(value)) {
    return value > 0 ? '∞' : '−∞';
  }
  return formatNumber(value)
    .replace(/(\.\d*?)0+(e|$)/, '$1$2')
    .replace(/\.(e|$)/, '$1');
}

/** Seconds of work so far (running: until `now`), as 12 s / 3 min 20 s / 1 h 05 min. */
export function elapsedSeconds(job: IJob, now: number): number | null {
  if (!job.started) {
    return null;
  }
  const end = job.finished ?? now;
  return Math.max(0, end - job.started);
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null) {
    return '–';
  }
  if (seconds < 60) {
    return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  }
  const minutes = Math.round((seconds % 3600) / 60);
  return `${Math.floor(seconds / 3600)} h ${String(minutes).padStart(2, '0')} min`;
}

/** Fraction done, 0..1, or null when the fitter does not know its step count. */
export function progressFraction(job: IJob): number | null {
  if (job.status === 'succeeded') {
    return 1;
  }
  const p = job.progress;
  if (!p?.max_steps || p.step === undefined) {
    return null;
  }
  return Math.min(1, p.step / p.max_steps);
}

/** `get_job("<id>")`; the id quoted as a string literal, so that no record's id can
 * become code in the notebook the snippet goes into. */
export function snippet(job: IJob): string {
  return `get_job(${JSON.stringify(String(job.id))})`;
}

/** A cell that re-attaches to the job in any kernel. */
export function snippetCell(job: IJob): string {
  return `from jupyter_bumps_remote import get_job\njob = ${snippet(job)}\njob`;
}
