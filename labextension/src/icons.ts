/** The sidebar's icon: a chi² curve settling into its minimum. */
import { LabIcon } from '@jupyterlab/ui-components';

const FITS_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 3h2v16h16v2H3z"/>
    <path d="M6.5 6.2c1.8 7.5 3.8 10.3 6.5 10.3s4.6-2.4 7-5l-1.4-1.4c-2.2 2.4-3.7 4.4-5.6 4.4-1.7 0-3.3-2-4.9-8.8z"/>
    <circle cx="13" cy="16.5" r="1.6"/>
  </g>
</svg>`;

export const fitsIcon = new LabIcon({
  name: 'jupyter-bumps-remote:fits',
  svgstr: FITS_SVG
});

/** A glyph per status, shown next to the word (the word carries the meaning). */
export const STATUS_GLYPH: Record<string, string> = {
  queued: '◷',
  running: '▶',
  succeeded: '✔',
  failed: '✖',
  cancelled: '■'
};
