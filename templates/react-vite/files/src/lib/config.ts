/**
 * The backend's base URL, fixed at build time from VITE_API_URL. Empty (the
 * default) means this page's own origin: the Vite dev server and the
 * container's nginx both forward /hello and /ws to the backend.
 */
export function apiBaseUrl(): string {
  const configured: unknown = import.meta.env.VITE_API_URL;
  return (typeof configured === 'string' ? configured : '').replace(/\/+$/, '');
}

/** ws(s):// URL of the backend's event stream. */
export function eventStreamUrl(base: string = apiBaseUrl(), location: Location = window.location): string {
  if (base === '') {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/ws/events`;
  }
  return `${base.replace(/^http/, 'ws')}/ws/events`;
}
