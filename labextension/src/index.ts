/** The plugin: wires the service, model, panel, notifications and settings together. */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { JobActions } from './actions';
import { handshake } from './handshake';
import { JobsModel } from './model';
import { notifyFinished } from './notify';
import { JobsPanel } from './panel';
import { JobsService } from './service';
import { IJobsModel } from './tokens';

const PLUGIN_ID = 'jupyter-bumps-remote:plugin';

const plugin: JupyterFrontEndPlugin<IJobsModel> = {
  id: PLUGIN_ID,
  description: 'A sidebar listing your remote bumps fits, live.',
  autoStart: true,
  provides: IJobsModel,
  optional: [ILayoutRestorer, ISettingRegistry, INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    notebooks: INotebookTracker | null
  ): IJobsModel => {
    const service = new JobsService({
      settings: app.serviceManager.serverSettings
    });
    const model = new JobsModel({ service });
    const panel = new JobsPanel({
      model,
      service,
      actions: new JobActions(service, notebooks)
    });
    app.shell.add(panel, 'left', { rank: 600 });
    restorer?.add(panel, panel.id);

    let notify = true;
    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const read = () => {
            notify = settings.get('notifications').composite as boolean;
          };
          read();
          settings.changed.connect(read);
        })
        .catch(reason =>
          console.error('jupyter-bumps-remote settings:', reason)
        );
    }
    model.finished.connect((_, job) => {
      if (notify) {
        notifyFinished(job, j => {
          app.shell.activateById(panel.id);
          panel.open(j);
        });
      }
    });

    void handshake(service).then(result => (panel.handshake = result));
    void model.start();
    return model;
  }
};

export default plugin;
