/** The version of this labextension; the server's GET info must match it. */
export const VERSION = '0.1.0';
