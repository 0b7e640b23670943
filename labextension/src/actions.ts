/** What a row's buttons do outside the model: clipboard, notebook, download. */
import { Clipboard, Notification } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';

import { snippet, snippetCell } from './format';
import { IJob, IJobsService } from './tokens';

export interface IJobActions {
  copySnippet(job: IJob): void;
  insertSnippet(job: IJob): void;
  download(job: IJob): Promise<void>;
  /** Show an error of any action to the user. */
  report(what: string, error: unknown): void;
}

export class JobActions implements IJobActions {
  constructor(
    private _service: IJobsService,
    private _notebooks: INotebookTracker | null
  ) {}

  copySnippet(job: IJob): void {
    Clipboard.copyToSystem(snippet(job));
    Notification.info(`Copied ${snippet(job)}`, { autoClose: 3000 });
  }

  insertSnippet(job: IJob): void {
    const panel = this._notebooks?.currentWidget;
    if (!panel) {
      Notification.warning('Open a notebook to insert the snippet into.', {
        autoClose: 5000
      });
      return;
    }
    const notebook = panel.content;
    NotebookActions.insertBelow(notebook);
    const cell = notebook.activeCell;
    if (cell) {
      cell.model.sharedModel.setSource(snippetCell(job));
    }
  }

  async download(job: IJob): Promise<void> {
    const blob = await this._service.sessionFile(job.id);
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = `${safeName(job.name || job.id)}.session.h5`;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  report(what: string, error: unknown): void {
    const message = (error as Error)?.message ?? String(error);
    Notification.error(`${what}: ${message}`, { autoClose: 8000 });
  }
}

function safeName(name: string): string {
  return name.replace(/[^\w.-]+/g, '_').slice(0, 80) || 'bumps-fit';
}
