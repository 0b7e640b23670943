/** The detail view of one job: plot, parameters, options, environment, error, output. */
import * as React from 'react';

import { JobDetailModel } from './detailModel';
import { formatBound, formatChisq, formatNumber } from './format';
import { ProgressBar, StatusBadge } from './jobRow';
import { OutputView } from './outputView';
import { ConvergencePlot } from './plot';
import { IJob, IResult } from './tokens';

function ParameterTable(props: {
  job: IJob;
  result: IResult | null;
}): JSX.Element {
  const { job, result } = props;
  const params = job.parameters ?? [];
  const names = result?.labels ?? params.map(p => p.name);
  return (
    <table className="jp-BumpsRemote-params" aria-label="Parameters">
      <thead>
        <tr>
          <th scope="col">parameter</th>
          <th scope="col">value ± uncertainty</th>
          <th scope="col">bounds</th>
        </tr>
      </thead>
      <tbody>
        {names.map((name, i) => {
          const p = params.find(q => q.name === name) ?? params[i];
          const value = result ? result.x[i] : p?.value;
          const dx = result?.dx?.[i];
          return (
            <tr key={name}>
              <th scope="row">{name}</th>
              <td>
                {formatNumber(value)}
                {typeof dx === 'number' && ` ± ${formatNumber(dx)}`}
              </td>
              <td>
                {p
                  ? `[${formatBound(p.bounds[0] ?? -Infinity)}, ${formatBound(
                      p.bounds[1] ?? Infinity
                    )}]`
                  : '–'}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Facts(props: { rows: [string, React.ReactNode][] }): JSX.Element {
  return (
    <dl className="jp-BumpsRemote-dl">
      {props.rows.map(([k, v]) => (
        <React.Fragment key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </React.Fragment>
      ))}
    </dl>
  );
}

export function JobDetail(props: {
  model: JobDetailModel;
  onBack(): void;
}): JSX.Element {
  const { job, result, convergence, output, error } = props.model;
  const env = job.environment;
  return (
    <section
      className="jp-BumpsRemote-detail"
      aria-label={`Job ${job.name || job.id}`}
    >
      <div className="jp-BumpsRemote-rowHead">
        <button className="jp-mod-styled" onClick={props.onBack}>
          Back
        </button>
        <h3>{job.name || job.id.slice(0, 8)}</h3>
        <StatusBadge job={job} />
      </div>
      <ProgressBar job={job} />
      <p>
        χ² {formatChisq(result?.chisq ?? job.progress?.chisq)}
        {result?.partial && ' (partial: best point before the fit stopped)'}
      </p>
      <ConvergencePlot conv={convergence} />
      <h4>Parameters</h4>
      <ParameterTable job={job} result={result} />
      <h4>Options</h4>
      <Facts
        rows={[
          ['fitter', job.fitter],
          ['seed', String(job.seed)],
          ...Object.entries(job.options).map(
            ([k, v]) => [k, JSON.stringify(v)] as [string, string]
          )
        ]}
      />
      <h4>Environment</h4>
      <Facts
        rows={[
          ['worker', job.worker ?? '–'],
          ['python', env?.python ?? '–'],
          ['bumps', env?.bumps ?? '–'],
          ['numpy', env?.numpy ?? '–'],
          ['job id', job.id]
        ]}
      />
      {job.waiting_reason && <p role="status">{job.waiting_reason}</p>}
      {job.error && (
        <div className="jp-BumpsRemote-error" role="alert">
          <h4>
            {String(job.error.type)}: {String(job.error.message)}
          </h4>
          {job.error.traceback && <pre>{String(job.error.traceback)}</pre>}
        </div>
      )}
      <OutputView output={output} />
      {error && <p className="jp-BumpsRemote-warning">{error}</p>}
    </section>
  );
}
