/** A JupyterLab notification when one of the user's jobs ends (a setting turns them off). */
import { Notification } from '@jupyterlab/apputils';

import { formatChisq } from './format';
import { IJob } from './tokens';

export function notifyFinished(job: IJob, open: (job: IJob) => void): void {
  const label = job.name || job.id.slice(0, 8);
  const actions = [{ label: 'Show', callback: () => open(job) }];
  if (job.status === 'succeeded') {
    Notification.success(
      `Fit "${label}" succeeded: χ² ${formatChisq(job.progress?.chisq)}`,
      { autoClose: 8000, actions }
    );
  } else if (job.status === 'failed') {
    Notification.error(
      `Fit "${label}" failed: ${job.error?.message ?? job.reason ?? 'no reason given'}`,
      { autoClose: false, actions }
    );
  } else {
    Notification.info(`Fit "${label}" cancelled`, { autoClose: 5000, actions });
  }
}
