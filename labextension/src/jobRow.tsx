/** One job in the list: what it is, how far it got, and what can be done with it. */
import * as React from 'react';

import { IJobActions } from './actions';
import {
  elapsedSeconds,
  formatChisq,
  formatDuration,
  progressFraction,
  snippet
} from './format';
import { STATUS_GLYPH } from './icons';
import { isTerminal } from './merge';
import { IJob, STATUSES } from './tokens';

export interface IJobRowProps {
  job: IJob;
  now: number;
  actions: IJobActions;
  onOpen(job: IJob): void;
  onCancel(job: IJob): void;
  onRetry(job: IJob): void;
  onDelete(job: IJob): void;
}

export function StatusBadge(props: { job: IJob }): JSX.Element {
  const { status, cancel_requested } = props.job;
  // a status the sidebar does not know is shown as text, never as a class or a lookup key
  const known = STATUSES.includes(status);
  const word =
    cancel_requested && known && !isTerminal(status)
      ? 'cancelling'
      : String(status);
  return (
    <span
      className={`jp-BumpsRemote-status jp-BumpsRemote-status-${known ? status : 'unknown'}`}
    >
      <span aria-hidden="true">{known ? STATUS_GLYPH[status] : '?'}</span>{' '}
      {word}
    </span>
  );
}

export function ProgressBar(props: { job: IJob }): JSX.Element {
  const fraction = progressFraction(props.job);
  const p = props.job.progress;
  const text =
    p?.step !== undefined && p.max_steps
      ? `step ${p.step} of ${p.max_steps}`
      : props.job.status;
  return (
    <progress
      className="jp-BumpsRemote-progress"
      aria-label={`Progress of ${props.job.name || props.job.id}`}
      aria-valuetext={text}
      max={1}
      value={fraction ?? undefined}
    />
  );
}

export function JobRow(props: IJobRowProps): JSX.Element {
  const { job, now, actions } = props;
  const label = job.name || job.id.slice(0, 8);
  const active = !isTerminal(job.status);
  return (
    <li
      className="jp-BumpsRemote-row"
      aria-label={label}
      data-status={job.status}
      data-job-id={job.id}
    >
      <div className="jp-BumpsRemote-rowHead">
        <button
          className="jp-BumpsRemote-name"
          title={`Show details of ${label}`}
          onClick={() => props.onOpen(job)}
        >
          {label}
        </button>
        <StatusBadge job={job} />
      </div>
      <ProgressBar job={job} />
      <div className="jp-BumpsRemote-facts">
        <span title="fitter">{job.fitter}</span>
        <span title="best χ²">χ² {formatChisq(job.progress?.chisq)}</span>
        <span title="elapsed">{formatDuration(elapsedSeconds(job, now))}</span>
        {job.worker && <span title="worker">{job.worker}</span>}
      </div>
      <div className="jp-BumpsRemote-actions">
        {active && (
          <button
            className="jp-mod-styled jp-mod-warn"
            disabled={!!job.cancel_requested}
            onClick={() => props.onCancel(job)}
          >
            Cancel
          </button>
        )}
        {!active && (
          <>
            <button
              className="jp-mod-styled"
              onClick={() => props.onRetry(job)}
            >
              Retry
            </button>
            <button
              className="jp-mod-styled"
              onClick={() => props.onDelete(job)}
            >
              Delete
            </button>
          </>
        )}
        {job.has_result && (
          <button
            className="jp-mod-styled"
            aria-label="Download session file"
            title="Download the bumps session file (.h5)"
            onClick={() =>
              actions.download(job).catch(e => actions.report('Download', e))
            }
          >
            Download
          </button>
        )}
        <button
          className="jp-mod-styled"
          aria-label="Copy snippet"
          title={`Copy ${snippet(job)}`}
          onClick={() => actions.copySnippet(job)}
        >
          Copy
        </button>
        <button
          className="jp-mod-styled"
          aria-label="Insert snippet"
          title={`Insert ${snippet(job)} into the active notebook`}
          onClick={() => actions.insertSnippet(job)}
        >
          Insert
        </button>
      </div>
    </li>
  );
}
