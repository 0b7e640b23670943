/** What a fit printed, in the detail view: stdout and stderr as they came, stderr marked. */
import * as React from 'react';

import { hasOutput } from './output';
import { IOutput } from './tokens';

export const TRUNCATED_NOTE =
  "Output cut off here: it reached the worker's limit of captured output per job.";

export function OutputView(props: { output: IOutput }): JSX.Element | null {
  const { output } = props;
  if (!hasOutput(output)) {
    return null;
  }
  return (
    <section className="jp-BumpsRemote-output" aria-label="Output">
      <h4>Output</h4>
      {output.chunks.length > 0 && (
        <pre tabIndex={0}>
          {output.chunks.map((chunk, i) => (
            <span
              key={i}
              data-stream={chunk.stream}
              className={
                chunk.stream === 'stderr' ? 'jp-BumpsRemote-stderr' : undefined
              }
            >
              {chunk.text}
            </span>
          ))}
        </pre>
      )}
      {output.truncated && (
        <p className="jp-BumpsRemote-warning">{TRUNCATED_NOTE}</p>
      )}
    </section>
  );
}
