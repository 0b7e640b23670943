/** The "Bumps fits" sidebar: renders the model's job list, or one job's detail. */
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IJobActions } from './actions';
import { JobDetail } from './detail';
import { JobDetailModel } from './detailModel';
import { IHandshake } from './handshake';
import { fitsIcon } from './icons';
import { JobRow } from './jobRow';
import { JobsModel } from './model';
import { IJob, IJobsService, STATUSES, Status } from './tokens';

function useNow(active: boolean): number {
  const [now, setNow] = React.useState(Date.now() / 1000);
  React.useEffect(() => {
    if (!active) {
      return;
    }
    const timer = setInterval(() => setNow(Date.now() / 1000), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return active ? now : Date.now() / 1000;
}

function Filters(props: { model: JobsModel }): JSX.Element {
  const { model } = props;
  return (
    <div className="jp-BumpsRemote-filters">
      <select
        aria-label="Filter by status"
        value={model.filter.status}
        onChange={e =>
          (model.filter = { ...model.filter, status: e.target.value as Status })
        }
      >
        <option value="">all statuses</option>
        {STATUSES.map(s => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </select>
      <input
        aria-label="Filter by tag"
        placeholder="tag"
        list="jp-BumpsRemote-tags"
        value={model.filter.tag}
        onChange={e =>
          (model.filter = { ...model.filter, tag: e.target.value.trim() })
        }
      />
      <datalist id="jp-BumpsRemote-tags">
        {model.tags.map(t => (
          <option key={t} value={t} />
        ))}
      </datalist>
    </div>
  );
}

function JobList(props: {
  model: JobsModel;
  actions: IJobActions;
  onOpen(job: IJob): void;
}): JSX.Element {
  const { model, actions } = props;
  const jobs = model.jobs;
  const now = useNow(jobs.some(j => j.status === 'running'));
  const act = (what: string, run: () => Promise<unknown>) =>
    run().catch(e => actions.report(what, e));
  if (!jobs.length) {
    return (
      <p className="jp-BumpsRemote-empty">
        {model.filter.status || model.filter.tag
          ? 'No job matches the filter.'
          : 'No fits yet. In a notebook: %load_ext jupyter_bumps_remote, then ' +
            '%bumps_remote problem --fitter dream'}
      </p>
    );
  }
  return (
    <ul className="jp-BumpsRemote-list" aria-label="Fits">
      {jobs.map(job => (
        <JobRow
          key={job.id}
          job={job}
          now={now}
          actions={actions}
          onOpen={props.onOpen}
          onCancel={j => act('Cancel', () => model.cancel(j.id))}
          onRetry={j => act('Retry', () => model.retry(j.id))}
          onDelete={j => act('Delete', () => model.remove(j.id))}
        />
      ))}
    </ul>
  );
}

export class JobsPanel extends ReactWidget {
  constructor(options: JobsPanel.IOptions) {
    super();
    this._model = options.model;
    this._service = options.service;
    this._actions = options.actions;
    this.id = 'jp-bumps-remote-jobs';
    this.addClass('jp-BumpsRemote-panel');
    this.title.icon = fitsIcon;
    this.title.caption = 'Bumps fits';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Bumps fits');
  }

  get model(): JobsModel {
    return this._model;
  }

  set handshake(value: IHandshake) {
    this._handshake = value;
    this.update();
  }

  /** Show one job's detail (from a row, or a notification's "Show"). */
  open(job: IJob): void {
    this._detail?.dispose();
    this._detail = new JobDetailModel({ service: this._service, job });
    void this._detail.start();
    this.update();
  }

  closeDetail(): void {
    this._detail?.dispose();
    this._detail = null;
    this.update();
  }

  dispose(): void {
    this._detail?.dispose();
    super.dispose();
  }

  render(): JSX.Element {
    const detail = this._detail;
    return (
      <div className="jp-BumpsRemote-body">
        <header className="jp-BumpsRemote-header">
          <h2>Bumps fits</h2>
          <UseSignal signal={this._model.connectionChanged}>
            {() => (
              <span
                role="status"
                className={`jp-BumpsRemote-connection jp-mod-${this._model.connection}`}
                title={this._model.lastError}
              >
                {this._model.connection}
              </span>
            )}
          </UseSignal>
        </header>
        {!this._handshake.ok && (
          <div className="jp-BumpsRemote-warning" role="alert">
            {this._handshake.message}
          </div>
        )}
        {/* keys: a UseSignal reused for another signal would keep listening to the first */}
        {detail ? (
          <UseSignal key={`detail-${detail.job.id}`} signal={detail.changed}>
            {() => (
              <JobDetail model={detail} onBack={() => this.closeDetail()} />
            )}
          </UseSignal>
        ) : (
          <UseSignal key="list" signal={this._model.changed}>
            {() => (
              <>
                <Filters model={this._model} />
                <JobList
                  model={this._model}
                  actions={this._actions}
                  onOpen={job => this.open(job)}
                />
              </>
            )}
          </UseSignal>
        )}
      </div>
    );
  }

  private _model: JobsModel;
  private _service: IJobsService;
  private _actions: IJobActions;
  private _detail: JobDetailModel | null = null;
  private _handshake: IHandshake = { ok: true, message: '' };
}

export namespace JobsPanel {
  export interface IOptions {
    model: JobsModel;
    service: IJobsService;
    actions: IJobActions;
  }
}
