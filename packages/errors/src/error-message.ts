/** Message of any thrown value; Node's AggregateError (IPv4 + IPv6 connect failures) has an empty one. */
export function errorMessage(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') {
    return error.errors.map(errorMessage).join('; ');
  }
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
