/**
 * A fit's captured output from its `output` events: the text of stdout and stderr in the
 * order it arrived, a run of one stream kept as one chunk, so that stderr stays apart.
 */
import { IEvent, IOutput } from './tokens';

export function emptyOutput(): IOutput {
  return { chunks: [], truncated: false };
}

/** Whether there is anything to show (a job that printed nothing shows no box). */
export function hasOutput(output: IOutput): boolean {
  return output.chunks.length > 0 || output.truncated;
}

/** The output after one event (the same object for any other event). */
export function addOutput(output: IOutput, event: IEvent): IOutput {
  if (event.type !== 'output') {
    return output;
  }
  const data = event.data ?? {};
  const truncated = output.truncated || data.truncated === true;
  const text = typeof data.text === 'string' ? data.text : '';
  if (!text) {
    return truncated === output.truncated ? output : { ...output, truncated };
  }
  // anything but stdout is shown as stderr: a stream we do not know is no less suspect
  const stream = data.stream === 'stdout' ? 'stdout' : 'stderr';
  const chunks = [...output.chunks];
  const last = chunks[chunks.length - 1];
  if (last?.stream === stream) {
    chunks[chunks.length - 1] = { stream, text: last.text + text };
  } else {
    chunks.push({ stream, text });
  }
  return { chunks, truncated };
}

/** All the text, both streams, as it arrived. */
export function outputText(output: IOutput): string {
  return output.chunks.map(c => c.text).join('');
}
