/** Render a React element to the DOM as the browser would build it from React's markup. */
import { ReactElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

export function render(element: ReactElement): HTMLElement {
  const container = document.createElement('div');
  container.innerHTML = renderToStaticMarkup(element);
  return container;
}
