/** Where a person opens the console: a wildcard address is shown as loopback, IPv6 in brackets. */
export function consoleUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}/`;
}
