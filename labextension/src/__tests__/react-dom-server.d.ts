/** react-dom ships no types of its own and the project has no @types/react-dom: the one
 * function the view tests call. */
declare module 'react-dom/server' {
  import { ReactElement } from 'react';
  export function renderToStaticMarkup(element: ReactElement): string;
}
