import { isIP } from 'node:net';

/** `host:port,host:port` (Redis sentinels and cluster nodes); each bad entry is a problem. */
export function parseHostList(value: string | undefined, variable: string, problems: string[]) {
  if (value === undefined) return undefined;
  return value.split(',').map((entry) => {
    const [host, port] = entry.trim().split(':');
    const portNumber = Number(port ?? '');
    if (!host || !Number.isInteger(portNumber) || portNumber <= 0 || portNumber > 65535) {
      problems.push(`${variable}: "${entry.trim()}" is not host:port`);
    }
    return { host: host ?? '', port: portNumber };
  });
}

const PROXY_ADDRESS_KEYWORDS = ['loopback', 'linklocal', 'uniquelocal'];

/** `TRUST_PROXY`: comma-separated IP addresses, CIDRs or proxy-addr's keywords. */
export function parseTrustedProxies(value: string | undefined, problems: string[]): string[] {
  if (value === undefined) return [];
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const entry of entries) {
    if (PROXY_ADDRESS_KEYWORDS.includes(entry)) continue;
    const [address = '', bits, extra] = entry.split('/');
    const family = isIP(address);
    const maxBits = family === 6 ? 128 : 32;
    const validBits =
      bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) >= 0 && Number(bits) <= maxBits);
    if (family === 0 || !validBits || extra !== undefined) {
      problems.push(
        `TRUST_PROXY: "${entry}" is not an IP address, a CIDR (10.0.0.0/8) or one of ${PROXY_ADDRESS_KEYWORDS.join(', ')}`,
      );
    }
  }
  return entries;
}
