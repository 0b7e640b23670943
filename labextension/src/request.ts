/** The one way the sidebar calls the server extension's REST API. */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const API_PATH = 'bumps-remote/api';

/**
 * Call `bumps-remote/api/{endPoint}` with the server's credentials; parse JSON (or return a
 * Blob when `as` is 'blob'). A non-2xx answer throws `ServerConnection.ResponseError` carrying
 * the server's `message`.
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings(),
  as: 'json' | 'blob' = 'json'
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_PATH, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  if (!response.ok) {
    let message = response.statusText;
    try {
      message = (await response.json()).message || message;
    } catch {
      // not JSON (a proxy's error page): keep the status text
    }
    throw new ServerConnection.ResponseError(response, message);
  }
  if (response.status === 204) {
    return undefined as T;
  }
  return (as === 'blob' ? await response.blob() : await response.json()) as T;
}
