/** Does the server extension answer, with our version? If not, say what to do. */
import { ServerConnection } from '@jupyterlab/services';

import { IJobsService } from './tokens';
import { VERSION } from './version';

export interface IHandshake {
  ok: boolean;
  message: string;
}

const FIX = 'pip install --upgrade jupyter-bumps-remote';

export async function handshake(service: IJobsService): Promise<IHandshake> {
  try {
    const info = await service.info();
    if (info.version !== VERSION) {
      return {
        ok: false,
        message:
          `The server extension is version ${info.version}, this sidebar ${VERSION}. ` +
          `Install one version in the server's environment (${FIX}) and restart ` +
          'JupyterLab, then reload this page.'
      };
    }
    return { ok: true, message: '' };
  } catch (error) {
    const status =
      error instanceof ServerConnection.ResponseError
        ? error.response.status
        : 0;
    if (status === 404) {
      return {
        ok: false,
        message:
          'The jupyter-bumps-remote server extension is not running. Install it in the ' +
          `environment of the Jupyter server (${FIX}), check that ` +
          '"jupyter server extension list" shows jupyter_bumps_remote enabled, and restart ' +
          'JupyterLab.'
      };
    }
    if (status === 503) {
      // the extension is there; the job store is not (yet): the list says "disconnected"
      return { ok: true, message: '' };
    }
    return {
      ok: false,
      message: `The server extension did not answer: ${(error as Error).message}`
    };
  }
}
