/**
 * Convergence series from a job's progress events: each event carries the rows since the
 * previous one, a row being [best, min, 20%, 50%, 80%, max] of the population in chi²
 * (population fitters: de, dream, ...) or [best] (amoeba, lm, newton).
 */
import { IEvent } from './tokens';

export interface IConvergence {
  best: number[];
  /** [min, 20%, 50%, 80%, max] per step, present when the fitter has a population. */
  band: number[][];
}

export function emptyConvergence(): IConvergence {
  return { best: [], band: [] };
}

/** Append one event's rows (other events leave the series as they are). */
export function addRows(conv: IConvergence, event: IEvent): IConvergence {
  const rows: (number | null)[][] | undefined = event.data?.rows;
  if (event.type !== 'progress' || !rows?.length) {
    return conv;
  }
  const best = [...conv.best];
  const band = [...conv.band];
  for (const row of rows) {
    best.push(finite(row[0]));
    if (row.length >= 6) {
      band.push(row.slice(1, 6).map(finite));
    }
  }
  return { best, band };
}

function finite(value: number | null | undefined): number {
  return typeof value === 'number' && isFinite(value) ? value : NaN;
}

/** Points of a log-scaled plot: chi² spans decades while a fit converges. */
export interface IScale {
  x(step: number): number;
  y(chisq: number): number;
  yTicks: number[];
}

export function logScale(
  conv: IConvergence,
  width: number,
  height: number
): IScale | null {
  const values = [...conv.best, ...conv.band.flat()].filter(v => v > 0);
  const steps = Math.max(conv.best.length - 1, 1);
  if (!values.length) {
    return null;
  }
  let lo = Math.log10(Math.min(...values));
  let hi = Math.log10(Math.max(...values));
  if (hi - lo < 1e-9) {
    lo -= 0.5;
    hi += 0.5;
  }
  const yTicks: number[] = [];
  for (let p = Math.ceil(lo); p <= Math.floor(hi); p++) {
    yTicks.push(10 ** p);
  }
  return {
    x: step => (step / steps) * width,
    y: chisq =>
      height -
      ((Math.log10(Math.max(chisq, 10 ** lo)) - lo) / (hi - lo)) * height,
    yTicks
  };
}
