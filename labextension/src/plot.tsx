/** The convergence plot: best chi² per step, and the population's spread when it has one. */
import * as React from 'react';

import { IConvergence, logScale } from './convergence';
import { formatChisq } from './format';

const W = 260;
const H = 140;

function path(xs: number[], ys: number[]): string {
  return xs
    .map((x, i) => `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${ys[i].toFixed(1)}`)
    .join('');
}

function band(
  conv: IConvergence,
  scale: NonNullable<ReturnType<typeof logScale>>,
  lo: number,
  hi: number
): string {
  const offset = conv.best.length - conv.band.length;
  const xs = conv.band.map((_, i) => scale.x(i + offset));
  const top = conv.band.map(r => scale.y(r[hi]));
  const bottom = conv.band.map(r => scale.y(r[lo]));
  return (
    path(xs, top) +
    path([...xs].reverse(), [...bottom].reverse()).replace(/^M/, 'L') +
    'Z'
  );
}

export function ConvergencePlot(props: { conv: IConvergence }): JSX.Element {
  const { conv } = props;
  const scale = logScale(conv, W, H);
  const last = conv.best[conv.best.length - 1];
  const label = scale
    ? `Convergence plot: ${conv.best.length} steps, best χ² ${formatChisq(last)}`
    : 'Convergence plot: no steps yet';
  return (
    <figure className="jp-BumpsRemote-plot">
      <svg role="img" aria-label={label} viewBox={`-34 -4 ${W + 40} ${H + 20}`}>
        {scale && (
          <>
            {scale.yTicks.map(t => (
              <g key={t} className="jp-BumpsRemote-tick">
                <line x1={0} x2={W} y1={scale.y(t)} y2={scale.y(t)} />
                <text x={-4} y={scale.y(t) + 3}>
                  {t.toExponential(0)}
                </text>
              </g>
            ))}
            {conv.band.length > 0 && (
              <>
                <path
                  className="jp-BumpsRemote-bandOuter"
                  d={band(conv, scale, 0, 4)}
                />
                <path
                  className="jp-BumpsRemote-bandInner"
                  d={band(conv, scale, 1, 3)}
                />
              </>
            )}
            <path
              className="jp-BumpsRemote-best"
              d={path(
                conv.best.map((_, i) => scale.x(i)),
                conv.best.map(v => scale.y(v))
              )}
            />
          </>
        )}
        <line className="jp-BumpsRemote-axis" x1={0} x2={W} y1={H} y2={H} />
        <line className="jp-BumpsRemote-axis" x1={0} x2={0} y1={0} y2={H} />
      </svg>
      <figcaption>
        χ² per step (log scale)
        {conv.band.length > 0 && '; band: population 20–80 % and min–max'}
      </figcaption>
    </figure>
  );
}
